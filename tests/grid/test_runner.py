"""One run of the grid: what the runner records when the run notebook fails, and what it never overwrites."""
import contextlib
import json
import threading
import time

from alexlib.grid import runner as R
from alexlib.train.config import RunConfig

from conftest import fake_run, study


def test_a_failing_notebook_never_overwrites_another_runs_record(tmp_path, monkeypatch):
    other = fake_run(tmp_path / "runs", norm="bn", batch_size=8, seed=0)
    before = (other / "metrics.json").read_bytes()
    cfg = RunConfig(dataset="digits", image_size=63, width=0.25, epochs=2, norm="bn", batch_size=8,
                    momentum=0.0, out_dir=str(other))  # another config pointed at that folder

    def fails(*a, **k):
        raise RuntimeError("out_dir already holds a different run (momentum: 0.9 there, 0.0 now)")

    monkeypatch.setattr(R, "run_notebook", fails)
    m = R.execute(cfg)
    assert m["status"] == "failed" and "different run" in m["error"]
    assert (other / "metrics.json").read_bytes() == before


def test_a_notebook_that_fails_after_training_keeps_its_completed_record(tmp_path, monkeypatch):
    folder = fake_run(tmp_path / "runs", norm="bn", seed=0)
    before = (folder / "metrics.json").read_bytes()
    cfg = RunConfig.from_dict(json.loads(before)["config"]).replace(out_dir=str(folder))

    def plot_fails(*a, **k):
        raise RuntimeError("a plot cell failed")

    monkeypatch.setattr(R, "run_notebook", plot_fails)
    said = []
    m = R.execute(cfg, log=said.append)
    assert m["status"] == "completed" and (folder / "metrics.json").read_bytes() == before
    assert "completed, but the notebook failed after training" in said[0]


def test_a_failure_the_grid_records_keeps_the_runs_protocol(tmp_path, monkeypatch):
    for seed in (0, 1):
        fake_run(tmp_path / "runs", norm="bn", seed=seed)
    cfg = RunConfig(dataset="digits", image_size=63, width=0.25, epochs=2, norm="bn", seed=2)
    cfg = cfg.replace(out_dir=str(tmp_path / "runs" / cfg.run_id()))

    def kernel_died(*a, **k):
        raise RuntimeError("DeadKernelError: Kernel died")

    monkeypatch.setattr(R, "run_notebook", kernel_died)
    assert R.execute(cfg)["status"] == "failed"
    cells = study(tmp_path).cells   # one protocol: the failure carries the precision it would have run at
    assert cells[["n_completed", "n_failed"]].values.tolist() == [[2, 1]]


# A run notebook whose kernel hangs in the second epoch of the run with seed 0 (after its first epoch's checkpoint),
# as a deadlocked kernel would, with a child process in its group; it hangs only once, so a rerun can resume it.
HANGING = """
import os, subprocess, time
from alexlib.train import train
from alexlib.train.config import RunConfig
from alexlib.train.run import loop
cfg = RunConfig.from_dict({k: v for k, v in globals().items() if k in RunConfig.field_names()})
pids = os.path.join(cfg.out_dir, "pids")
if cfg.seed == 0 and not os.path.exists(pids):
    finish = loop._finish_epoch
    def hang(tr, epoch, seconds):
        if epoch == 2:
            child = subprocess.Popen(["sleep", "600"])
            with open(pids, "w") as f:
                f.write(f"{os.getpid()} {child.pid}")
            while True:
                time.sleep(1)
        return finish(tr, epoch, seconds)
    loop._finish_epoch = hang
result = train(cfg)
"""
STALL_S = 2.0   # ten heartbeats: the hang is the only quiet stretch, so the bound need cover nothing else


@contextlib.contextmanager
def heartbeat(folders, quiet):
    """A healthy run's progress, from this process: a file written in each run folder four times a second, however
    slowly a busy test machine starts a kernel, imports torch or trains an epoch (quiet stretches a bound of
    seconds would otherwise catch), except in a folder while ``quiet(folder)`` says it hangs."""
    beating = threading.Event()
    beating.set()

    def beat():
        while beating.is_set():
            for f in folders:
                if f.is_dir() and not quiet(f):
                    (f / "heartbeat").write_text("")
            time.sleep(0.25)
    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        yield
    finally:
        beating.clear()
        t.join()


def test_a_hung_kernel_is_ended_recorded_failed_and_resumable_and_the_grid_goes_on(tmp_path):
    """One run at a time, so a hung run that held its slot would stop the grid: the watchdog ends its kernel's
    process group after the configured bound, records it failed with the reason, and the next run completes;
    run again, the hung run resumes after its first epoch."""
    import nbformat
    from test_watchdog import _gone

    from alexlib.grid.executor import run_plan
    from alexlib.grid.local import LocalExecutor
    from alexlib.grid.plan import load_grid
    from alexlib.vocab import fmt_time

    from conftest import grid_file

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(HANGING)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = tmp_path / "hanging.ipynb"
    nbformat.write(nb, notebook)
    out = tmp_path / "runs"
    plan = load_grid(grid_file(tmp_path, 2), out)
    hung, other = plan.runs[0], plan.runs[1]
    folders = [out / hung.run_id(), out / other.run_id()]
    said = []
    bound = fmt_time(STALL_S)
    with heartbeat(folders, quiet=lambda f: (f / "pids").exists()):   # the hung kernel is quiet from its hang on
        outcome = run_plan(plan, out, LocalExecutor(jobs=1, notebook=notebook, stall_s=STALL_S), log=said.append,
                           estimate_cost=False)
    assert outcome["failed"] == [hung.run_id()] and outcome["completed"] == [other.run_id()]
    m = json.loads((out / hung.run_id() / "metrics.json").read_text())
    assert m["status"] == "failed" and m["error"].startswith(f"stalled: no progress for {bound}")
    assert [h["epoch"] for h in m["history"]] == [1] and "traceback" not in m
    kernel, child = map(int, (out / hung.run_id() / "pids").read_text().split())
    assert _gone(kernel) and _gone(child)
    assert any(hung.run_id() in s and f"no progress for {bound}" in s and "kernel ended" in s for s in said)
    log = (out / hung.run_id() / "run.log").read_text()   # the console, and what ended it
    assert "epoch   1/2" in log and f"no progress for {bound}" in log
    assert "epoch   2/2" in (out / other.run_id() / "run.log").read_text()

    assert R.status_of(hung) == "resume"
    with heartbeat(folders, quiet=lambda f: False):   # the rerun hangs nowhere: it finds pids and trains on
        again = run_plan(plan, out, LocalExecutor(jobs=1, notebook=notebook, stall_s=STALL_S), log=said.append,
                         estimate_cost=False)
    assert again["completed"] == [hung.run_id()]
    m = json.loads((out / hung.run_id() / "metrics.json").read_text())
    assert m["status"] == "completed" and "resuming" in (out / hung.run_id() / "run.log").read_text()


def test_a_record_set_aside_never_replaces_one_set_aside_before(tmp_path):
    from alexlib.grid.runner import set_aside
    from alexlib.train.config import RunConfig
    cfg = RunConfig(out_dir=str(tmp_path))
    for text in ("first", "second"):
        (tmp_path / "metrics.json").write_text(text)
        (tmp_path / "checkpoint.pt").write_text("x")
        set_aside(cfg, "code-abc")
    assert (tmp_path / "metrics.code-abc.json").read_text() == "first"
    assert (tmp_path / "metrics.code-abc.2.json").read_text() == "second"
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "checkpoint.pt").exists()
