"""Class-per-folder images (alexlib.train.inputs.images): a folder and an archive of it read alike, the cache keyed by
what was read and never half-written, each kind of bad input a DataError naming the file and the fix, CIFAR-10's
JPEG copy found where the run looks for it, a folder of one's own images trained on, and the real copy read whole
when it is here."""
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from alexlib.train.inputs import datasets as DS
from alexlib.train.inputs import images as I
from alexlib.train.inputs.splits import DataError

from conftest import REPO, tiny

CLASSES = ("cat", "dog", "frog")
REAL = Path(REPO).parent / "shared" / "data" / DS.CIFAR10_JPEG_ARCHIVE


def jpeg(colour, side: int = 8, mode: str = "RGB") -> bytes:
    """A small JPEG of one colour (a grey level for mode L)."""
    buf = io.BytesIO()
    Image.new(mode, (side, side), colour if mode == "RGB" else colour[0]).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def image_folder(root: Path, classes=CLASSES, n_train: int = 4, n_test: int = 2, side: int = 8) -> Path:
    """train/<class>/000.jpg ... and test/<class>/000.jpg ..., each class its own colour."""
    for s, n in (("train", n_train), ("test", n_test)):
        for k, c in enumerate(classes):
            d = root / s / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (d / f"{i:03d}.jpg").write_bytes(jpeg((40 + 80 * k, 10 * i, 200), side))
    return root


def archive_of(folder: Path, out: Path, prefix: str | None = None) -> Path:
    """The folder's train/ and test/ as a tar archive (compressed as out's suffix says), under ``prefix``."""
    mode = "w:xz" if out.name.endswith(".xz") else "w:gz" if out.name.endswith(".gz") else "w"
    with tarfile.open(out, mode) as tar:
        for s in ("train", "test"):
            tar.add(folder / s, arcname=f"{prefix}/{s}" if prefix else s)
    return out


def cache_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*") if p.is_file()) if cache_dir.exists() else []


# ---------------------------------------------------------------------------------------------------
# Reading: a folder, its archives (with and without a top folder), the labels, the record
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["folder", "folder-in-top", "tar", "tar.xz", "tar.xz-in-top", "tar.gz"])
def test_a_folder_and_its_archives_read_alike(tmp_path, kind):
    src = image_folder(tmp_path / "set")
    ref = I.load_image_folder(src, None)
    if kind == "folder":
        source = src
    elif kind == "folder-in-top":
        source = tmp_path / "outer"
        (source).mkdir()
        src.rename(source / "set")
    else:
        suffix, _, top = kind.partition("-in-")
        source = archive_of(src, tmp_path / f"set.{suffix}", "set" if top else None)
    got = I.load_image_folder(source, tmp_path / "cache")
    for a, b in zip(got, ref):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    train, test = got
    assert train.x.shape == (12, 3, 8, 8) and train.x.dtype == torch.uint8 and test.x.shape == (6, 3, 8, 8)
    assert train.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and train.y.dtype == torch.int64
    assert got.origin.classes == CLASSES and got.origin.file_count == 18
    assert got.origin.manifest_sha256 == ref.origin.manifest_sha256   # one digest of the files, however stored
    # the colour written is the colour read (JPEG's error aside): channel 0 of class k is 40 + 80 k
    assert abs(int(train.x[4, 0].float().mean()) - 120) <= 3


