"""The cost a grid prints before it starts: from rates recorded here, else a few seconds of calibration,
shared among the runs going at once; the dry run says it per block without training."""
import json
import subprocess
import sys

import pytest

from alexlib.grid import estimate as E
from alexlib.train.config import RunConfig

from conftest import REPO, fake_run


def test_the_estimate_is_the_recorded_rates_arithmetic(tmp_path):
    runs = tmp_path / "runs"
    rec = fake_run(runs, norm="bn", batch_size=64, cpu_threads=1, device_name="CPU here", test_images=2000)
    m = json.loads((rec / "metrics.json").read_text())   # 100 img/s training, 0.1 s per epoch for 2,000 tests
    assert m["history"][0]["images_per_s"] == 100.0
    todo = [RunConfig(norm="bn", batch_size=64, dataset="digits", image_size=63, width=0.25, epochs=e, seed=s)
            for e in (2, 4) for s in (0, 1)]
    called = []
    cost = E.estimate(todo, 2, 1, [runs], "CPU here", calibrate_shape=called.append)
    assert not called and cost.recorded == 1 and cost.calibrated == 0
    one_epoch = 1257 / 100.0 + 540 / (2000 * 2 / 0.2)   # digits: 1,257 train / 540 test images an epoch
    checks = (1257 + 540) / 100.0 * E.CHECKS_SHARE       # BatchNorm's checks after training, once a run
    assert cost.run_seconds == pytest.approx(2 * (2 * one_epoch) + 2 * (4 * one_epoch) + 4 * (E.OVERHEAD_S + checks))
    assert cost.seconds == pytest.approx(cost.run_seconds / 2)
    assert "2 at once on this machine" in cost.line(4, 2) and "rates recorded here for 1 shape" in cost.line(4, 2)


def test_rates_from_another_device_or_thread_count_are_not_used_and_each_new_shape_is_timed_once(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, norm="bn", batch_size=64, cpu_threads=2, device_name="CPU here")   # other thread count
    fake_run(runs, norm="gn", batch_size=64, cpu_threads=1, device_name="CPU elsewhere")
    todo = [RunConfig(norm=n, batch_size=64, dataset="digits", seed=s) for n in ("bn", "gn") for s in (0, 1, 2)]
    timed = []
    cost = E.estimate(todo, 1, 1, [runs], "CPU here", calibrate_shape=lambda s: timed.append(s) or (500.0, 5000.0))
    assert sorted(s[0] for s in timed) == ["bn", "gn"] and cost.calibrated == 2 and cost.recorded == 0
    assert "calibration of 2 shapes" in cost.line(6, 1)


def test_a_real_calibration_times_a_small_shape_in_seconds():
    train, ev = E.calibrate(("bn", 16, 63, 0.125), "cpu", 1)
    assert 0 < train < 1e6 and 0 < ev < 1e7


def test_the_dry_run_counts_each_block_and_prints_the_estimate_without_training(tmp_path):
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "alexlib.grid", "params/fashion.yaml", "--out", str(out), "--dry-run",
                        "--set", "dataset=synthetic", "--set", "train_size=256", "--set", "test_size=64"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("grid fashion: 180 runs, 0 already done, 180 to run")
    assert any(l.startswith("estimate: about ") and "180 runs" in l for l in lines[:4]), lines[:4]
    for block, n in (("norm_x_batch", 90), ("equal_steps", 12), ("image_size", 12), ("lr_scaled", 12),
                     ("lr_scaled_batch2", 6), ("lr_scaled_paper", 27), ("lr_scaled_ln_batch2", 3)):
        assert f"{block}: {n} runs, 0 done, {n} to run" in lines
    assert not list(out.rglob("metrics.json"))


def test_on_a_gpu_shapes_are_timed_as_graph_replays_in_a_subprocess_on_the_runs_gpu(tmp_path, monkeypatch):
    """CUDA stood in: the grid's own process never touches CUDA (its entry points raise if it does); the shapes
    not recorded are timed by ``python -m alexlib.train.run.timing`` in one subprocess that sees only the GPU the
    runs will use, after enough warm-up steps that every timed step is a graph replay; the line says so."""
    import torch

    from alexlib.train.run.trainer import GRAPH_WARMUP_STEPS
    calls = []

    def fake_run(cmd, env=None, **kw):
        calls.append((cmd, env))
        shapes = json.loads(cmd[cmd.index("--shapes") + 1])
        out = {"device_name": "NVIDIA H200", "rates": [[5000.0, 20000.0] for _ in shapes]}
        return subprocess.CompletedProcess(cmd, 0, json.dumps(out) + "\n", "")

    def no_cuda_here(*a, **k):
        raise AssertionError("the grid's process made a CUDA context")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for name in ("init", "get_device_name", "synchronize", "set_device"):
        monkeypatch.setattr(torch.cuda, name, no_cuda_here)
    monkeypatch.setattr(subprocess, "run", fake_run)
    todo = [RunConfig(norm=n, batch_size=64, dataset="digits", seed=0) for n in ("bn", "gn")]
    name = E.device_name_here("cuda:3")
    cost = E.estimate(todo, 1, 1, [tmp_path], name, device="cuda:3")
    assert name == "NVIDIA H200" and cost.calibrated == 2
    (cmd, env), = calls[1:]
    assert env["CUDA_VISIBLE_DEVICES"] == "3" and cmd[cmd.index("-m") + 1] == "alexlib.train.run.timing"
    assert int(cmd[cmd.index("--warmup") + 1]) >= GRAPH_WARMUP_STEPS + 2   # warm-ups, capture, first replay
    assert "CUDA-graph replays in a subprocess on cuda:3" in cost.line(2, 1)


def test_a_cpu_dry_run_of_a_gpu_grid_says_where_a_gpus_figure_would_come_from(tmp_path):
    r = subprocess.run([sys.executable, "-m", "alexlib.grid", "params/paper.yaml", "--out", str(tmp_path / "p"),
                        "--dry-run", "--set", "dataset=synthetic", "--set", "train_size=256", "--set", "test_size=64",
                        "--set", "image_size=63", "--set", "width=0.125"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "on a GPU the figure comes from CUDA-graph replays" in r.stdout


def test_recorded_speeds_are_read_from_one_list_of_folders(tmp_path):
    """The runs folder given and every committed study's records: the grid, decide, live and explore all ask
    estimate.rate_folders."""
    import inspect

    import alexlib.decide
    import alexlib.grid.executor
    import alexlib.lab.explore
    import alexlib.lab.live
    folders = E.rate_folders(tmp_path)
    assert folders[0] == tmp_path and {f.parent.name for f in folders[1:]} >= {"fashion", "demo"}
    assert E.rate_folders(tmp_path / "missing")[0].name == "records"   # a folder that is not there is left out
    for module in (alexlib.decide, alexlib.lab.explore, alexlib.grid.executor, alexlib.lab.live):
        src = inspect.getsource(module)
        assert 'glob("*/records")' not in src and "rate_folders(" in src, module.__name__
