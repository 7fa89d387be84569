"""Training-speed benchmark: alexlib's loop side by side with a report-style loop, same device, same data.

    python -m alexlib.tools.bench [--device auto] [--norms none,bn,ln,gn,lrn] [--batch-sizes 8,16,32,64]
                            [--image-size 224] [--steps 30] [--json bench.json] [--measure-grid 0.02]
    python -m alexlib.tools.bench --grid-settings params/demo.yaml --settings 1x2,2x1 [--set epochs=1]
    python -m alexlib.tools.bench --signals-overhead 0.125,0.25 --image-size 63 --batch-sizes 2,32 [--steps 300]

For each norm x batch size: images/s of
  report  the report's loop: torchvision PIL transforms (Resize, ToTensor, Normalize) in a DataLoader with
          worker processes, fp32, eager, the loss read back every step;
  eager   alexlib's training step without a CUDA graph (uint8 data on the device, resize there;
          bf16 autocast and channels_last on CUDA);
  tuned   alexlib's step as train() runs it (on CUDA: the whole step in one CUDA graph; on the CPU the
          same as eager);
the ratio tuned/report, and the share of the arithmetic limit: training FLOPs per image (torch's
FlopCounterMode) x images/s over the device's measured matrix-multiply rate. Synthetic CIFAR-shaped data
(speed does not depend on pixel values); warm-up steps are not timed. It then estimates the wall time of
params/paper.yaml (training plus per-epoch test evaluation), or measures it on a fraction of the data.
``--signals-overhead`` instead times the step with and without the per-layer training signals
(alexlib.tools.signals_bench).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..grid import estimate
from ..train.config import RunConfig
from ..train.inputs import data as train_data
from ..train.inputs.datasets import images
from ..train.net.model import AlexNet
from ..train.net.norms import NORMS
from ..train.record import Unreadable, read_records
from ..train.run.device import environment, resolve_device, resolve_precision
from ..train.run.timing import eval_rate, sync, train_rate
from ..vocab import counted


def matmul_rate(dev: torch.device, precision: str) -> float:
    """Measured dense matrix-multiply rate in FLOP/s (bf16 on CUDA, fp32 on the CPU)."""
    n, reps = (8192, 20) if dev.type == "cuda" else (1024, 5)
    dtype = torch.bfloat16 if (dev.type == "cuda" and precision == "bf16") else torch.float32
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(dev)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(dev)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def train_flops_per_image(norm: str, image_size: int, width: float) -> float:
    """Forward + backward FLOPs of one training step, per image (counted on the CPU at batch 2)."""
    from torch.utils.flop_counter import FlopCounterMode
    model = AlexNet(norm, image_size=image_size, width=width)
    x = torch.randn(2, 3, image_size, image_size)
    y = torch.tensor([0, 1])
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(x), y).backward()
    return fc.get_total_flops() / 2


# --------------------------------------------------------------------------------------------------
# The report-style loop
# --------------------------------------------------------------------------------------------------
class PILImages(torch.utils.data.Dataset):
    """CIFAR-shaped uint8 images served as PIL images through torchvision transforms, as the report did."""

    def __init__(self, x_hwc, y, image_size: int):
        from torchvision import transforms
        self.x, self.y = x_hwc, y
        self.tf = transforms.Compose([transforms.Resize(image_size), transforms.ToTensor(),
                                      transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        from PIL import Image
        return self.tf(Image.fromarray(self.x[i])), int(self.y[i])


def bench_report_style(norm: str, bs: int, split: train_data.Split, dev: torch.device, image_size: int, width: float,
                       steps: int, warmup: int, workers: int) -> float:
    x_hwc = split.x.permute(0, 2, 3, 1).contiguous().numpy()
    loader = torch.utils.data.DataLoader(PILImages(x_hwc, split.y.numpy(), image_size), batch_size=bs, shuffle=True,
                                         num_workers=workers, persistent_workers=workers > 0, drop_last=True)
    torch.manual_seed(0)
    model = AlexNet(norm, image_size=image_size, width=width).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
    crit = torch.nn.CrossEntropyLoss()
    done, t0, running = 0, None, 0.0
    while done < warmup + steps:
        for inputs, labels in loader:
            if done == warmup:
                sync(dev)
                t0 = time.perf_counter()
            inputs, labels = inputs.to(dev), labels.to(dev)
            opt.zero_grad()
            loss = crit(model(inputs), labels)
            loss.backward()
            opt.step()
            running += loss.item()  # the report's per-step read-back (a host sync every step)
            done += 1
            if done == warmup + steps:
                break
    sync(dev)
    return steps * bs / (time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------
# The paper grid's wall time
# --------------------------------------------------------------------------------------------------
def paper_grid_runs() -> list[RunConfig]:
    from ..grid.plan import load_grid
    from ..paths import PARAMS
    return load_grid(PARAMS / "paper.yaml").runs


def grid_seconds(rates: estimate.Rates, overhead: dict[estimate.Shape, float] | None = None) -> dict[str, Any]:
    """Seconds for params/paper.yaml by the grid's own estimate (``estimate.run_seconds``) at these rates; runs whose
    shape was not measured are left out and counted."""
    total, counted, missing = 0.0, 0, 0
    for cfg in paper_grid_runs():
        s = estimate.shape(cfg)
        if s not in rates:
            missing += 1
            continue
        total += estimate.run_seconds(cfg, rates, (overhead or {}).get(s, 0.0))
        counted += 1
    return {"runs_counted": counted, "runs_not_measured": missing, "seconds": total}


def estimate_grid(rows: list[dict[str, Any]], eval_rates: dict[str, float], image_size: int,
                  width: float) -> dict[str, Any]:
    """params/paper.yaml's seconds from the measured tuned step rates and evaluation rates."""
    rates = {(r["norm"], r["batch_size"], image_size, float(width)): (r["tuned_img_s"], eval_rates[r["norm"]])
             for r in rows if r["norm"] in eval_rates}
    return {"method": "estimate from measured step and evaluation rates", **grid_seconds(rates)}


