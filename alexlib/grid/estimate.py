"""What a grid will cost before it starts: the seconds each run will take on this machine, from the training
and evaluation rates recorded by finished runs of the same shape here (norm, batch size, image size, width,
device, threads), and where none is recorded, from a calibration: a few timed training steps and one
evaluation pass of that shape on synthetic data (a few seconds in all on the CPU grids).

    run seconds = epochs x (train images / train rate + test images / eval rate) + OVERHEAD_S
    grid time   = the runs' seconds, shared among the runs going at once
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..train.config import RunConfig
from ..train.inputs.datasets import images
from ..train.net.norms import norm_entry
from ..train.record import Unreadable, read_records
from ..vocab import counted, fmt_time

# Per run, beyond training and evaluation: the notebook's kernel start, imports and reading the data
# (measured on the 2-core CPU machine, 2026-12-02: 4-7 s a run in the Fashion-MNIST grid)
OVERHEAD_S = 6.0
CALIBRATION_STEPS = 3   # timed training steps per shape (after one untimed), at least
CALIBRATION_IMAGES = 64  # and at least this many images: a small batch's step is short and its overhead varies
CHECKS_SHARE = 1 / 3     # a BatchNorm run's checks (train.run.bnchecks): a forward pass over the training and test
                         # splits at the training batch size, about a third of a training step per image

Shape = tuple  # (norm, batch_size, image_size, width)
Rates = dict   # shape -> (train images/s, eval images/s)


def shape(c: RunConfig) -> Shape:
    return (c.norm, c.batch_size, c.image_size, float(c.width))


def run_seconds(c: RunConfig, rates: Rates, overhead: float = OVERHEAD_S) -> float:
    """The one formula: epochs x (train images / train rate + test images / eval rate) + overhead, and for a norm of
    batch statistics its checks after training ((train + test images) / train rate x ``CHECKS_SHARE``)."""
    train_rate, eval_rate = rates[shape(c)]
    n_train, n_test = images(c.dataset, c.train_size, c.test_size)
    checks = (n_train + n_test) / train_rate * CHECKS_SHARE if norm_entry(c.norm).batch_stats else 0.0
    return c.epochs * (n_train / train_rate + n_test / eval_rate) + checks + overhead


def rate_folders(runs_dir: str | Path | None = None) -> list[Path]:
    """Where recorded speeds are read, the one rule: a runs folder (if given) and every committed study's records
    (reports/*/records of this repository), those that exist."""
    from ..paths import from_repo
    found = ([Path(runs_dir)] if runs_dir is not None else []) + sorted(from_repo("reports").glob("*/records"))
    return [f for f in found if f.is_dir()]


def recorded_rates(folders: Iterable[Path], device_name: str, threads: int) -> Rates:
    """The rates finished runs in ``folders`` measured on this device at this thread count, by shape."""
    found: dict[Shape, list[tuple[float, float]]] = {}
    for folder in folders:
        for _, m in read_records(folder):
            if isinstance(m, Unreadable):
                continue
            try:
                env, hist, c = m.env, m.history, m.config
                if m.status != "completed" or not hist or env.get("device_name") != device_name or \
                        env.get("cpu_threads") != threads:
                    continue
                train = sum(h["images_per_s"] for h in hist) / len(hist)
                test = m.dataset.get("test_images") or 0
                ev = sum(h.get("eval_seconds", 0.0) for h in hist)
                rate = test * len(hist) / ev if ev > 0 and test else math.inf
                key = (c["norm"], c["batch_size"], c["image_size"], float(c["width"]))
                found.setdefault(key, []).append((train, rate))
            except (KeyError, TypeError, ZeroDivisionError):
                continue   # an unreadable or older record says nothing about speed
    return {k: (sum(t for t, _ in v) / len(v), sum(e for _, e in v) / len(v)) for k, v in found.items()}


def calibration_steps(batch_size: int) -> int:
    """Timed steps for a shape: ``CALIBRATION_STEPS``, and at least ``CALIBRATION_IMAGES`` images (32 at batch 2)."""
    return max(CALIBRATION_STEPS, math.ceil(CALIBRATION_IMAGES / batch_size))


def calibrate(s: Shape, device: str = "auto", threads: int = 1) -> tuple[float, float]:
    """(train images/s, eval images/s) of one shape, timed here on the CPU on synthetic data: one untimed step,
    then ``calibration_steps`` timed ones, and one evaluation pass."""
    import torch

    from ..train.run import timing
    norm, bs, size, width = s
    dev = torch.device("cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        steps = calibration_steps(bs)
        ds = timing.synthetic_on(dev, max((steps + 1) * bs, 64), 128)
        train = timing.train_rate(norm, bs, ds, dev, size, width, steps, 1, False)
        ev = timing.eval_rate(norm, ds, dev, size, width, batches=1)
    finally:
        torch.set_num_threads(before)
    return train, ev


# ---------------------------------------------------------------------------------------------------
# On a GPU: timed in a subprocess on the GPU the runs will use (the grid's own process never holds a CUDA
# context), as the runs step: the CUDA graph captured and replayed, cuDNN autotuning on
# ---------------------------------------------------------------------------------------------------
GPU_WARMUP = 10   # untimed steps: the eager warm-ups, the capture and its first replay, then replays
GPU_STEPS = 20    # timed replays


def gpu_of(device: str) -> int:
    """The index of the GPU ``cuda:N`` names (0 for cuda and auto)."""
    return int(device.split(":")[1]) if device.startswith("cuda:") else 0


def on_cuda(device: str) -> bool:
    """Whether runs with this device setting run on a GPU here (no CUDA context is made to tell)."""
    if device.startswith("cuda"):
        return True
    if device != "auto":
        return False
    import torch
    return torch.cuda.is_available()


def probe(device: str, shapes: list[Shape]) -> dict[str, Any]:
    """The GPU's name and each shape's rates, from ``python -m alexlib.train.run.timing`` in a subprocess that sees
    only that GPU."""
    import json
    import os
    import subprocess
    import sys
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu_of(device))}
    cmd = [sys.executable, "-m", "alexlib.train.run.timing", "--device", "cuda", "--steps", str(GPU_STEPS),
           "--warmup", str(GPU_WARMUP), "--shapes", json.dumps([list(x) for x in shapes])]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"timing on {device} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


