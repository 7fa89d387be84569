"""The per-layer training signals (alexlib.train.net.signals): in every epoch of a record for every weight layer, the
gradient norm against one computed by hand, the weight distance against its formula, the captured step
accumulating them, a resumed run's equal to a straight one's, and an older record read as lacking them."""
import copy
import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import alexlib.train.run.loop as T
import alexlib.train.run.trainer as TR
from alexlib.train.config import RunConfig
from alexlib.train.inputs import data as D
from alexlib.train.inputs.datasets import load_dataset
from alexlib.train.net.model import AlexNet
from alexlib.train.net.signals import LAYERS, SIGNALS, compact, layer_signals, significant
from alexlib.train.record import RunRecord
from alexlib.train.run.graphs import RecordedStepGraph

from conftest import REPO, numbers, stop_after_epoch, tiny


def by_hand(model):
    """The weight layers picked by their places in ``features`` and ``classifier`` (alexlib.train.net.model), not by
    the code under test."""
    f, c = model.features, model.classifier
    return dict(zip(LAYERS, [f[0], f[5], f[10], f[13], f[16], c[1], c[4], c[6]]))


def trainer(norm="bn", graph=None):
    cfg = RunConfig(dataset="synthetic", image_size=63, width=0.125, batch_size=16, lr=0.01, norm=norm, device="cpu")
    ds = load_dataset("synthetic", train_size=96, test_size=16)
    tr = TR.Trainer(cfg, ds, torch.device("cpu"), "fp32", TR.Speed(channels_last=False, graph=graph))
    return tr, list(D.batches(ds.train, 16, D.epoch_order(96, 0, 1)))


def test_every_epoch_holds_both_signals_for_every_layer_and_a_10_epoch_record_stays_small(tmp_path):
    r = T.train(tiny(tmp_path, norm="gn", epochs=10, train_size=32, test_size=16))
    assert [h["epoch"] for h in r["history"]] == list(range(1, 11))
    for h in r["history"]:
        assert list(h["layers"]) == list(LAYERS)
        for v in h["layers"].values():
            assert list(v) == list(SIGNALS) and v["grad_norm"] > 0 and v["weight_dist"] > 0
            assert all(x == significant(x) for x in v.values())   # 4 significant digits, not more
    assert len((tmp_path / "run" / "metrics.json").read_bytes()) < 100_000
    assert "layers" not in RunRecord.from_json(r).lacks
    got = layer_signals(r)
    assert list(got) == list(range(1, 11)) and got[10] == r["history"][-1]["layers"]


def test_the_grad_norm_is_the_mean_over_steps_of_each_weight_gradients_l2_norm():
    """Two steps, each checked against a copy of the model that runs the same batch with the same dropout draw
    and takes its gradient norms by hand."""
    tr, batches = trainer()
    expected = {name: [] for name in LAYERS}
    for x, y in batches[:2]:
        ref, rng = copy.deepcopy(tr.model), torch.get_rng_state()
        loss = F.cross_entropy(ref(D.prepare(x, 63, False)), y)
        loss.backward()
        for name, m in by_hand(ref).items():
            expected[name].append(torch.linalg.vector_norm(m.weight.grad).item())
        torch.set_rng_state(rng)   # the trainer's step draws the same dropout masks
        tr.step(x, y)
    grad, _ = tr.layer_signals()
    assert tr.epoch_steps == 2
    for name in LAYERS:
        assert grad[name] == pytest.approx(sum(expected[name]) / 2, rel=1e-5), name
    tr.reset_sums()
    assert tr.epoch_steps == 0 and all(math.isnan(g) for g in tr.layer_signals()[0].values())


def test_the_weight_distance_is_zero_at_init_and_its_formula_after_training(tmp_path):
    tr, batches = trainer(norm="gn")
    assert tr.layer_signals()[1] == {name: 0.0 for name in LAYERS}
    # a run trained through the loop: its last epoch's distances from the checkpoint's final weights and the
    # initial weights the same seed draws
    r = T.train(tiny(tmp_path, norm="gn", epochs=2, keep_checkpoint=True))
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    torch.manual_seed(0)
    init = by_hand(AlexNet("gn", 10, 63, 0.125))
    final = AlexNet("gn", 10, 63, 0.125)
    final.load_state_dict(ck["model"])
    for name, m in by_hand(final).items():
        w0 = init[name].weight.detach()
        assert torch.equal(ck["initial_weights"][name], w0)
        dist = (torch.linalg.vector_norm(m.weight.detach() - w0) / torch.linalg.vector_norm(w0)).item()
        assert r["history"][-1]["layers"][name]["weight_dist"] == pytest.approx(dist, rel=1e-3), name


