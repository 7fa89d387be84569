"""Where things are: relative paths mean the repository root wherever a command or kernel started; an installed
alexlib outside a checkout takes the folder it runs from as the root."""
import subprocess
import sys
from pathlib import Path

from alexlib import paths

from conftest import REPO


def test_relative_paths_are_under_the_checkout_and_absolute_ones_stay():
    assert paths.REPO == REPO and paths.RUN_NOTEBOOK.is_file() and paths.SUMMARY_NOTEBOOK.is_file()
    assert paths.from_repo("runs/x") == REPO / "runs" / "x"
    assert paths.from_repo("/elsewhere/x") == Path("/elsewhere/x")


def test_outside_a_checkout_the_root_is_the_folder_it_runs_from(tmp_path):
    """paths.py alone, in a folder with no notebooks beside it, as in a site-packages: the root is the cwd."""
    pkg = tmp_path / "site" / "alexlib"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "paths.py").write_text((REPO / "alexlib" / "paths.py").read_text())
    here = tmp_path / "a clone"
    here.mkdir()
    r = subprocess.run([sys.executable, "-c", "from alexlib import paths; print(paths.REPO)"], cwd=here,
                       env={"PYTHONPATH": str(tmp_path / "site")}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == here.resolve()
