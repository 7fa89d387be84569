"""Datasets: the CIFAR-10 reading path on test-written files, idx files, digits, subsets, the device batch."""
import hashlib
from pathlib import Path

import pytest
import torch

from alexlib.train.inputs import data as D

from conftest import write_fashion_files


def test_cifar_reader_reads_test_written_files(cifar_dir):
    root, sums = cifar_dir
    train, test = D.load_cifar10(root, checksums=sums)
    assert train.x.shape == (200, 3, 32, 32) and train.x.dtype == torch.uint8
    assert test.x.shape == (40, 3, 32, 32) and set(test.y.tolist()) <= set(range(10))
    # pixels come back in CHW order exactly as written
    ref, _ = D.make_synthetic(200, 40, seed=0)
    assert torch.equal(train.x[:40], ref.x[:40]) and torch.equal(train.y, ref.y)


def test_real_cifar_checksums_are_torchvisions():
    sums = D.cifar10_checksums()
    assert len(sums) == 7 and sums["test_batch"] == "40351d587109b95175f43aff81a1287e"


def test_missing_cifar_offline_says_which_file_to_put_where(tmp_path):
    with pytest.raises(D.DataError) as e:
        D.load_cifar10(tmp_path / "nothing", download=False)
    msg = str(e.value)
    assert "cifar-10-python.tar.gz" in msg and str(tmp_path / "nothing") in msg and "c58f30108f718f92721af3b95e74349a" in msg


def test_test_files_do_not_pass_as_real_cifar(cifar_dir):
    root, _ = cifar_dir  # the real md5 sums reject them: fake files are never read as CIFAR-10
    with pytest.raises(D.DataError, match="md5 mismatch"):
        D.load_cifar10(root, download=False)


def test_corrupted_cifar_file_is_named(cifar_dir):
    root, sums = cifar_dir
    p = root / D.CIFAR10_FOLDER / "data_batch_3"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(D.DataError, match="data_batch_3.*md5 mismatch|md5 mismatch.*data_batch_3"):
        D.load_cifar10(root, checksums=sums)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx_files(tmp_path, gz):
    write_fashion_files(tmp_path / "fm", gz=gz)
    train, test = D.load_fashion_mnist(tmp_path / "fm", download=False)
    assert train.x.shape == (60, 1, 28, 28) and test.x.shape == (30, 1, 28, 28)
    assert train.y.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_truncated_idx_file_is_named(tmp_path):
    write_fashion_files(tmp_path / "fm", gz=False)
    p = tmp_path / "fm" / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(D.DataError, match="train-images-idx3-ubyte is truncated"):
        D.load_fashion_mnist(tmp_path / "fm", download=False)


def test_digits_split_is_fixed_and_stratified():
    a_train, a_test = D.load_digits_split()
    b_train, _ = D.load_digits_split()
    assert (len(a_train), len(a_test)) == (1257, 540)
    assert torch.equal(a_train.x, b_train.x)
    counts = torch.bincount(a_test.y, minlength=10)
    assert counts.min() >= 52 and counts.max() <= 56
    assert a_train.x.max() == 255


def test_stratified_subset_keeps_class_proportions():
    y = torch.tensor([0] * 700 + [1] * 200 + [2] * 100)
    s = D.stratified_subset(D.Split(torch.zeros(1000, 1, 2, 2, dtype=torch.uint8), y), 100)
    assert len(s) == 100 and torch.bincount(s.y).tolist() == [70, 20, 10]


def test_prepare_maps_pixels_to_minus_one_one_and_repeats_grey():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)     # every pixel value once
    out = D.prepare(x, 16)                                               # no resize at the same size
    assert out.shape == (1, 3, 16, 16)
    expected = torch.arange(256, dtype=torch.float32).reshape(16, 16) / 127.5 - 1.0   # 0 -> -1, 255 -> 1
    for c in range(3):
        torch.testing.assert_close(out[0, c], expected, rtol=0, atol=1e-6)
    assert out[0, 0, 0, 0] == -1.0 and out[0, 0, 15, 15] == 1.0


def test_prepare_resizes_bilinearly_then_normalizes():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g)
    out = D.prepare(x, 63)
    ref = torch.nn.functional.interpolate(x.float() / 255, size=(63, 63), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, ref * 2 - 1, rtol=0, atol=1e-5)
    assert D.prepare(x, 63, channels_last=True).is_contiguous(memory_format=torch.channels_last)


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(D.epoch_order(50, 1, 3), D.epoch_order(50, 1, 3))
    assert not torch.equal(D.epoch_order(50, 1, 3), D.epoch_order(50, 1, 4))


