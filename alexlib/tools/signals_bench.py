"""What the per-layer training signals (alexlib.train.net.signals) cost: the Trainer's own step timed with them and
without them, side by side in one process on the same batches, for each norm x width x batch size.

    python -m alexlib.tools.bench --signals-overhead 0.125,0.25 --device cpu --image-size 63 --norms bn \\
        --batch-sizes 2,32 --steps 300 --warmup 5 --json docs/bench/signals-cpu-1thread.json

The two trainers take turns step by step (with, without; then without, with), each step timed alone (the device
synchronized around it), so that a shared machine's drifting load falls on both alike: the overhead is the median
over the pairs of the pair's ratio; each side's step time is its median. The added work is also timed alone (the
step's gradient norms, ``Trainer._add_grad_norms``, repeated on the last step's gradients), and the once-per-epoch
read of the signals (``Trainer.layer_signals``: one host read).
"""
from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from ..train.config import RunConfig
from ..train.run.device import resolve_precision
from ..train.run.timing import sync, synthetic_on
from ..train.run.trainer import Speed, Trainer


class UnsignalledTrainer(Trainer):
    """The trainer without the per-step gradient norms: the baseline the overhead is measured against."""

    def _add_grad_norms(self) -> None:
        pass


def overhead(norm: str, bs: int, width: float, image_size: int, dev: torch.device, steps: int,
             warmup: int) -> dict[str, Any]:
    """Milliseconds per step with and without the signals (medians over ``steps`` timed steps each, after ``warmup``
    untimed ones, graph capture included on CUDA), the overhead as a fraction (the median of the pairs' ratios), the
    norms' milliseconds per step timed alone and the epoch-end read's milliseconds."""
    n = max(bs * 8, 64)
    ds = synthetic_on(dev, n, 16)
    cfg = RunConfig(norm=norm, batch_size=bs, image_size=image_size, width=width, dataset="synthetic",
                    device=str(dev), progress=False)
    precision, speed = resolve_precision(cfg, dev), Speed.for_device(dev, cfg)
    sides = {"with": Trainer(cfg, ds, dev, precision, speed),
             "without": UnsignalledTrainer(cfg, ds, dev, precision, speed)}
    full = n // bs

    def batch(i):
        return ds.train.x[(i % full) * bs:(i % full + 1) * bs], ds.train.y[(i % full) * bs:(i % full + 1) * bs]

    def timed(step, *args) -> float:
        sync(dev)
        t = time.perf_counter()
        step(*args)
        sync(dev)
        return 1e3 * (time.perf_counter() - t)

    for tr in sides.values():
        for i in range(warmup):
            tr.step(*batch(i))
    ms: dict[str, list[float]] = {k: [] for k in sides}
    for i in range(steps):
        for k in (("with", "without") if i % 2 == 0 else ("without", "with")):
            ms[k].append(timed(sides[k].step, *batch(i)))
    tr = sides["with"]
    added = statistics.median(timed(tr._add_grad_norms) for _ in range(steps))
    read_ms = timed(tr.layer_signals)
    w, wo = statistics.median(ms["with"]), statistics.median(ms["without"])
    paired = statistics.median(a / b for a, b in zip(ms["with"], ms["without"])) - 1
    return {"norm": norm, "batch_size": bs, "width": width, "image_size": image_size, "with_ms": w, "without_ms": wo,
            "overhead": paired, "added_ms": added, "added_overhead": added / wo, "epoch_read_ms": read_ms}


def run(norms: list[str], widths: list[float], sizes: list[int], image_size: int, dev: torch.device, steps: int,
        warmup: int) -> list[dict[str, Any]]:
    rows = []
    print(f"\n{'norm':<5} {'width':>6} {'batch':>5} {'with ms':>8} {'without ms':>10} {'overhead':>8} "
          f"{'norms alone ms':>14} {'share':>6} {'epoch read ms':>13}", flush=True)
    for norm in norms:
        for width in widths:
            for bs in sizes:
                r = overhead(norm, bs, width, image_size, dev, steps, warmup)
                rows.append(r)
                print(f"{norm:<5} {width:>6g} {bs:>5} {r['with_ms']:8.3f} {r['without_ms']:10.3f} "
                      f"{100 * r['overhead']:+7.1f}% {r['added_ms']:14.3f} {100 * r['added_overhead']:5.1f}% "
                      f"{r['epoch_read_ms']:13.2f}", flush=True)
    return rows