def test_the_record_names_the_data_by_digests_and_no_path(tmp_path):
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar.xz")
    rec = I.load_image_folder(archive, tmp_path / "cache").origin.record()
    assert rec["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert len(rec["manifest_sha256"]) == 64 and rec["file_count"] == 18 and rec["source"] == "set.tar.xz"
    assert rec["location"] is None and rec["fallback_from"] is None and rec["files"] == {}
    assert str(tmp_path) not in json.dumps(rec) and "/" not in rec["source"]
    folder_rec = I.load_image_folder(tmp_path / "set", tmp_path / "cache").origin.record()
    assert folder_rec["archive_sha256"] is None and folder_rec["manifest_sha256"] == rec["manifest_sha256"]
    assert folder_rec["pixels_sha256"] == rec["pixels_sha256"]


# ---------------------------------------------------------------------------------------------------
# The cache: keyed by the archive's sha256 or the folder's manifest, read back without decoding
# ---------------------------------------------------------------------------------------------------
def test_a_second_load_reads_the_cache_without_decoding(tmp_path, monkeypatch):
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar.xz")
    first = I.load_image_folder(archive, tmp_path / "cache")
    files = cache_files(tmp_path / "cache")
    assert len(files) == 1 and files[0].name.startswith(first.origin.archive_sha256)

    def no_decoding(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(I, "_decode", no_decoding)
    again = I.load_image_folder(archive, tmp_path / "cache")
    assert torch.equal(again[0].x, first[0].x) and torch.equal(again[1].y, first[1].y)
    assert again.origin.record() == first.origin.record()


def test_a_folder_is_cached_by_its_manifest_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch):
    src = image_folder(tmp_path / "set")
    first = I.load_image_folder(src, tmp_path / "cache")
    assert cache_files(tmp_path / "cache")[0].name.startswith(first.origin.manifest_sha256)
    (src / "train" / "dog" / "001.jpg").write_bytes(jpeg((0, 0, 0)))
    decoded = []
    real = I._decode
    monkeypatch.setattr(I, "_decode", lambda *a: decoded.append(1) or real(*a))
    second = I.load_image_folder(src, tmp_path / "cache")
    assert decoded and second.origin.manifest_sha256 != first.origin.manifest_sha256
    assert len(cache_files(tmp_path / "cache")) == 2


def test_a_damaged_cache_file_is_decoded_again_and_replaced(tmp_path, capsys):
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar")
    first = I.load_image_folder(archive, tmp_path / "cache")
    (path,) = cache_files(tmp_path / "cache")
    path.write_bytes(path.read_bytes()[:500])
    again = I.load_image_folder(archive, tmp_path / "cache")
    assert torch.equal(again[0].x, first[0].x) and "decoding again" in capsys.readouterr().err
    assert cache_files(tmp_path / "cache") == [path] and path.stat().st_size > 500


def test_an_interrupted_cache_write_leaves_no_file(tmp_path, monkeypatch):
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar")

    def half_then_stop(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(I.np, "savez", half_then_stop)
    with pytest.raises(KeyboardInterrupt):
        I.load_image_folder(archive, tmp_path / "cache")
    assert cache_files(tmp_path / "cache") == []


def test_a_cache_that_cannot_be_written_is_said_and_the_data_still_loads(tmp_path, monkeypatch, capsys):
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar")

    def disk_full(f, **arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(I.np, "savez", disk_full)
    train, _ = I.load_image_folder(archive, tmp_path / "cache")
    assert len(train) == 12 and "could not be cached" in capsys.readouterr().err
    assert cache_files(tmp_path / "cache") == []


# ---------------------------------------------------------------------------------------------------
# Bad input: each a DataError naming the file and the fix, and nothing written to the cache
# ---------------------------------------------------------------------------------------------------
def _truncated_archive(tmp_path: Path) -> Path:
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar.xz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    return archive


def _truncated_tar(tmp_path: Path) -> Path:
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar")
    archive.write_bytes(archive.read_bytes()[: 512 * 7 + 100])   # cut inside a member's bytes
    return archive


def _text_as_jpeg(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    (src / "train" / "dog" / "002.jpg").write_text("not an image at all\n")
    return archive_of(src, tmp_path / "set.tar")


def _cut_jpeg(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    p = src / "test" / "frog" / "001.jpg"
    p.write_bytes(p.read_bytes()[:200])
    return src


def _class_missing_from_test(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    for p in (src / "test" / "frog").iterdir():
        p.unlink()
    (src / "test" / "frog").rmdir()
    return archive_of(src, tmp_path / "set.tar")


def _empty_class_folder(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    for p in (src / "train" / "cat").iterdir():
        p.unlink()
    return archive_of(src, tmp_path / "set.tar")


def _class_outside(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set", classes=(*CLASSES, "horse"))
    return archive_of(src, tmp_path / "set.tar")


def _class_only_in_test(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    (src / "test" / "horse").mkdir()
    (src / "test" / "horse" / "000.jpg").write_bytes(jpeg((1, 2, 3)))
    return src


def _other_size(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    (src / "train" / "frog" / "003.jpg").write_bytes(jpeg((9, 9, 9), side=28))
    return archive_of(src, tmp_path / "set.tar.gz")


def _grayscale(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    (src / "test" / "cat" / "000.jpg").write_bytes(jpeg((128,), mode="L"))
    return archive_of(src, tmp_path / "set.tar")


def _empty_split(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set", n_test=0)
    return archive_of(src, tmp_path / "set.tar")


def _no_test_folder(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    for p in sorted((src / "test").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (src / "test").rmdir()
    return src


def _image_outside_a_class(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    (src / "train" / "stray.jpg").write_bytes(jpeg((1, 2, 3)))
    return archive_of(src, tmp_path / "set.tar")


def _two_tops(tmp_path: Path) -> Path:
    src = image_folder(tmp_path / "set")
    out = tmp_path / "set.tar"
    with tarfile.open(out, "w") as tar:
        tar.add(src / "train", arcname="one/train")
        tar.add(src / "test", arcname="two/test")
    return out


BAD = {   # what is wrong -> (how it is built, what the message says, the fix it names)
    "truncated .tar.xz": (_truncated_archive, r"set\.tar\.xz could not be read to its end", "copy it again"),
    "truncated .tar": (_truncated_tar, r"set\.tar could not be read to its end", "copy it again"),
    "text named .jpg": (_text_as_jpeg, r"set\.tar: train/dog/002\.jpg is not a readable image", "replace it"),
    "cut JPEG": (_cut_jpeg, r"set: test/frog/001\.jpg is not a readable image", "replace it"),
    "class missing from a split": (_class_missing_from_test, r"set\.tar: class folder test/frog/ is missing",
                                   "add its images"),
    "empty class folder": (_empty_class_folder, r"class folder train/cat/ is missing or holds no image",
                           "add its images"),
    "class outside the classes": (_class_outside, r"train/horse.*class folder 'horse' is not one of this dataset's "
                                                  r"classes \(the classes are cat, dog, frog\)", "remove or rename it"),
    "class only in test": (_class_only_in_test, r"class folder test/horse/ is in the test split only",
                           "add it to train/ too"),
    "28x28 among 8x8": (_other_size, r"set\.tar\.gz: train/frog/003\.jpg is 28x28 pixels, expected 8x8",
                        "resize it"),
    "grayscale": (_grayscale, r"set\.tar: test/cat/000\.jpg is a grayscale image \(Pillow mode L\), expected RGB",
                  "convert it"),
    "empty split": (_empty_split, r"set\.tar: the test split holds no images", "add them"),
    "no test folder": (_no_test_folder, r"set: the test split holds no images", "add them"),
    "image outside a class folder": (_image_outside_a_class, r"train/stray\.jpg is not in a class folder",
                                     "move it"),
    "two top folders": (_two_tops, r"set\.tar holds train/ and test/ under two top folders", "rebuild it"),
}


@pytest.mark.parametrize("what", list(BAD))
def test_bad_input_is_a_data_error_naming_the_file_and_the_fix(tmp_path, what):
    build, message, fix = BAD[what]
    source = build(tmp_path)
    classes = CLASSES if what == "class outside the classes" else None
    with pytest.raises(DataError, match=message) as e:
        I.load_image_folder(source, tmp_path / "cache", classes=classes, side=8 if "28x28" in what else None)
    assert fix in str(e.value)
    assert cache_files(tmp_path / "cache") == []   # nothing half-written, nothing written


def test_a_checksum_that_does_not_match_names_the_file_both_digests_and_the_fix(tmp_path):
    archive = archive_of(image_folder(tmp_path / "set"), tmp_path / "set.tar.xz")
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(DataError) as e:
        I.load_image_folder(archive, tmp_path / "cache", sha256_expected="0" * 64)
    msg = str(e.value)
    assert str(archive) in msg and actual in msg and "0" * 64 in msg and "copy the original again" in msg
    assert cache_files(tmp_path / "cache") == []


def test_a_source_that_is_missing_or_not_a_dataset_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nothing\.tar\.xz does not exist; give a folder"):
        I.load_image_folder(tmp_path / "nothing.tar.xz", tmp_path / "cache")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt is neither a folder nor a"):
        I.load_image_folder(tmp_path / "notes.txt", tmp_path / "cache")


# ---------------------------------------------------------------------------------------------------
# CIFAR-10's JPEG copy: where it is looked for, the checks, and the real copy when it is here
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No ALEXLIB_CIFAR10_JPEG and no shared copy: only what a test puts in place is found."""
    monkeypatch.delenv(DS.CIFAR10_JPEG_ENV, raising=False)
    monkeypatch.setattr(DS, "shared_cifar10_jpeg", lambda: tmp_path / "shared" / DS.CIFAR10_JPEG_ARCHIVE)
    return tmp_path


def test_the_copy_is_looked_for_in_data_dir_then_the_environment_then_the_shared_folder(nowhere, monkeypatch):
    data, shared = nowhere / "data", nowhere / "shared" / DS.CIFAR10_JPEG_ARCHIVE
    with pytest.raises(DataError) as e:
        DS.find_cifar10_jpeg(data)
    msg = str(e.value)
    for place in (str(data / DS.CIFAR10_JPEG_ARCHIVE), str(data / DS.CIFAR10_JPEG_FOLDER), DS.CIFAR10_JPEG_ENV,
                  str(shared), DS.CIFAR10_JPEG_SHA256):
        assert place in msg
    assert f"Copy {DS.CIFAR10_JPEG_ARCHIVE}" in msg and "export" in msg
    shared.parent.mkdir()
    shared.write_bytes(b"x")
    assert DS.find_cifar10_jpeg(data) == (shared, f"data_dir {data}")
    elsewhere = nowhere / "elsewhere.tar.xz"
    monkeypatch.setenv(DS.CIFAR10_JPEG_ENV, str(elsewhere))
    with pytest.raises(DataError, match=f"{DS.CIFAR10_JPEG_ENV}=.*elsewhere.tar.xz names no file or folder"):
        DS.find_cifar10_jpeg(data)
    elsewhere.write_bytes(b"x")
    assert DS.find_cifar10_jpeg(data) == (elsewhere, f"data_dir {data}")
    (data / DS.CIFAR10_JPEG_FOLDER).mkdir(parents=True)
    assert DS.find_cifar10_jpeg(data) == (data / DS.CIFAR10_JPEG_FOLDER, None)
    (data / DS.CIFAR10_JPEG_ARCHIVE).write_bytes(b"x")
    assert DS.find_cifar10_jpeg(data) == (data / DS.CIFAR10_JPEG_ARCHIVE, None)


def test_another_archive_under_the_copys_name_is_refused_before_reading(nowhere):
    data = nowhere / "data"
    data.mkdir()
    archive_of(image_folder(nowhere / "set"), data / DS.CIFAR10_JPEG_ARCHIVE)
    with pytest.raises(DataError) as e:
        DS.check_available("cifar10_jpeg", data)
    msg = str(e.value)
    assert str(data / DS.CIFAR10_JPEG_ARCHIVE) in msg and DS.CIFAR10_JPEG_SHA256 in msg
    assert hashlib.sha256((data / DS.CIFAR10_JPEG_ARCHIVE).read_bytes()).hexdigest() in msg
    assert cache_files(data) == [data / DS.CIFAR10_JPEG_ARCHIVE]


def test_another_folder_under_the_copys_name_is_refused_by_its_manifest(nowhere):
    data = nowhere / "data"
    image_folder(data / DS.CIFAR10_JPEG_FOLDER, classes=DS.CIFAR10_CLASSES, side=32)
    with pytest.raises(DataError, match=f"manifest digest is [0-9a-f]{{64}}, expected {DS.CIFAR10_JPEG_MANIFEST}"):
        DS.load_cifar10_jpeg(data)
    assert not (data / I.CACHE_FOLDER).exists()


def test_the_registry_describes_the_copy_as_a_copy():
    info = DS.REGISTRY["cifar10_jpeg"]
    assert info.title == "CIFAR-10 (JPEG q75 copy)" and info.classes == 10 and info.sizes == (50_000, 10_000)
    assert info.side == 32 and info.files
    assert "JPEG q75" in info.description and "not CIFAR-10 itself" in info.description
    assert DS.CIFAR10_CLASSES == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                 "truck")


@pytest.mark.slow
def test_the_real_copy_reads_whole(tmp_path, monkeypatch):
    if not REAL.is_file():   # skipped here, failed in CI (CI=true), as conftest's need() does for SLURM
        problem = (f"CIFAR-10's JPEG copy is not at {REAL}: put {DS.CIFAR10_JPEG_ARCHIVE} (sha256 "
                   f"{DS.CIFAR10_JPEG_SHA256}) there to run this test")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must read the real copy: {problem}")
        pytest.skip(problem)
    monkeypatch.delenv(DS.CIFAR10_JPEG_ENV, raising=False)
    monkeypatch.setattr(DS, "shared_cifar10_jpeg", lambda: REAL)
    assert hashlib.sha256(REAL.read_bytes()).hexdigest() == DS.CIFAR10_JPEG_SHA256
    splits = DS.load_cifar10_jpeg(tmp_path)   # nothing in tmp_path: the shared copy, decoded and cached here
    train, test = splits
    assert len(train) == 50_000 and len(test) == 10_000
    assert train.x.shape[1:] == test.x.shape[1:] == (3, 32, 32) and train.x.dtype == test.x.dtype == torch.uint8
    assert train.y.bincount().tolist() == [5_000] * 10 and test.y.bincount().tolist() == [1_000] * 10
    rec = splits.origin.record()
    assert rec["archive_sha256"] == DS.CIFAR10_JPEG_SHA256 and rec["manifest_sha256"] == DS.CIFAR10_JPEG_MANIFEST
    assert rec["file_count"] == 60_000 and str(REAL.parent) not in json.dumps(rec)
    assert "has none: read" in splits.origin.fallback_note()
    again = DS.load_cifar10_jpeg(tmp_path)   # from the cache
    assert torch.equal(again[1].x, test.x) and again.origin.record() == rec
    ds = DS.load_dataset("cifar10_jpeg", str(tmp_path), 1_000, 500)   # what a run gets: the registry's way in
    assert (len(ds.train), len(ds.test), ds.num_classes) == (1_000, 500, 10) and "JPEG q75" in ds.source


# ---------------------------------------------------------------------------------------------------
# One's own folder of images as a dataset, trained on
# ---------------------------------------------------------------------------------------------------
def test_a_registered_folder_trains_and_its_record_holds_no_path(tmp_path):
    from alexlib.train.run.loop import train
    src = image_folder(tmp_path / "pets", n_train=6, n_test=3)
    info = DS.register_image_folder("pets_test", src, cache_dir=tmp_path / "data")
    try:
        assert (info.classes, info.sizes, info.side) == (3, (18, 9), 8)
        rec = train(tiny(tmp_path, dataset="pets_test", data_dir=str(tmp_path / "data"), train_size=0,
                         test_size=0, batch_size=6, epochs=1))
        # the classes changed under the name: refused, since the network's classifier has 3 outputs
        image_folder(src, classes=("zebra",), n_train=1, n_test=1)
        with pytest.raises(DataError, match="register it again"):
            DS.check_available("pets_test", tmp_path / "data")
    finally:
        DS.unregister("pets_test")
    ds = rec["dataset"]
    assert rec["status"] == "completed" and ds["train_images"] == 18 and ds["file_count"] == 27
    assert ds["classes"] == list(CLASSES) and len(ds["manifest_sha256"]) == 64 and ds["archive_sha256"] is None
    assert str(tmp_path) not in json.dumps(ds) and os.sep + "pets" not in json.dumps(ds)
