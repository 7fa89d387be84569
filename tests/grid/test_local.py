"""The grid on this machine: runs at once share the cores, and GPUs are handed out round-robin."""
import pytest

from alexlib.grid import local as L
from alexlib.grid.executor import run_plan
from alexlib.grid.plan import load_grid
from alexlib.train.config import RunConfig

from conftest import REPO

SMOKE = REPO / "params" / "smoke.yaml"


@pytest.mark.parametrize("jobs, cores, runs, expect", [
    ("auto", 2, 20, (2, 1)), ("auto", 16, 3, (3, 5)), (1, 2, 20, (1, 2)), (2, 2, 20, (2, 1)), (4, 2, 20, (4, 1)),
    ("auto", 8, 0, (1, 8)),
])
def test_cpu_runs_share_the_cores(jobs, cores, runs, expect):
    todo = [RunConfig(device="cpu", seed=i) for i in range(runs)]
    got = L.parallelism(jobs, todo, cores=cores)
    assert got[:2] == expect and f"{expect[0]} run(s) at once, {expect[1]} CPU thread(s) each" in got[2]
    assert L.parallelism(jobs, todo, threads=3, cores=cores)[1] == 3  # --threads wins


def test_jobs_auto_on_cuda_is_one_run_per_gpu():
    todo = [RunConfig(device="cuda:0")] * 8
    assert L.parallelism("auto", todo, gpus=[0, 1, 2], cores=16)[:2] == (3, 5)
    assert L.parallelism("auto", todo, cores=16)[:2] == (1, 16)


def test_gpus_are_assigned_round_robin(tmp_path, monkeypatch):
    seen = []

    def fake_execute(cfg, notebook=None, log=print):  # records where each run would go
        seen.append(cfg.device)
        return {"status": "completed", "final": {"test_acc": 50.0}}

    monkeypatch.setattr(L, "execute", fake_execute)
    plan = load_grid(SMOKE, tmp_path / "g")
    outcome = run_plan(plan, tmp_path / "g", L.LocalExecutor(jobs=1, gpus=[0, 3]))
    assert seen == ["cuda:0", "cuda:3"] * 4 + ["cuda:0"]
    assert len(outcome["completed"]) == 9
