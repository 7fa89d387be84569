"""What a run does to its images (alexlib.train.inputs.transforms): the same functions data.py has always exported, no
reader among their imports (the training code's digest covers this module and not the readers), the checks a
loader's splits pass, and the batches' order and shape."""
import ast
from pathlib import Path

import pytest
import torch

from alexlib.train.inputs import data as D
from alexlib.train.inputs import transforms as X
from alexlib.train.inputs.splits import DataError, Split


def test_data_still_exports_the_transforms_themselves():
    for name in ("MEAN", "STD", "SUBSET_SEED", "batches", "epoch_order", "on_device", "prepare", "stratified_subset"):
        assert getattr(D, name) is getattr(X, name)


def test_the_transforms_import_no_reader():
    tree = ast.parse(Path(X.__file__).read_text())
    local = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
    assert local == {"splits"}


def test_on_device_checks_subsets_and_keeps_the_origin():
    loaded = D.make_synthetic(40, 20)
    ds = X.on_device("synthetic", loaded, 10, "test", train_size=20, test_size=0)
    assert len(ds.train) == 20 and len(ds.test) == 20 and ds.origin is loaded.origin
    assert sorted(torch.bincount(ds.train.y, minlength=10).tolist()) == [2] * 10   # stratified: 2 per class
    bad = (Split(torch.zeros(4, 2, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64)),) * 2
    with pytest.raises(DataError, match=r"images must be uint8 \(N, 1\|3, H, W\), got \(4, 2, 8, 8\)"):
        X.on_device("two_channels", bad, 10, "test")


def test_a_batch_is_ordered_resized_and_normalized():
    split = Split(torch.full((5, 1, 8, 8), 255, dtype=torch.uint8), torch.arange(5))
    order = X.epoch_order(5, seed=0, epoch=1)
    (x, y), (x2, y2) = X.batches(split, 3, order)
    assert torch.equal(torch.cat([y, y2]), order) and len(y2) == 2
    out = X.prepare(x, 16)
    assert out.shape == (3, 3, 16, 16) and torch.allclose(out, torch.full_like(out, (1 - X.MEAN) / X.STD))
