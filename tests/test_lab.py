"""`make lab`: JupyterLab started by the very command make runs (notebooks/lab.sh), on the repository root,
as root too; the notebooks name the kernel the Makefile installs; Lab's checkpoints are not left untracked."""
import json
import os
import subprocess
import urllib.error
import urllib.request

import nbformat
import pytest

from alexlib.paths import EXPLORE_NOTEBOOK, RUN_NOTEBOOK, SUMMARY_NOTEBOOK

from conftest import LAB, REPO, lab_server


def test_make_lab_runs_the_lab_script():
    r = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "bash notebooks/lab.sh" in r.stdout and "JUPYTER=.venv/bin/jupyter" in r.stdout


@pytest.mark.parametrize("uid, allow_root", [("0", True), ("1000", False)])
def test_lab_script_passes_allow_root_only_as_root(tmp_path, uid, allow_root):
    """The script's own decision, with `id` and jupyter stood in (no Lab starts)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_dir / "jupyter").write_text('#!/bin/sh\nprintf "%s\\n" "$PWD" "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "JUPYTER": str(bin_dir / "jupyter")}
    r = subprocess.run(["bash", str(LAB), "--no-browser"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    cwd, *args = r.stdout.splitlines()
    assert cwd == str(REPO) and args[0] == "lab" and args[-1] == "--no-browser"
    assert f"--ServerApp.root_dir={REPO}" in args
    assert ("--allow-root" in args) == allow_root


def test_lab_serves_the_repository_root_as_root_and_stops(tmp_path):
    with lab_server(tmp_path) as (base, token, log):
        with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=30) as r:
            listing = json.load(r)
        names = {item["name"] for item in listing["content"]}
        assert {"notebooks", "params", "reports"} <= names, names
        assert "Running as root is not recommended" not in log.read_text()  # it answered, as root too
        # the kernel the notebooks name is the one this Lab offers, under the same display name
        with urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}", timeout=30) as r:
            spec = json.load(r)["kernelspecs"]["python3"]["spec"]
        named = nbformat.read(RUN_NOTEBOOK, as_version=4).metadata["kernelspec"]
        assert (spec["display_name"], spec["language"]) == (named["display_name"], named["language"])


@pytest.mark.parametrize("path", [RUN_NOTEBOOK, SUMMARY_NOTEBOOK, EXPLORE_NOTEBOOK])
def test_notebooks_name_the_kernel_the_makefile_installs(path):
    """Lab rewrites a kernelspec that differs from the kernel's own, and the notebook opens as modified."""
    make = (REPO / "Makefile").read_text()
    assert '--name python3 --display-name "Python 3 (alexlib)"' in make
    spec = nbformat.read(path, as_version=4).metadata["kernelspec"]
    assert spec == {"name": "python3", "display_name": "Python 3 (alexlib)", "language": "python"}


def test_lab_checkpoints_are_ignored():
    r = subprocess.run(["git", "check-ignore", "-q", "notebooks/.ipynb_checkpoints/run-checkpoint.ipynb"],
                       cwd=REPO, timeout=30)
    if r.returncode == 128:
        pytest.skip("not a git checkout")
    assert r.returncode == 0
