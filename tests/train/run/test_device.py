"""Where a run runs (alexlib.train.run.device): the process-wide switches a run sets on CUDA and restores after it,
checked on the CPU with CUDA's entry points stood in; and what a record says it ran with."""
import contextlib
import os
import shutil
import subprocess

import pytest
import tomllib
import torch

import alexlib.train.run.device as DV
import alexlib.train.run.loop as T
import alexlib.train.run.trainer as TR
from alexlib.train.config import ConfigError, RunConfig
from alexlib.train.run.device import run_context

from conftest import REPO, tiny


def test_a_cuda_run_makes_its_device_current(monkeypatch):
    entered = []

    class FakeDevice:
        def __init__(self, dev):
            self.dev = dev

        def __enter__(self):
            entered.append(str(self.dev))

        def __exit__(self, *exc):
            entered.append("exit")

    monkeypatch.setattr(torch.cuda, "device", FakeDevice)
    with run_context(RunConfig(), torch.device("cuda:1")):
        assert entered == ["cuda:1"]
    assert entered == ["cuda:1", "exit"]


def test_deterministic_cuda_after_cuda_started_without_cublas_setting_is_refused(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(ConfigError, match="CUBLAS_WORKSPACE_CONFIG=:4096:8"):
        with run_context(RunConfig(deterministic=True), torch.device("cuda:0")):
            pass
    assert not torch.are_deterministic_algorithms_enabled()


def test_deterministic_cuda_sets_cublas_before_cuda_starts(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "device", lambda dev: contextlib.nullcontext())
    with run_context(RunConfig(deterministic=True), torch.device("cuda:0")):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()


# ---- what a record says it ran with: the code (git, alexlib) and the libraries' versions ----
def env_here():
    from alexlib.train.run.device import environment
    return environment(torch.device("cpu"), "fp32", RunConfig())


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True).stdout


def test_environment_names_the_libraries_that_compute_the_numbers():
    import numpy
    import scipy
    import sklearn
    import torchvision
    env = env_here()
    assert (env["torch"], env["torchvision"]) == (torch.__version__, torchvision.__version__)
    assert (env["numpy"], env["scikit-learn"], env["scipy"]) == (numpy.__version__, sklearn.__version__,
                                                                   scipy.__version__)
    assert {"device_name", "precision", "cpu_threads"} <= set(env)  # what the summary reads, kept


def test_environment_says_which_alexlib_ran():
    from importlib import metadata
    try:
        expected = metadata.version("alexlib")
    except metadata.PackageNotFoundError:
        expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert env_here()["alexlib"] == expected


def test_an_uninstalled_checkout_takes_its_version_from_pyproject(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "alexlib"\nversion = "9.8.7"\n')
    monkeypatch.setattr(DV, "REPO", tmp_path)
    monkeypatch.setattr(DV, "_version", lambda dist: None)
    assert DV.alexlib_version() == "9.8.7"
    monkeypatch.setattr(DV, "REPO", tmp_path / "nowhere")
    assert DV.alexlib_version() is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_environment_records_the_commit_and_whether_the_tree_is_dirty(monkeypatch, tmp_path):
    repo = tmp_path / "clone"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    (repo / "code.py").write_text("x = 1\n")
    git("add", "code.py", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=repo)
    monkeypatch.setattr(DV, "REPO", repo)
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    (repo / "untracked.txt").write_text("not code of the run\n")
    assert DV.git_state() == {"git_commit": head, "git_dirty": False}  # untracked files do not count
    (repo / "code.py").write_text("x = 2\n")
    assert DV.git_state() == {"git_commit": head, "git_dirty": True}
    env = env_here()
    assert (env["git_commit"], env["git_dirty"]) == (head, True)


def test_this_checkouts_commit_is_recorded():
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not run from a git checkout")
    assert env_here()["git_commit"] == git("rev-parse", "HEAD", cwd=REPO).strip()


def test_outside_a_checkout_or_without_git_the_commit_is_none_and_the_run_goes_on(monkeypatch, tmp_path):
    monkeypatch.setattr(DV, "REPO", tmp_path)  # an installed copy: no .git beside it
    assert DV.git_state() == {"git_commit": None, "git_dirty": None}
    (tmp_path / ".git").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # git is not installed
    assert DV.git_state() == {"git_commit": None, "git_dirty": None}
    monkeypatch.undo()

    def hung(*a, **k):
        raise subprocess.TimeoutExpired(a[0], DV.GIT_TIMEOUT)

    monkeypatch.setattr(DV.subprocess, "run", hung)
    env = env_here()
    assert env["git_commit"] is None and env["git_dirty"] is None


def test_deterministic_is_applied_during_the_run_and_restored_after(tmp_path, monkeypatch):
    seen = []
    real = TR.Trainer.train_step

    def spy(self, x, y):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic))
        return real(self, x, y)

    monkeypatch.setattr(TR.Trainer, "train_step", spy)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              torch.backends.cudnn.deterministic)
    r = T.train(tiny(tmp_path, deterministic=True, epochs=1))
    assert seen and set(seen) == {(True, True)}
    assert r["env"]["deterministic"] is True
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic) == before
    seen.clear()
    T.train(tiny(tmp_path, out_dir=str(tmp_path / "next"), epochs=1))   # the next run in this process
    assert set(seen) == {(False, False)}