@dataclass
class Cost:
    seconds: float                 # wall time, the runs shared among those going at once
    run_seconds: float             # the runs' own seconds, summed
    recorded: int                  # shapes whose rates were recorded here
    calibrated: int                # shapes timed now
    calibration_s: float = 0.0
    per_run: dict[str, float] = field(default_factory=dict)
    timed_on: str = ""             # where the shapes not recorded were timed

    def line(self, n: int, at_once: int) -> str:
        how = []
        if self.recorded:
            how.append(f"rates recorded here for {counted(self.recorded, 'shape')}")
        if self.calibrated:
            how.append(f"a {self.calibration_s:.0f}-second calibration of {counted(self.calibrated, 'shape')} {self.timed_on}")
        return (f"estimate: about {fmt_time(self.seconds)} for {counted(n, 'run')}, {at_once} at once on this machine "
                f"({fmt_time(self.run_seconds)} of run time; from {' and '.join(how) or 'no rates'}; "
                f"per run {OVERHEAD_S:g} s of start-up added)")


GPU_NOTE = (f"on a GPU the figure comes from CUDA-graph replays ({GPU_STEPS} timed after {GPU_WARMUP} warm-up steps) "
            "in a short subprocess on the GPU the runs will use, and from rates recorded there")


def device_name_here(device: str = "auto") -> str:
    """The name a run's record gives the device the runs will use (``env.device_name``); for a GPU, asked in
    a subprocess."""
    from ..train.run.device import cpu_name
    return probe(device, [])["device_name"] if on_cuda(device) else cpu_name()


def estimate(todo: list[RunConfig], at_once: int, threads: int, folders: Iterable[Path],
             device_name: str, calibrate_shape: Callable[[Shape], tuple[float, float]] | None = None,
             device: str | None = None) -> Cost:
    """The cost of ``todo`` here; ``calibrate_shape`` (a seam for the tests) times a shape not recorded; ``device``:
    where the runs will run (default: the first run's device setting)."""
    device = device or todo[0].device
    rates = recorded_rates(folders, device_name, threads)
    recorded = {shape(c) for c in todo} & set(rates)
    missing = sorted({shape(c) for c in todo} - set(rates), key=str)
    t0 = time.monotonic()
    timed_on = "timed here on the CPU"
    if missing and calibrate_shape is None and on_cuda(device):
        got = probe(device, missing)["rates"]
        rates.update({s: tuple(r) for s, r in zip(missing, got)})
        timed_on = f"timed as CUDA-graph replays in a subprocess on cuda:{gpu_of(device)}"
    else:
        for s in missing:
            rates[s] = (calibrate_shape or (lambda x: calibrate(x, device, threads)))(s)
    calibration_s = time.monotonic() - t0
    per_run = {c.run_id(): run_seconds(c, rates) for c in todo}
    total = sum(per_run.values())
    return Cost(total / max(1, at_once), total, len(recorded), len(missing), calibration_s, per_run, timed_on)