def measure_grid(fraction: float, norms: list[str], sizes: list[int], dev: torch.device, image_size: int,
                 width: float) -> dict[str, Any]:
    """Runs train() itself (data on the device, graphs, per-epoch evaluation, checkpoints) for two epochs
    of each norm x batch size on ``fraction`` of CIFAR-10's sizes. The second epoch (steady state: no
    graph capture, no cudnn autotuning) gives the rates; the run's one-time setup (model, data, first-epoch
    extra) is its overhead."""
    import tempfile

    from ..train.run.loop import train
    n_train, n_test = images("cifar10")
    rates, overhead = {}, {}
    with tempfile.TemporaryDirectory(prefix="alexlib-bench-") as tmp:
        for norm in norms:
            for bs in sizes:
                cfg = RunConfig(norm=norm, batch_size=bs, dataset="synthetic", image_size=image_size, width=width,
                                train_size=max(2 * bs, int(n_train * fraction)), test_size=max(1, int(n_test * fraction)),
                                epochs=2, device=str(dev), out_dir=f"{tmp}/{norm}-{bs}", progress=False)
                t = time.perf_counter()
                rec = train(cfg)
                total = time.perf_counter() - t
                h1, h2 = rec["history"]
                s = (norm, bs, image_size, float(width))
                rates[s] = (h2["images_per_s"], rec["dataset"]["test_images"] / h2["eval_seconds"])
                overhead[s] = total - h1["seconds"] - h2["seconds"] + max(0.0, h1["seconds"] - h2["seconds"])
    return {"method": f"measured: train() on {fraction:g} of CIFAR-10's sizes, 2nd epoch's rates, plus setup",
            **grid_seconds(rates, overhead),
            "epoch_seconds": {f"{n}-{b}": estimate.run_seconds(RunConfig(norm=n, batch_size=b, image_size=i, width=w,
                                                                  epochs=1), rates, 0.0)
                              for (n, b, i, w) in rates},
            "setup_seconds": {f"{s[0]}-{s[1]}": v for s, v in overhead.items()}}


