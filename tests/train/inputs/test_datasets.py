"""The datasets a run may name, written once: names, titles, sizes, loaders found by name, datasets a test
registers, and the checks every loader's splits pass before a run trains on them."""
import pytest
import torch

from alexlib.train.inputs import data as D
from alexlib.train.inputs import datasets as DS
from alexlib.train.inputs.datasets import load_dataset, register, unregister


def test_labels_out_of_range_are_rejected():
    register("bad_labels", lambda d, a, b: (D.Split(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 2, 12])),) * 2, 10, "test")
    try:
        with pytest.raises(D.DataError, match="labels must lie in 0..9, found 0..12"):
            load_dataset("bad_labels")
    finally:
        unregister("bad_labels")


def test_synthetic_data_reads_no_files():
    origin = load_dataset("synthetic", train_size=20, test_size=10).origin
    assert origin.location is None and origin.files == {} and "no files read" in origin.note


def test_a_loader_that_returns_a_plain_pair_still_loads():
    register("plain_pair", lambda d, a, b: tuple(D.make_synthetic(20, 10)), 10, "test")
    try:
        ds = load_dataset("plain_pair")
    finally:
        unregister("plain_pair")
    assert len(ds.train) == 20 and ds.origin.location is None and ds.origin.files == {}


def test_each_dataset_has_one_title_and_its_sizes():
    assert DS.title("fashion_mnist") == "Fashion-MNIST" and DS.title("cifar10") == "CIFAR-10"
    assert DS.title("not registered") == "not registered"
    assert DS.images("cifar10") == (50_000, 10_000)
    assert DS.images("fashion_mnist", 11_520, 2_000) == (11_520, 2_000)
    assert DS.images("digits", 100_000, 0) == (1_257, 540)     # a subset larger than the split is the split


def test_the_configuration_accepts_exactly_the_registered_datasets():
    from alexlib.train.config import ConfigError, RunConfig
    with pytest.raises(ConfigError, match="dataset='mnist' is not allowed: choose one of cifar10, fashion_mnist"):
        RunConfig(dataset="mnist")
    register("mnist", lambda d, a, b: D.make_synthetic(8, 8), 10, "test")
    try:
        assert RunConfig(dataset="mnist").dataset == "mnist"
    finally:
        unregister("mnist")


def test_only_file_datasets_are_checked_before_a_grid(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(DS.REGISTRY, "fashion_mnist",
                        DS.REGISTRY["fashion_mnist"].__class__(**{**vars(DS.REGISTRY["fashion_mnist"]),
                                                                 "loader": lambda *a: calls.append(a)}))
    DS.check_available("fashion_mnist", tmp_path)
    DS.check_available("digits", tmp_path)          # embedded: nothing to check
    DS.check_available("synthetic", tmp_path)
    assert calls == [(str(tmp_path), 0, 0)]


def test_reencoding_as_jpeg_keeps_pictures_and_labels_and_matches_pillows_own_round_trip():
    import io

    import numpy as np
    import torch
    from PIL import Image

    from alexlib.train.inputs.datasets import REGISTRY, reencode_jpeg
    from alexlib.train.inputs.splits import Split
    ramp = np.tile(np.linspace(0, 255, 28, dtype=np.uint8), (28, 1))        # a smooth picture: little error
    x = torch.from_numpy(np.stack([ramp[None], ramp.T[None]]))              # (2, 1, 28, 28): grey, as Fashion
    out = reencode_jpeg(Split(x, torch.tensor([3, 7])))
    assert out.x.shape == x.shape and out.x.dtype == torch.uint8 and out.y.tolist() == [3, 7]
    assert 0 < (out.x.float() - x.float()).abs().mean() < 3                 # re-encoded, not another picture
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="JPEG", quality=75)
    assert np.array_equal(out.x[0, 0].numpy(), np.asarray(Image.open(buf)))   # Pillow's own round trip
    info = REGISTRY["fashion_mnist_jpeg"]
    assert "JPEG q75" in info.title and info.files and info.side == 28
