"""The signals' cost benchmark (python -m alexlib.tools.bench --signals-overhead) runs on the CPU at a tiny size,
prints its table and writes valid JSON (no timing asserts), and its baseline leaves the gradient norms out."""
import json

import torch

from alexlib.tools.bench import main
from alexlib.tools.signals_bench import UnsignalledTrainer
from alexlib.train.config import RunConfig
from alexlib.train.inputs.datasets import load_dataset
from alexlib.train.run.trainer import Speed


def test_the_signals_overhead_is_timed_side_by_side(tmp_path, capsys):
    """--signals-overhead: the step with and without the per-layer signals, per width x batch size (no timing
    asserts)."""
    out = tmp_path / "s.json"
    assert main(["--signals-overhead", "0.125", "--device", "cpu", "--norms", "bn", "--batch-sizes", "2,4",
                 "--image-size", "63", "--steps", "2", "--warmup", "1", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [(r["width"], r["batch_size"]) for r in res["rows"]] == [(0.125, 2), (0.125, 4)]
    assert all(r["with_ms"] > 0 and r["without_ms"] > 0 and r["added_ms"] > 0 for r in res["rows"])
    assert res["threads"] >= 1 and "norms alone ms" in capsys.readouterr().out


def test_the_baseline_trains_alike_without_the_norms():
    cfg = RunConfig(dataset="synthetic", image_size=63, width=0.125, batch_size=8, device="cpu")
    ds = load_dataset("synthetic", train_size=16, test_size=8)
    tr = UnsignalledTrainer(cfg, ds, torch.device("cpu"), "fp32", Speed(channels_last=False))
    tr.step(ds.train.x[:8], ds.train.y[:8])
    assert tr.sums[2].item() == 8 and not tr.grad_norm_sums.any()