# --------------------------------------------------------------------------------------------------
def run(args) -> dict[str, Any]:
    cfg = RunConfig(device=args.device, image_size=args.image_size, width=args.width, dataset="synthetic")
    dev = resolve_device(cfg)
    precision = resolve_precision(cfg, dev)
    norms = [n for n in args.norms.split(",") if n]
    sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    bad = [n for n in norms if n not in NORMS]
    if bad:
        raise SystemExit(f"error: unknown norm(s) {bad}; choose from {', '.join(NORMS)}")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    n_imgs = max(sizes) * (args.steps + args.warmup + 2)
    train_split, test_split = train_data.make_synthetic(n_imgs, 2000 if dev.type == "cuda" else 256)
    ds = train_data.Dataset("synthetic", train_data.Split(train_split.x.to(dev), train_split.y.to(dev)),
                   train_data.Split(test_split.x.to(dev), test_split.y.to(dev)), 10, "synthetic (benchmark)")
    rate = matmul_rate(dev, precision)
    print(f"device {environment(dev, precision, RunConfig())['device_name']}, torch {torch.__version__}, "
          f"{precision}; matmul {rate / 1e12:.2f} TFLOP/s; {args.image_size} px, width {args.width:g}; "
          f"{args.steps} timed steps after {args.warmup} warm-up", flush=True)
    rows = []
    for norm in norms:
        flops = train_flops_per_image(norm, args.image_size, args.width)
        for bs in sizes:
            row = {"norm": norm, "batch_size": bs, "train_flops_per_image": flops}
            if not args.skip_report:
                row["report_img_s"] = bench_report_style(norm, bs, train_split, dev, args.image_size, args.width,
                                                         args.steps, args.warmup, args.workers)
            row["eager_img_s"] = train_rate(norm, bs, ds, dev, args.image_size, args.width, args.steps,
                                               args.warmup, graph=False)
            row["tuned_img_s"] = (train_rate(norm, bs, ds, dev, args.image_size, args.width, args.steps,
                                                args.warmup, graph=True) if dev.type == "cuda" else row["eager_img_s"])
            row["speedup_vs_report"] = row["tuned_img_s"] / row["report_img_s"] if "report_img_s" in row else None
            row["share_of_matmul_limit"] = row["tuned_img_s"] * flops / rate
            rows.append(row)
            print(_fmt_row(row), flush=True)
    evals = {n: eval_rate(n, ds, dev, args.image_size, args.width) for n in norms}
    grid = estimate_grid(rows, evals, args.image_size, args.width) if args.image_size == 224 and args.width == 1.0 \
        else None
    measured = (measure_grid(args.measure_grid, norms, sizes, dev, args.image_size, args.width)
                if args.measure_grid else None)
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "env": environment(dev, precision, RunConfig()), "matmul_flops_per_s": rate,
            "image_size": args.image_size, "width": args.width, "steps": args.steps, "warmup": args.warmup,
            "workers": args.workers, "rows": rows, "eval_img_s": evals, "paper_grid_estimate": grid,
            "paper_grid_measured": measured, "command": " ".join(sys.argv)}


# --------------------------------------------------------------------------------------------------
# A whole grid under several parallel settings (runs at once x CPU threads each)
# --------------------------------------------------------------------------------------------------
def parse_settings(text: str) -> list[tuple[int, int]]:
    """"1x2,2x1" -> [(1, 2), (2, 1)]: runs at once x CPU threads per run."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            jobs, threads = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise SystemExit(f"error: --settings takes JOBSxTHREADS pairs such as 1x2,2x1; got {item!r}") from None
        if jobs < 1 or threads < 1:
            raise SystemExit(f"error: --settings: jobs and threads must be at least 1, got {item!r}")
        out.append((jobs, threads))
    return out


def measure_grid_settings(grid: str, settings: list[tuple[int, int]], overrides: list[str]) -> dict[str, Any]:
    """Runs the grid once per setting, each into a fresh folder, one after another (never two at once),
    and times it; also says whether the settings gave the same final accuracies."""
    import subprocess
    import tempfile
    rows = []
    with tempfile.TemporaryDirectory(prefix="alexlib-grid-bench-") as tmp:
        for jobs, threads in settings:
            out = Path(tmp) / f"{jobs}x{threads}"
            cmd = [sys.executable, "-m", "alexlib.grid", grid, "--out", str(out), "--jobs", str(jobs),
                   "--threads", str(threads)] + [a for o in overrides for a in ("--set", o)]
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            secs = time.perf_counter() - t
            if r.returncode != 0:
                raise SystemExit(f"error: the grid failed under {jobs}x{threads}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
            accs = {m.parent.name: None if isinstance(rec, Unreadable) else (rec.final or {}).get("test_acc")
                    for m, rec in read_records(out)}
            rows.append({"jobs": jobs, "threads": threads, "seconds": secs, "runs": len(accs), "acc": accs})
            print(f"  {jobs} at once x {counted(threads, 'thread')}: {secs:6.1f} s for {len(accs)} runs", flush=True)
    base = rows[0]
    for r in rows:
        r["x_first"] = r["seconds"] / base["seconds"]
        r["same_accuracies_as_first"] = sum(r["acc"][k] == base["acc"].get(k) for k in r["acc"])
    return {"grid": grid, "overrides": overrides, "cores": os.cpu_count(), "rows": rows,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def print_grid_settings(res: dict[str, Any]) -> None:
    print(f"\n{res['grid']} {' '.join(res['overrides'])} on {res['cores']} cores")
    print(f"{'runs x threads':>14} {'wall s':>8} {'x first':>8} {'same final acc as first':>24}")
    for r in res["rows"]:
        print(f"{r['jobs']:>9} x {r['threads']:<2} {r['seconds']:8.1f} {r['x_first']:8.2f} "
              f"{r['same_accuracies_as_first']:>14} of {r['runs']}")


def signals_overhead(a) -> dict[str, Any]:
    """The per-layer signals' cost per step, with and without them side by side (alexlib.tools.signals_bench)."""
    from . import signals_bench
    dev = resolve_device(RunConfig(device=a.device))
    widths = [float(w) for w in a.signals_overhead.split(",") if w]
    env = environment(dev, resolve_precision(RunConfig(device=a.device), dev), RunConfig())
    print(f"device {env['device_name']}, torch {torch.__version__}, {counted(torch.get_num_threads(), 'thread')}; "
          f"{a.image_size} px; {a.steps} timed steps a side, taking turns, after {a.warmup} warm-up", flush=True)
    rows = signals_bench.run([n for n in a.norms.split(",") if n], widths, [int(b) for b in a.batch_sizes.split(",")
                             if b], a.image_size, dev, a.steps, a.warmup)
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "env": env,
            "threads": torch.get_num_threads(), "rows": rows, "command": " ".join(sys.argv)}


