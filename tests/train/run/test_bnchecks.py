"""The two extra test accuracies of a BatchNorm run (alexlib.train.run.bnchecks): recomputed statistics and each test
batch's own."""
from __future__ import annotations

import torch

from alexlib.train.run.bnchecks import bn_layers, recompute_statistics
from alexlib.train.run.loop import train

from conftest import tiny


def _trainer(tmp_path, **kw):
    from alexlib.train.config import RunConfig
    from alexlib.train.inputs.datasets import load_dataset
    from alexlib.train.run.trainer import Speed, Trainer
    cfg = RunConfig.from_dict(tiny(tmp_path, norm="bn", **kw))
    ds = load_dataset(cfg.dataset, cfg.data_dir, cfg.train_size, cfg.test_size, torch.device("cpu"))
    return Trainer(cfg, ds, torch.device("cpu"), "fp32", Speed(channels_last=False))


def test_recomputed_statistics_are_the_cumulative_average_of_every_training_batchs(tmp_path):
    """The first BatchNorm's recomputed mean is the mean over the training batches of each batch's channel mean
    (its input does not depend on any earlier BatchNorm); the network trained is left as it was."""
    from alexlib.train.inputs.data import batches, prepare
    tr = _trainer(tmp_path, batch_size=8)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    import copy
    model = copy.deepcopy(tr.model)
    first = bn_layers(model)[0]
    seen_inputs = []
    first.register_forward_hook(lambda m, inp, out: seen_inputs.append(inp[0].detach()))
    n = recompute_statistics(tr, model)
    assert n == 96 // 8 == len(seen_inputs)
    expected = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen_inputs]).mean(0)
    assert torch.allclose(first.running_mean, expected, atol=1e-5)
    assert first.momentum is None and int(first.num_batches_tracked) == n
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert all(torch.equal(before[k], v) for k, v in tr.model.state_dict().items())
    assert next(iter(batches(tr.ds.train, 8)))[0].shape[0] == 8 and prepare is not None


def test_a_batchnorm_run_records_both_accuracies_and_other_norms_none(tmp_path):
    bn = train(tiny(tmp_path / "bn", norm="bn", batch_size=4, train_size=97))
    c = bn["bn_checks"]
    assert set(c) == {"recomputed", "batch_stats", "seconds"}
    assert 0 <= c["recomputed"]["test_acc"] <= 100 and 0 <= c["batch_stats"]["test_acc"] <= 100
    assert c["recomputed"]["train_batches"] == 24        # 97 = 24 x 4 + a last batch of one image, left out
    assert c["batch_stats"] == c["batch_stats"] | {"batch_size": 4, "test_images": 48}
    # the checks evaluate copies: the run's own test accuracy is the last epoch's, as for every norm
    assert bn["final"]["test_acc"] == bn["history"][-1]["test_acc"]
    gn = train(tiny(tmp_path / "gn", norm="gn", batch_size=4))
    assert "bn_checks" not in gn


def test_normalizing_each_test_batch_by_itself_differs_from_the_running_averages(tmp_path):
    """The two evaluations are different computations: a freshly made network's running averages (0 and 1) are
    not its batches' statistics."""
    from alexlib.train.run.trainer import evaluate
    tr = _trainer(tmp_path, batch_size=4)
    own = evaluate(tr, tr.model, tr.ds.test, 4, batch_stats=True)
    running = evaluate(tr, tr.model, tr.ds.test, 4)
    assert own[2] == running[2] == 48 and own[0] != running[0]
