"""The first thing to run on a GPU: does the CUDA-graph path train as the eager path does?

    python -m alexlib.tools.gpucheck [--norms none,bn,ln,gn,lrn] [--epochs 2] [--json gpucheck.json]

For each norm, two short runs of train() with the same seed on the same data, one with every step
eager and one with the full-batch step captured in a CUDA graph (bf16 autocast and channels_last in
both), read through the real CIFAR-10 reader from files in its on-disk format (learnable generated
images: speed and agreement do not depend on the pixels, and CIFAR-10 itself need not be on the GPU
machine). Then one deterministic LRN run (the case that used to raise on CUDA). Prints one line per
check and a verdict line: PASS, or FAIL with what failed. Exit status 0 only on PASS.

What counts as agreement: bf16 rounding and cuDNN's autotuned kernels make the two runs differ a
little and training amplifies it, so each epoch's training loss must agree within LOSS_RTOL and the
final test accuracy within ACC_POINTS; the graphed run must say that its graph was captured and
checked (env.cuda_graph), and with BN, LN or GN both must learn (first-epoch loss above the last). Without
normalization and with LRN the network sits at chance (loss 2.303) for its first 1,000-1,500 SGD steps at lr
0.005 (the committed Fashion-MNIST records show it for 2-3 epochs), so after 2 x 64 steps "learned" is a coin
flip there: for them the check is that both runs agree, not that they learned.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..io import write_json
from ..train.inputs import data
from ..train.inputs.datasets import register, unregister
from ..train.net.norms import NORMED, NORMS
from ..train.run.loop import train

LOSS_RTOL = 0.05      # per-epoch training loss, graphed vs eager
ACC_POINTS = 5.0      # final test accuracy, graphed vs eager
DATASET = "cifar10_format_check"


def agree(eager: dict[str, Any], graphed: dict[str, Any]) -> list[str]:
    """What disagrees between an eager and a graphed run of one config (empty: they agree)."""
    bad = []
    for r, name in ((eager, "eager"), (graphed, "graphed")):
        if r["status"] != "completed":
            bad.append(f"{name} run {r['status']}: {r.get('error') or r.get('diverged_at')}")
    if bad:
        return bad
    if not graphed["env"].get("cuda_graph"):
        bad.append(f"graphed run did not use its graph ({graphed['env'].get('cuda_graph_note', 'no graph')})")
    for he, hg in zip(eager["history"], graphed["history"]):
        rel = abs(he["train_loss"] - hg["train_loss"]) / max(abs(he["train_loss"]), 1e-8)
        if rel > LOSS_RTOL:
            bad.append(f"epoch {he['epoch']} train loss {hg['train_loss']:.4f} graphed vs {he['train_loss']:.4f} "
                       f"eager ({100 * rel:.1f} % apart, limit {100 * LOSS_RTOL:.0f} %)")
    da = abs(eager["final"]["test_acc"] - graphed["final"]["test_acc"])
    if da > ACC_POINTS:
        bad.append(f"final test accuracy {graphed['final']['test_acc']:.2f} graphed vs "
                   f"{eager['final']['test_acc']:.2f} eager ({da:.2f} points apart, limit {ACC_POINTS:g})")
    if (eager.get("config") or {}).get("norm") in NORMED:
        for r, name in ((eager, "eager"), (graphed, "graphed")):
            h = r["history"]
            if len(h) > 1 and not h[-1]["train_loss"] < h[0]["train_loss"]:
                bad.append(f"{name} run did not learn (train loss {h[0]['train_loss']:.4f} -> {h[-1]['train_loss']:.4f})")
    return bad


def run(norms: list[str], epochs: int, image_size: int, train_size: int, batch_size: int, device: str,
        work: Path) -> dict[str, Any]:
    tr, te = data.make_synthetic(train_size, max(500, train_size // 5), seed=0)
    sums = data.write_cifar10_format(work / "data", tr, te)
    register(DATASET, lambda d, a, b: data.load_cifar10(d, checksums=sums), 10, "CIFAR-10-format files (gpucheck)")
    try:
        return _checks(norms, epochs, image_size, train_size, batch_size, device, work)
    finally:
        unregister(DATASET)


def _checks(norms: list[str], epochs: int, image_size: int, train_size: int, batch_size: int, device: str,
            work: Path) -> dict[str, Any]:
    base = dict(dataset=DATASET, data_dir=str(work / "data"), image_size=image_size, epochs=epochs,
                batch_size=batch_size, device=device, progress=False, seed=0)
    checks = []
    for norm in norms:
        runs = {}
        for graphed in (False, True):
            runs[graphed] = _train({**base, "norm": norm, "cuda_graph": graphed,
                                    "out_dir": str(work / f"{norm}-{'graph' if graphed else 'eager'}")})
        problems = agree(runs[False], runs[True])
        e, g = runs[False], runs[True]
        checks.append({"check": f"graph vs eager, {norm}", "ok": not problems, "problems": problems,
                       "eager_loss": [h["train_loss"] for h in e["history"]],
                       "graph_loss": [h["train_loss"] for h in g["history"]],
                       "eager_acc": (e.get("final") or {}).get("test_acc"), "graph_acc": (g.get("final") or {}).get("test_acc"),
                       "eager_img_s": [h["images_per_s"] for h in e["history"]] or [0.0],
                       "graph_img_s": [h["images_per_s"] for h in g["history"]] or [0.0]})
        print(_line(checks[-1]), flush=True)
    det = _train({**base, "norm": "lrn", "epochs": 1, "deterministic": True, "out_dir": str(work / "lrn-deterministic")})
    checks.append({"check": "deterministic LRN", "ok": det["status"] == "completed",
                   "problems": [] if det["status"] == "completed" else [str(det.get("error"))]})
    print(_line(checks[-1]), flush=True)
    env = det.get("env") or {"torch": torch.__version__}
    return {"env": env, "epochs": epochs, "image_size": image_size, "train_size": train_size,
            "batch_size": batch_size, "checks": checks, "pass": all(c["ok"] for c in checks)}


def _train(cfg: dict[str, Any]) -> dict[str, Any]:
    """train(), with a run that raises reported as a failed record (the check goes on to its verdict)."""
    try:
        return train(cfg)
    except Exception as e:  # noqa: BLE001 (every failure is a finding of the check)
        return {"status": "failed", "error": f"{type(e).__name__}: {e}", "history": [], "final": None, "env": {}}


def _line(c: dict[str, Any]) -> str:
    head = f"{'ok  ' if c['ok'] else 'FAIL'} {c['check']}"
    if "graph_loss" in c:
        head += (f": loss eager {', '.join(f'{v:.4f}' for v in c['eager_loss'])} | graphed "
                 f"{', '.join(f'{v:.4f}' for v in c['graph_loss'])}; test acc {c['eager_acc']} | {c['graph_acc']}; "
                 f"img/s last epoch {c['eager_img_s'][-1]:.0f} | {c['graph_img_s'][-1]:.0f}")
    return head + "".join(f"\n     {p}" for p in c["problems"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.tools.gpucheck", description=__doc__.splitlines()[0])
    p.add_argument("--norms", default=",".join(NORMS))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--train-size", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cuda", help="cuda (the check's purpose); cpu only exercises the script")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("FAIL: no CUDA device here; this check is for a GPU machine", file=sys.stderr)
        return 2
    # the deterministic run needs cuBLAS's fixed workspace, which is read when CUDA starts: set it first
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with tempfile.TemporaryDirectory(prefix="alexlib-gpucheck-") as tmp:
        res = run(a.norms.split(","), a.epochs, a.image_size, a.train_size, a.batch_size, a.device, Path(tmp))
    if a.json:
        write_json(a.json, res)
    failed = [c["check"] for c in res["checks"] if not c["ok"]]
    print(f"GPU CHECK: {'PASS' if res['pass'] else 'FAIL (' + '; '.join(failed) + ')'} "
          f"on {res['env'].get('device_name')}, torch {res['env'].get('torch')}, {res['env'].get('precision')}")
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
