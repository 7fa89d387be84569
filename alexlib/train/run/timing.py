"""How fast a training step and an evaluation pass of one shape run here, timed as train() runs them (the
Trainer's own step, warm-up steps untimed): what the grid's cost estimate calibrates with and the benchmark
measures. Synthetic data: speed does not depend on pixel values."""
from __future__ import annotations

import math
import time

import torch

from ..config import RunConfig
from ..inputs.data import Dataset, Split, epoch_order, make_synthetic
from .device import resolve_precision
from .trainer import Speed, Trainer


def sync(dev: torch.device) -> None:
    """Wait for the device's queued work (a timer read before it would time the queueing, not the work)."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def synthetic_on(dev: torch.device, n_train: int, n_test: int) -> Dataset:
    tr, te = make_synthetic(n_train, n_test)
    return Dataset("synthetic", Split(tr.x.to(dev), tr.y.to(dev)), Split(te.x.to(dev), te.y.to(dev)), 10,
                     "synthetic (timing)")


def train_rate(norm: str, bs: int, ds: Dataset, dev: torch.device, image_size: int, width: float,
               steps: int, warmup: int, graph: bool) -> float:
    """Training images/s of the Trainer's step: ``warmup`` untimed steps (on CUDA with ``graph``, the graph's
    warm-up and capture happen there), then ``steps`` timed ones."""
    cfg = RunConfig(norm=norm, batch_size=bs, image_size=image_size, width=width, dataset="synthetic",
                    device=str(dev), cuda_graph=graph, progress=False)
    tr = Trainer(cfg, ds, dev, resolve_precision(cfg, dev), Speed.for_device(dev, cfg))
    n = len(ds.train)
    order = epoch_order(n, 0, 1).to(dev)
    full = n // bs

    def batch(i):
        idx = order[(i % full) * bs:(i % full + 1) * bs]
        return ds.train.x[idx], ds.train.y[idx]

    for i in range(warmup):
        tr.step(*batch(i))
    sync(dev)
    t = time.perf_counter()
    for i in range(warmup, warmup + steps):
        tr.step(*batch(i))
    sync(dev)
    secs = time.perf_counter() - t
    if not math.isfinite(tr.sums[0].item()):
        raise RuntimeError(f"non-finite loss while timing {norm} at batch {bs}")
    return steps * bs / secs


def eval_rate(norm: str, ds: Dataset, dev: torch.device, image_size: int, width: float, batches: int = 4) -> float:
    """Test-evaluation images/s as train() evaluates (eval mode, inference_mode, large batches)."""
    cfg = RunConfig(norm=norm, image_size=image_size, width=width, dataset="synthetic", device=str(dev),
                    progress=False, eval_batch_size=500 if dev.type == "cuda" else 64)
    tr = Trainer(cfg, ds, dev, resolve_precision(cfg, dev), Speed.for_device(dev, cfg))
    sub = Split(ds.test.x[:cfg.eval_batch_size * batches], ds.test.y[:cfg.eval_batch_size * batches])
    tr.evaluate(Split(sub.x[:cfg.eval_batch_size], sub.y[:cfg.eval_batch_size]))  # warm-up
    sync(dev)
    t = time.perf_counter()
    tr.evaluate(sub)
    sync(dev)
    return len(sub) / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    """``python -m alexlib.train.run.timing --device cuda --shapes '[[norm, batch, px, width], ...]'``: the device's
    name and each shape's (train, eval) images/s as one JSON line, for the grid's estimate (run in a subprocess,
    so the grid's own process holds no CUDA context)."""
    import argparse
    import json

    from .device import cpu_name, resolve_device
    p = argparse.ArgumentParser(prog="python -m alexlib.train.run.timing", description=main.__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--shapes", default="[]", help="JSON list of [norm, batch size, image size, width]")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (the graph's warm-ups and capture)")
    a = p.parse_args(argv)
    dev = resolve_device(RunConfig(device=a.device))
    torch.backends.cudnn.benchmark = dev.type == "cuda"   # as the runs step (alexlib.train.run.device.run_context)
    rates = []
    for norm, bs, size, width in json.loads(a.shapes):
        ds = synthetic_on(dev, max((a.steps + a.warmup) * int(bs), 64), 512 if dev.type == "cuda" else 128)
        rates.append([train_rate(norm, int(bs), ds, dev, int(size), float(width), a.steps, a.warmup, dev.type == "cuda"),
                      eval_rate(norm, ds, dev, int(size), float(width), batches=1)])
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name()
    print(json.dumps({"device_name": name, "rates": rates}))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
