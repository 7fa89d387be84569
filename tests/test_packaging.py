"""The two install routes pin the same versions, and CI calls the README's test command."""
import re

from conftest import REPO


def pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M))


def test_environment_yml_and_requirements_pin_the_same_versions():
    req = pins((REPO / "requirements.txt").read_text())
    env = pins((REPO / "environment.yml").read_text())
    assert req and req == env


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / "README.md").read_text()
    assert "make test" in (REPO / ".ci/run").read_text()


def test_a_non_editable_install_carries_every_folder_and_rebuilds_a_committed_report(tmp_path):
    """``pip install .`` (not editable) of a copy of the source into a folder of its own: every subpackage is
    in it, and ``python -m alexlib.report`` from it, in a clone without alexlib/, turns the demo's committed
    records into the committed numbers. (The test environment's libraries stand in for a fresh venv's.)"""
    import csv
    import shutil
    import subprocess
    import sys
    src = tmp_path / "src"
    shutil.copytree(REPO / "alexlib", src / "alexlib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", src)
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "--target", str(site), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    installed = {p.parent.relative_to(site).as_posix() for p in (site / "alexlib").rglob("__init__.py")}
    assert installed == {"alexlib", "alexlib/train", "alexlib/train/net", "alexlib/train/inputs", "alexlib/train/run",
                         "alexlib/grid", "alexlib/report", "alexlib/report/inference", "alexlib/report/domain",
                         "alexlib/report/render", "alexlib/tools", "alexlib/lab"}
    clone = tmp_path / "clone"           # what the report reads besides the package: notebooks, params, docs
    for part in ("notebooks", "params", "docs"):
        shutil.copytree(REPO / part, clone / part)
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-P", "-c", "import alexlib.report.render.export as e; print(e.__file__)"],
                           cwd=clone, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, "-P", "-m", "alexlib.report", str(REPO / "reports/demo/records"), "--out",
                        str(out), "--no-pdf"], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    def rows(p):
        with open(p) as f:
            return [{k: v for k, v in row.items() if k in ("norm", "batch_size", "mean", "std", "n_completed")}
                    for row in csv.DictReader(f)]
    assert rows(out / "cells.csv") == rows(REPO / "reports/demo/cells.csv")