HEADER = f"{'norm':<5} {'batch':>5} {'report img/s':>12} {'eager img/s':>11} {'tuned img/s':>11} {'x report':>8} {'% matmul':>8}"


def _fmt_row(r: dict[str, Any]) -> str:
    rep = f"{r['report_img_s']:12.1f}" if r.get("report_img_s") else f"{'-':>12}"
    ratio = f"{r['speedup_vs_report']:8.2f}" if r.get("speedup_vs_report") else f"{'-':>8}"
    return (f"{r['norm']:<5} {r['batch_size']:>5} {rep} {r['eager_img_s']:11.1f} {r['tuned_img_s']:11.1f} "
            f"{ratio} {100 * r['share_of_matmul_limit']:7.1f}%")


def print_table(res: dict[str, Any]) -> None:
    print("\n" + HEADER)
    for r in res["rows"]:
        print(_fmt_row(r))
    print("eval img/s: " + ", ".join(f"{k} {v:.0f}" for k, v in res["eval_img_s"].items()))
    for key in ("paper_grid_estimate", "paper_grid_measured"):
        g = res.get(key)
        if g:
            print(f"paper grid ({g['runs_counted']} runs counted, {g['runs_not_measured']} not measured): "
                  f"{g['seconds'] / 60:.1f} min [{g['method']}]")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.tools.bench", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--norms", default=",".join(NORMS))
    p.add_argument("--batch-sizes", default="8,16,32,64")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (graph capture included)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="report-style DataLoader workers")
    p.add_argument("--skip-report", action="store_true", help="do not run the report-style loop")
    p.add_argument("--measure-grid", type=float, default=0.0, metavar="FRACTION",
                   help="also time train() for one epoch per cell on this fraction of CIFAR-10's sizes")
    p.add_argument("--grid-settings", metavar="GRID_YAML",
                   help="instead: time this whole grid once per --settings, side by side")
    p.add_argument("--settings", default="1x2,2x1", help="with --grid-settings: JOBSxTHREADS pairs (default 1x2,2x1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="with --grid-settings: override a parameter of every run (e.g. epochs=1)")
    p.add_argument("--signals-overhead", metavar="WIDTHS",
                   help="instead: time the step with and without the per-layer signals at these widths (e.g. "
                        "0.125,0.25), for each of --norms and --batch-sizes, side by side")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    if a.steps < 1 or a.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")
    if a.signals_overhead:
        res = signals_overhead(a)
    elif a.grid_settings:
        res = measure_grid_settings(a.grid_settings, parse_settings(a.settings), a.set)
        print_grid_settings(res)
    else:
        res = run(a)
        print_table(res)
    if a.json:
        from ..io import write_json
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        write_json(a.json, res)
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
