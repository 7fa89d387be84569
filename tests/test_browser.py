"""JupyterLab in a real browser, as a user meets it: Lab started as `make lab` starts it (notebooks/lab.sh, a free
port, a token), Debian's Chromium driven through its chromedriver (Selenium). run.ipynb, set to a small
configuration, is run cell by cell from Lab's Run menu: while it trains, the epoch's progress bar and the learning
curves of the finished epochs show; at the end, the history table. Then explore.ipynb draws its figures.

Without a browser the test skips and says what to install; under CI=true it fails instead (.ci/run installs
chromium and chromium-driver). ALEXLIB_SCREENSHOTS=<folder> keeps the screenshots it takes."""
import contextlib
import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from alexlib.paths import EXPLORE_NOTEBOOK, RUN_NOTEBOOK

from conftest import REPO, lab_server

INSTALL = ("apt-get install chromium chromium-driver (Debian) and pip install selenium (requirements.txt); "
           ".ci/run installs them")
# digits at 63 px, batch 2: about 600 steps an epoch, a few seconds each on one core, so a screenshot catches the
# bar mid-epoch; real images (scikit-learn's digits), never a result
TINY = dict(dataset="digits", image_size=63, width=0.125, batch_size=2, epochs=3, norm="gn", threads=1,
            progress=True, device="cpu")


def browser() -> tuple[str, str] | None:
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    return (chrome, driver) if chrome and driver else None


def need_browser() -> tuple[str, str]:
    found = browser()
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"no browser for the JupyterLab test under CI: {INSTALL}")
        pytest.skip(f"no browser: {INSTALL}")
    return found


