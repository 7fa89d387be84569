"""The grid's command line as a user meets it: a second runner on a busy folder, kills and Ctrl-C mid-grid and
the rerun that resumes, runs that diverge or raise without stopping the others, data missing before the first run."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

import alexlib.train.run.loop as T
from alexlib.grid import command as G
from alexlib.grid import plan as P
from alexlib.report.domain.runs import main_grid
from alexlib.report.study import Study

from conftest import REPO, Hold, numbers

HELD_GRID = {  # three runs; the middle one is held in its second epoch (conftest.Hold) until killed or released
    "base": dict(dataset="synthetic", image_size=63, width=0.125, train_size=96, test_size=48, device="cpu",
                 batch_size=16, epochs=2),
    "grids": [{"name": "a", "norm": "bn"}, {"name": "b", "norm": "gn"}, {"name": "c", "norm": "none"}],
}


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0]


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it: the grid, papermill's kernel (in a session of its own, so a
    process-group kill misses it) and anything the kernel started."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (ps := _ppid_and_state(int(d.name))) is not None:
            children.setdefault(ps[0], []).append(int(d.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def wait_until_gone(pids: list[int], timeout: float = 60) -> None:
    """Until none of ``pids`` runs (gone, or a zombie that can no longer write anything)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if (ps := _ppid_and_state(p)) is not None and ps[1] != "Z"]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes still running after {timeout} s: {alive}")


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the grid and everything below it, at once, and wait until all of it is gone."""
    tree = process_tree(proc.pid)
    assert len(tree) >= 2, "the grid has no kernel running"
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    wait_until_gone(tree)


def grid_cmd(grid_file, out, *extra):
    """One run at a time unless told otherwise, so the tests know which run is in flight."""
    jobs = [] if "--jobs" in extra else ["--jobs", "1"]
    return [sys.executable, "-m", "alexlib.grid", str(grid_file), "--out", str(out), *jobs, *extra]


def start_held_grid(tmp_path, **popen):
    """The held grid in a subprocess, returned once its middle run is held in its second epoch: its first epoch
    recorded (checkpoint and metrics.json), the second trained but not recorded, the first run completed and the
    last not started."""
    grid_file = tmp_path / "held.yaml"
    grid_file.write_text(yaml.safe_dump(HELD_GRID))
    out = tmp_path / "runs"
    plan = P.load_grid(grid_file, out)
    hold = Hold(tmp_path, plan.runs[1].out_dir, epoch=2)
    # no estimate before this first start (its calibration costs seconds and reads no record yet); the reruns make one
    proc = subprocess.Popen(grid_cmd(grid_file, out, "--no-estimate"), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=hold.env, **popen)
    hold.held(proc)
    return proc, grid_file, out, plan, hold


def test_a_second_runner_is_refused_then_kill_9_mid_grid_and_a_rerun_resumes_and_matches_an_uninterrupted_grid(
        tmp_path):
    """A second runner started while the first is mid-run (its middle run held) is refused and writes nothing; the
    first, killed with its kernel as a lost machine would be, leaves a run a rerun resumes, with every number as a
    grid never interrupted gives (each run executed once more at most: the killed one)."""
    proc, grid_file, out, plan, _ = start_held_grid(tmp_path, text=True)
    first, middle, last = plan.runs
    files = lambda: {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    held = files()
    second = subprocess.run(grid_cmd(grid_file, out), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert f"{out} is in use by alexlib.grid pid {proc.pid}" in second.stderr
    assert {p: v for p, v in files().items() if p.name != "run.log"} == {p: v for p, v in held.items()
                                                                         if p.name != "run.log"}
    ckpt = Path(middle.out_dir) / "checkpoint.pt"
    kill_tree(proc)  # the runner and its kernel, mid-run (epoch 2 trained, not recorded), as a lost machine would
    assert json.loads((Path(middle.out_dir) / "metrics.json").read_text())["status"] == "running"
    first_metrics = Path(first.out_dir) / "metrics.json"
    assert json.loads(first_metrics.read_text())["status"] == "completed"
    before = (first_metrics.stat().st_mtime_ns, first_metrics.read_bytes())
    epochs_done = torch.load(ckpt, weights_only=True)["epoch"]
    assert epochs_done == 1 and not (Path(last.out_dir) / "metrics.json").exists()

    r = subprocess.run(grid_cmd(grid_file, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:]
    assert "1 already done, 2 to run (1 resuming)" in r.stdout
    assert (first_metrics.stat().st_mtime_ns, first_metrics.read_bytes()) == before  # not retrained
    executed = (Path(middle.out_dir) / "run.ipynb").read_text()
    assert f"resuming {middle.out_dir} after epoch {epochs_done}/2" in executed

    for cfg in plan.runs:  # the same numbers as runs that were never interrupted, each started once per runner
        straight = T.train(cfg.replace(out_dir=str(tmp_path / "straight" / cfg.run_id()), progress=False))
        resumed = json.loads((Path(cfg.out_dir) / "metrics.json").read_text())
        assert resumed["status"] == "completed" and numbers(resumed) == numbers(straight)
        starts = (Path(cfg.out_dir) / "run.log").read_text().count(f"{cfg.run_id()}: run.ipynb starts")
        assert starts == (2 if cfg is middle else 1), (cfg.run_id(), starts)


def test_a_diverging_and_a_raising_run_do_not_stop_the_grid(tmp_path):
    grid = {"base": dict(dataset="synthetic", image_size=63, width=0.125, train_size=64, test_size=32,
                         device="cpu", epochs=2, seed=0),
            "grids": [{"name": "ok", "norm": "bn", "batch_size": 16},
                      {"name": "diverges", "norm": "none", "batch_size": 16, "lr": 1000.0},
                      {"name": "raises", "norm": "gn", "batch_size": 128},   # larger than the 64 images
                      {"name": "ok too", "norm": "gn", "batch_size": 32}]}
    grid_file = tmp_path / "mixed.yaml"
    grid_file.write_text(yaml.safe_dump(grid))
    out = tmp_path / "runs"
    r = subprocess.run(grid_cmd(grid_file, out, "--jobs", "2"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1
    assert "FAILED (1): synthetic-gn-bs128" in r.stdout and "diverged (1): synthetic-none-bs16-lr1000" in r.stdout
    status = {p.parent.name: json.loads(p.read_text())["status"] for p in out.rglob("metrics.json")}
    assert sorted(status.values()) == ["completed", "completed", "diverged", "failed"]
    (too_big,) = [c for c in P.load_grid(grid_file, out).runs if c.batch_size == 128]
    failed = json.loads((Path(too_big.out_dir) / "metrics.json").read_text())
    assert "batch_size=128 is larger than the 64 training images" in failed["error"]

    study = Study.load(str(out), "params/reference.yaml", str(tmp_path / "report"))
    runs = study.runs.set_index("status")
    assert math.isnan(runs.loc["diverged", "test_acc"]) and math.isnan(runs.loc["failed", "test_acc"])
    assert len(main_grid(study.runs)) == 2  # only completed runs are results, never zeros
    problems = study.problems_table()
    assert set(problems.status) == {"diverged", "failed"}
    assert "larger than the 64 training images" in " ".join(problems.detail)


def test_a_grid_whose_data_is_missing_stops_before_its_first_run(tmp_path, monkeypatch, capsys):
    def offline(*a, **k):
        raise OSError("no network in this test")
    monkeypatch.setattr("torchvision.datasets.CIFAR10.download", offline)
    grid_file = tmp_path / "cifar.yaml"
    grid_file.write_text(yaml.safe_dump({"base": {"dataset": "cifar10", "data_dir": str(tmp_path / "no data"),
                                                  "image_size": 63, "device": "cpu"},
                                         "grids": [{"norm": ["bn", "gn"]}]}))
    out = tmp_path / "runs"
    assert G.main([str(grid_file), "--out", str(out)]) == 2
    assert "cifar-10-python.tar.gz" in capsys.readouterr().err
    assert not list(out.glob("*/metrics.json"))  # no run started


def _ctrl_c_as_a_terminal_delivers_it():
    """A shell's background job (`cmd &` without job control) starts with SIGINT ignored, and Python then keeps it
    ignored: the grid started by such a test run would never see the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_grid_at_once_and_a_rerun_resumes(tmp_path):
    proc, grid_file, out, plan, _ = start_held_grid(tmp_path, text=True, preexec_fn=_ctrl_c_as_a_terminal_delivers_it)
    tree = process_tree(proc.pid)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=600)
    wait_until_gone(tree)  # the kernel too: nothing goes on training or writing after Ctrl-C
    assert proc.returncode == 130
    assert "interrupted: finished runs are kept" in stdout
    # at once: the run in flight (held until killed: it could never finish) did not finish, the next one never started
    assert json.loads((Path(plan.runs[1].out_dir) / "metrics.json").read_text())["status"] != "completed"
    assert not (Path(plan.runs[2].out_dir) / "metrics.json").exists()
    r = subprocess.run(grid_cmd(grid_file, out, "--no-estimate"), cwd=REPO, capture_output=True, text=True,
                       timeout=600)   # the kill-9 test's rerun makes the estimate
    assert r.returncode == 0 and "(1 resuming)" in r.stdout