def test_the_captured_step_accumulates_the_norms_and_the_graph_gives_the_eager_numbers():
    """The step a graph captures (here the stand-in's recorded one) adds to the sums itself: a real graph replays
    only what it captured. Replays and eager steps give the same sums, to the last bit."""
    made = []

    def make():
        made.append(RecordedStepGraph())
        return made[-1]
    graphed, batches = trainer(graph=make)
    for x, y in batches:   # 3 warm-ups, the capture and 2 replays
        graphed.step(x, y)
    eager, _ = trainer()   # made after: the seed set again, the same dropout draws
    for x, y in batches:
        eager.step(x, y)
    assert made[0].captures == 1 and made[0].replays == len(batches) - TR.GRAPH_WARMUP_STEPS
    assert torch.equal(graphed.grad_norm_sums, eager.grad_norm_sums)
    assert graphed.layer_signals() == eager.layer_signals()
    before = graphed.grad_norm_sums.clone()
    made[0].step()   # the captured step alone, not through Trainer.step
    assert (graphed.grad_norm_sums > before).all()


def straight_and_stopped(tmp_path, monkeypatch, norm: str, epochs: int, name: str):
    """A run trained straight through, and the same run stopped after its first epoch: the stopped run's
    configuration, checkpoint path and checkpoint."""
    straight = T.train(tiny(tmp_path, norm=norm, epochs=epochs, out_dir=str(tmp_path / "straight")))
    cfg = tiny(tmp_path, norm=norm, epochs=epochs, out_dir=str(tmp_path / name))
    stop_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg)
    monkeypatch.undo()
    ck_path = tmp_path / name / "checkpoint.pt"
    return straight, cfg, ck_path, torch.load(ck_path, weights_only=True)


def test_a_resumed_run_gives_the_straight_runs_signals_with_w0_from_its_checkpoint(tmp_path, monkeypatch):
    straight, cfg, ck_path, ck = straight_and_stopped(tmp_path, monkeypatch, "bn", 3, "resumed")
    assert set(ck["initial_weights"]) == set(LAYERS)
    # W0 is read from the checkpoint: one moved there moves the resumed epochs' distances
    moved = {**ck, "initial_weights": {k: 2 * v for k, v in ck["initial_weights"].items()}}
    torch.save(moved, ck_path)
    other = T.train(cfg)
    assert other["history"][1]["layers"]["fc8"]["weight_dist"] != straight["history"][1]["layers"]["fc8"]["weight_dist"]
    # resumed from the checkpoint as it was: the same numbers as straight through, signals included
    (tmp_path / "resumed" / "metrics.json").unlink()
    torch.save(ck, ck_path)
    resumed = T.train(cfg)
    assert numbers(resumed) == numbers(straight)
    assert [h["layers"] for h in resumed["history"]] == [h["layers"] for h in straight["history"]]


def test_a_checkpoint_from_before_the_signals_resumes_and_the_record_says_which_epochs_lack_them(tmp_path,
                                                                                                monkeypatch):
    straight, cfg, ck_path, ck = straight_and_stopped(tmp_path, monkeypatch, "gn", 2, "old")
    del ck["initial_weights"]   # as the code before the signals wrote it
    ck["history"] = [{k: v for k, v in h.items() if k != "layers"} for h in ck["history"]]
    torch.save(ck, ck_path)
    r = T.train(cfg)
    assert r["status"] == "completed" and "layers" in RunRecord.from_json(r).lacks
    got = layer_signals(r)
    assert got[1] is None and got[2] == straight["history"][1]["layers"]   # W0 redrawn by the same seed


def test_an_older_record_reads_with_the_signals_not_recorded():
    v3 = {"run_id": "x", "config": RunConfig(norm="gn").to_dict(), "status": "completed", "schema": 3,
          "code_digest": "0123456789ab",
          "history": [{"epoch": 1, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": 50.0}]}
    rec = RunRecord.from_json(v3)
    assert rec.lacks == ("layers",) and layer_signals(rec) is None and layer_signals(v3) is None
    committed = [json.loads(p.read_text()) for p in sorted((REPO / "reports" / "fashion" / "records").rglob("metrics.json"))]
    older = [m for m in committed if m.get("schema", 1) < 4][:5]   # the committed records made before the signals
    assert older and all(layer_signals(m) is None for m in older)
    layers = {name: {"grad_norm": 1.0, "weight_dist": 0.5} for name in LAYERS}
    v4 = {**v3, "schema": 4, "history": [{**v3["history"][0], "layers": layers}]}
    assert RunRecord.from_json(v4).lacks == () and layer_signals(v4) == {1: layers}


def test_compact_keeps_four_significant_digits_and_the_reader_loads_without_torch():
    c = compact({n: 1234567.0 for n in LAYERS}, {n: 0.000123456 for n in LAYERS})
    assert c["conv1"] == {"grad_norm": 1235000.0, "weight_dist": 0.0001235}
    code = ("import sys, alexlib.train.net.signals; "
            "print(any(m == 'torch' or m.startswith('torch.') for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
