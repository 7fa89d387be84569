"""The grid on this machine: runs at once share the cores; on CUDA, one run per GPU, each GPU handed to the next
run as it frees up."""
import pytest

from alexlib.grid import local as L
from alexlib.grid.executor import run_plan
from alexlib.grid.plan import load_grid
from alexlib.train.config import RunConfig
from alexlib.vocab import counted

from conftest import REPO

SMOKE = REPO / "params" / "smoke.yaml"


@pytest.mark.parametrize("jobs, cores, runs, expect", [
    ("auto", 2, 20, (2, 1)), ("auto", 16, 3, (3, 5)), (1, 2, 20, (1, 2)), (2, 2, 20, (2, 1)), (4, 2, 20, (4, 1)),
    ("auto", 8, 0, (1, 8)),
])
def test_cpu_runs_share_the_cores(jobs, cores, runs, expect):
    todo = [RunConfig(device="cpu", seed=i) for i in range(runs)]
    got = L.parallelism(jobs, todo, cores=cores)
    assert got[:2] == expect and f"{counted(expect[0], 'run')} at once, {counted(expect[1], 'CPU thread')} each" in got[2]
    assert L.parallelism(jobs, todo, threads=3, cores=cores)[1] == 3  # --threads wins


def test_jobs_auto_on_cuda_is_one_run_per_gpu():
    todo = [RunConfig(device="cuda:0")] * 8
    assert L.parallelism("auto", todo, gpus=[0, 1, 2], cores=16)[:2] == (3, 5)
    at_once, _, line = L.parallelism("auto", todo, cores=16, gpu_count=4)   # no --gpus: every visible GPU
    assert at_once == 4 and "one run per GPU (4 visible)" in line


def test_a_gpu_goes_to_the_next_run_when_it_frees_up(tmp_path, monkeypatch):
    """The first run holds its GPU until every other run has ended: the others all run on the other GPU, one at a
    time, and never two runs share a GPU (pinned round-robin, every other run would have waited on GPU 0)."""
    import threading
    lock, active, peak, seen = threading.Lock(), {}, {}, []
    others_done = threading.Event()

    def fake_execute(cfg, notebook=None, log=print, stall_s=None):
        with lock:
            active[cfg.device] = active.get(cfg.device, 0) + 1
            peak[cfg.device] = max(peak.get(cfg.device, 0), active[cfg.device])
            first = not seen
            seen.append(cfg.device)
        if first:
            others_done.wait(timeout=30)
        with lock:
            active[cfg.device] -= 1
            if len(seen) == 9 and not first:
                others_done.set()
        return {"status": "completed", "final": {"test_acc": 50.0}}

    monkeypatch.setattr(L, "execute", fake_execute)
    plan = load_grid(SMOKE, tmp_path / "g")
    outcome = run_plan(plan, tmp_path / "g", L.LocalExecutor(jobs=2, gpus=[0, 3]))
    assert len(outcome["completed"]) == 9 and others_done.is_set()
    assert set(peak.values()) == {1} and seen[0] == "cuda:0" and seen[1:] == ["cuda:3"] * 8


def test_each_run_is_watched_for_its_own_estimated_epoch_unless_a_stall_timeout_is_set(tmp_path, monkeypatch):
    from alexlib.grid.executor import Batch, Slots
    from alexlib.grid.watchdog import STALL_FLOOR_S, STALL_MARGIN
    bounds = {}

    def fake_execute(cfg, notebook=None, log=print, stall_s=None):
        bounds[cfg.run_id()] = stall_s
        return {"status": "completed"}

    monkeypatch.setattr(L, "execute", fake_execute)
    plan = load_grid(SMOKE, tmp_path / "g")
    long, short = plan.runs[:2]
    hours = {long.run_id(): long.epochs * 3600.0}   # an hour an epoch; the other run has no estimate
    for setting, expect in ((None, [STALL_MARGIN * 3600.0, STALL_FLOOR_S]), (60.0, [60.0, 60.0])):
        batch = Batch(plan, tmp_path / "g", [long, short], {}, Slots(1, 1, ""), print, hours)
        list(L.LocalExecutor(jobs=1, stall_s=setting).launch(batch))
        assert [bounds[long.run_id()], bounds[short.run_id()]] == expect