def test_last_partial_batch_is_kept():
    s = D.Split(torch.zeros(50, 3, 4, 4, dtype=torch.uint8), torch.zeros(50, dtype=torch.long))
    sizes = [len(y) for _, y in D.batches(s, 16)]
    assert sizes == [16, 16, 16, 2]  # the report's 782 batches at 64 for 50,000 images


# ---- where the images came from: the folder and each file's md5, for the record ----
def hashlib_md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def test_cifar_origin_is_its_folder_and_every_files_md5(cifar_dir):
    root, sums = cifar_dir
    origin = D.load_cifar10(root, checksums=sums).origin
    folder = root / D.CIFAR10_FOLDER
    assert origin.location == str(folder.resolve()) and origin.asked is None
    assert origin.files == {p.name: hashlib_md5(p) for p in folder.iterdir()}
    assert len(origin.files) == 7  # five training batches, the test batch, batches.meta


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_origin_is_its_folder_and_the_four_files_md5(tmp_path, gz):
    write_fashion_files(tmp_path / "fm", gz=gz)
    origin = D.load_fashion_mnist(tmp_path / "fm", download=False).origin
    assert origin.location == str((tmp_path / "fm").resolve()) and origin.asked is None
    assert origin.files == {p.name: hashlib_md5(p) for p in (tmp_path / "fm").iterdir()}
    assert sorted(origin.files) == sorted(s + (".gz" if gz else "") for s in D.FASHION_FILES.values())
    assert origin.fallback_note() == ""


def test_fashion_found_elsewhere_than_data_dir_says_where(tmp_path, monkeypatch):
    write_fashion_files(tmp_path / "debian")
    monkeypatch.setattr(D, "DEBIAN_FASHION_DIR", str(tmp_path / "debian"))
    origin = D.load_fashion_mnist(tmp_path / "nonexistent", download=False).origin
    assert origin.location == str((tmp_path / "debian").resolve())
    assert origin.asked == str(tmp_path / "nonexistent")
    assert origin.record()["fallback_from"] == str(tmp_path / "nonexistent")
    note = origin.fallback_note()
    assert f"data_dir {tmp_path / 'nonexistent'} has none" in note and str(tmp_path / "debian") in note
    assert all(name in note for name in origin.files)


def test_digits_origin_is_scikit_learns_embedded_copy():
    import sklearn
    origin = D.load_digits_split().origin
    assert origin.note == f"scikit-learn {sklearn.__version__}'s embedded copy (sklearn.datasets.load_digits)"
    assert origin.files == {D.DIGITS_FILE: hashlib_md5(Path(origin.location) / D.DIGITS_FILE)}


def test_cifar_folder_with_a_missing_file(tmp_path, cifar_dir):
    root, sums = cifar_dir
    (root / D.CIFAR10_FOLDER / "test_batch").unlink()
    with pytest.raises(D.DataError, match=r"a file is missing .*test_batch.*cifar-10-python.tar.gz"):
        D.load_cifar10(root, checksums=sums)


def test_cifar_file_with_wrong_shapes_is_refused(tmp_path):
    import hashlib
    import pickle

    import numpy as np
    folder = tmp_path / D.CIFAR10_FOLDER
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for n in names:  # 28x28 grey images stored where CIFAR's 3x32x32 belong
        with open(folder / n, "wb") as f:
            pickle.dump({"data": np.zeros((5, 784), np.uint8), "labels": [0] * 5}, f)
    sums = {n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in names}
    with pytest.raises(D.DataError, match="could not be read|shape"):
        D.load_cifar10(tmp_path, checksums=sums)


def test_idx_files_with_a_bad_header_or_mismatched_labels(tmp_path):
    write_fashion_files(tmp_path / "fm", gz=False)
    bad = tmp_path / "fm" / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x09\x01" + bad.read_bytes()[4:])
    with pytest.raises(D.DataError, match="t10k-labels-idx1-ubyte is not an unsigned-byte idx file"):
        D.load_fashion_mnist(tmp_path / "fm", download=False)
    write_fashion_files(tmp_path / "fm2", n_train=60, gz=True)
    import numpy as np

    from conftest import write_idx
    write_idx(tmp_path / "fm2" / "train-labels-idx1-ubyte", np.zeros(59, np.uint8), gz=True)
    with pytest.raises(D.DataError, match="train files .* disagree"):
        D.load_fashion_mnist(tmp_path / "fm2", download=False)