@contextlib.contextmanager
def lab(tmp_path: Path):
    """JupyterLab as `make lab` starts it, serving the repository root; yields its base URL and token."""
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')   # no "official Jupyter news?" question over the screenshots
    with lab_server(tmp_path, {"JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
                               "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}) as (base, token, _):
        yield base, token


@contextlib.contextmanager
def chromium(chrome: str, driver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
              "--disable-gpu"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    try:
        yield d
    finally:
        d.quit()


class Page:
    """One notebook open in Lab, and what the test asks of it."""

    def __init__(self, d, shots: Path):
        self.d, self.shots, self.n = d, shots, 0

    SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden) "   # the notebook in the tab shown (others stay in the page)

    def count(self, css: str) -> int:
        return len(self.d.find_elements("css selector", self.SHOWN + css))

    def text(self) -> str:
        """The notebook's whole text, cells scrolled out of view too (Lab may skip rendering those)."""
        return self.d.execute_script(f"return document.querySelector('{self.SHOWN}.jp-Notebook').textContent")

    def wait(self, what: str, ok, timeout: float = 180.0, every: float = 0.25):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = ok()
            if got:
                return got
            time.sleep(every)
        self.shot(f"timeout-{what}")
        raise AssertionError(f"not seen in {timeout:.0f} s: {what} (screenshots in {self.shots})")

    def shot(self, name: str) -> Path:
        self.n += 1
        p = self.shots / f"{self.n:02d}-{name}.png"
        self.d.save_screenshot(str(p))
        return p

    def open(self, base: str, path: str, token: str) -> None:
        """The notebook at ``path`` (from Lab's root), once its kernel is idle and the page connected to it (Lab's
        own sessions API says so; a Run All sent before that is dropped)."""
        self.d.get(f"{base}/lab/tree/{path}?token={token}")

        def connected() -> bool:
            with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
                sessions = json.load(r)
            return self.count(".jp-Notebook") and any(
                s["path"] == path and s["kernel"]["execution_state"] == "idle" and s["kernel"]["connections"] >= 1
                for s in sessions)
        self.wait("the notebook and its connected, idle kernel", connected)
        time.sleep(1.0)

    def run_all(self) -> None:
        """Run > Run All Cells, from Lab's own menu."""
        def item(label: str, css: str):
            return [e for e in self.d.find_elements("css selector", css) if e.text.strip() == label]
        self.wait("the Run menu", lambda: item("Run", ".lm-MenuBar-itemLabel"))[0].click()
        self.wait("Run All Cells", lambda: item("Run All Cells", ".lm-Menu-itemLabel"))[0].click()

    def idle(self) -> bool:
        return not self.d.execute_script(
            f"return [...document.querySelectorAll('{self.SHOWN}.jp-InputPrompt')]"
            ".some(p => p.textContent.includes('[*]'))")


def notebook_copy(src: Path, dst: Path, parameters: dict) -> Path:
    """``src`` with its parameters cell's values replaced (the cell as a user would edit it)."""
    nb = nbformat.read(src, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = []
    for line in cell.source.splitlines():
        name = line.split(":")[0].split("=")[0].strip()
        lines.append(f"{name} = {parameters[name]!r}" if name in parameters else line)
    cell.source = "\n".join(lines)
    nbformat.write(nb, dst)
    return dst


def test_run_notebook_shows_its_bar_and_curves_while_it_trains_then_explore_draws(tmp_path):
    chrome, driver = need_browser()
    shots = Path(os.environ.get("ALEXLIB_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    # the copies a user would make, under runs/ (ignored by git; Lab serves the repository root as make lab does)
    here = REPO / "runs" / f"browser-test-{secrets.token_hex(4)}"
    here.mkdir(parents=True)
    try:
        notebook_copy(RUN_NOTEBOOK, here / "run.ipynb", TINY | {"out_dir": str(tmp_path / "run")})
        notebook_copy(EXPLORE_NOTEBOOK, here / "explore.ipynb", {})
        with lab(tmp_path) as (base, token), chromium(chrome, driver) as d:
            drive(Page(d, shots), base, str(here.relative_to(REPO)), token, tmp_path)
    finally:
        shutil.rmtree(here, ignore_errors=True)


BAR = ".widget-hprogress"   # ipywidgets' progress bar, as tqdm's notebook bar draws it


def drive(page: Page, base: str, folder: str, token: str, tmp_path: Path) -> None:
    """run.ipynb through Run All, watched while it trains; then explore.ipynb."""
    page.open(base, f"{folder}/run.ipynb", token)
    page.run_all()
    # mid-run: the bar of the epoch under way, and after the first epoch its curves, before training ends
    page.wait("the epoch's progress bar, advancing", lambda: page.d.execute_script(
        f"return [...document.querySelectorAll('{page.SHOWN}{BAR} .progress-bar')]"
        ".some(b => parseFloat(b.style.width || b.style.height || '0') > 0)"))
    page.shot("run-bar-advancing")
    # a bar exists only while an epoch trains (each closes when its epoch ends): curves beside one are mid-run
    page.wait("curves of a finished epoch while the next epoch's bar runs",
              lambda: page.count(".jp-OutputArea-output img") >= 1 and page.count(BAR))
    page.d.execute_script(f"document.querySelector('{page.SHOWN}.jp-OutputArea-output img')"
                          ".scrollIntoView({block: 'center'})")
    page.shot("run-mid-run-bar-and-curves")
    page.wait("the run's end", page.idle, timeout=600)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "completed" and len(record["history"]) == TINY["epochs"]
    text = page.text()
    assert "status: completed" in text and "final test accuracy" in text, text[-2000:]
    assert page.count(".jp-OutputArea-output img") >= 2   # the live curves and the final figure
    assert "Traceback" not in text
    page.shot("run-finished")

    page.open(base, f"{folder}/explore.ipynb", token)
    page.run_all()
    page.wait("explore.ipynb's two figures", lambda: page.count(".jp-OutputArea-output img") >= 2)
    page.wait("explore.ipynb's end", page.idle, timeout=300)
    text = page.text()
    assert "Traceback" not in text and "records" in text
    page.d.execute_script(f"document.querySelector('{page.SHOWN}.jp-OutputArea-output img')"
                          ".scrollIntoView({block: 'center'})")
    page.shot("explore-figure")