def test_an_output_folder_under_a_file_refuses_the_grid(tmp_path):
    (tmp_path / "a file").write_text("x")
    assert G.main([str(REPO / "params/smoke.yaml"), "--out", str(tmp_path / "a file" / "g")]) == 2


def _with_stall(tmp_path: Path, value=None) -> Path:
    """A one-run grid file, with ``stall_timeout: value`` when a value is given."""
    doc = {"base": {**TINY_BASE}, "grids": [{"seed": [0]}]}
    if value is not None:
        doc["stall_timeout"] = value
    p = tmp_path / "stall.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


TINY_BASE = dict(dataset="synthetic", image_size=63, width=0.125, train_size=96, test_size=48, device="cpu")


def test_a_bad_stall_timeout_stops_the_grid_at_once_naming_where_it_came_from(tmp_path, capsys):
    out = tmp_path / "runs"
    assert G.main([str(_with_stall(tmp_path)), "--out", str(out), "--stall-timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "--stall-timeout takes auto or a duration above 0 with its unit, s, m or h (90s, 20m, 2h), got '5'" in err
    grid = _with_stall(tmp_path, "soon")
    assert G.main([str(grid), "--out", str(out), "--dry-run"]) == 2
    assert f"{grid}: stall_timeout takes auto or a duration" in capsys.readouterr().err
    assert not out.exists()   # nothing ran, nothing was written


def test_the_stall_timeout_comes_from_the_command_line_else_the_grid_file_else_auto(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(G, "run_plan", lambda plan, out, ex, **k: seen.append(ex.stall_s) or {})
    G.run(_with_stall(tmp_path, "20m"), tmp_path / "runs")
    G.run(_with_stall(tmp_path, "20m"), tmp_path / "runs", stall_timeout="90s")
    G.run(_with_stall(tmp_path), tmp_path / "runs")
    G.run(_with_stall(tmp_path), tmp_path / "runs", executor="slurm", slurm={"partition": "debug"}, stall_timeout="2h")
    assert seen == [1200.0, 90.0, None, 7200.0]   # None: auto, from each run's estimate
