"""Datasets held on the training device as uint8, and a loader that shuffles, resizes and normalizes
each batch there (no worker processes, no PIL: the report's data pipeline was its bottleneck).

Each dataset loader returns a ``Split`` pair of uint8 images (N, C, H, W) and int64 labels on the CPU,
as ``Splits`` that also say where they came from (the folder and each file's md5, for the record);
``on_device`` checks them, takes the stratified subsets and moves them to the device once
(``alexlib.train.inputs.datasets.load_dataset`` picks the loader by the dataset's name).
"""
from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .splits import UNKNOWN_ORIGIN, DataError, Dataset, Origin, Split, Splits, md5  # noqa: F401 (the data API)

# What a run does to the images (alexlib.train.inputs.transforms, which the training code's digest covers and these
# readers are not part of), re-exported here where it was first defined, so existing imports keep working
from .transforms import (  # noqa: F401
    MEAN,
    STD,
    SUBSET_SEED,
    batches,
    epoch_order,
    on_device,
    prepare,
    stratified_subset,
)

# ---------------------------------------------------------------------------------------------------
# CIFAR-10: its python format read directly, checked against torchvision's md5 sums, with the sums
# injectable so the tests can run the same reading code on small files they write in that format.
# ---------------------------------------------------------------------------------------------------
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")


def cifar10_checksums() -> dict[str, str]:
    """torchvision's md5 sum for each of the seven real CIFAR-10 files (five train batches, test, meta)."""
    from torchvision.datasets import CIFAR10
    sums = dict(CIFAR10.train_list + CIFAR10.test_list)
    sums[CIFAR10.meta["filename"]] = CIFAR10.meta["md5"]
    return sums


def _cifar_missing_message(root: Path, missing: str, why: str) -> str:
    return (f"CIFAR-10 is not usable: {why} ({root / CIFAR10_FOLDER / missing}). "
            f"On a machine with network access it downloads itself into data_dir; offline, copy "
            f"{CIFAR10_ARCHIVE[0]} (md5 {CIFAR10_ARCHIVE[1]}, from https://www.cs.toronto.edu/~kriz/cifar.html) "
            f"into {root}/ and extract it there (tar xzf), so that {root / CIFAR10_FOLDER}/ holds "
            f"data_batch_1..5, test_batch and batches.meta. Real images without CIFAR-10: the Fashion-MNIST "
            f"grid (make report GRID=fashion; Debian: apt-get install dataset-fashion-mnist) or scikit-learn's "
            f"digits (make demo).")


def verify_cifar10(root: str | os.PathLike, checksums: dict[str, str]) -> dict[str, str]:
    """Check every file against its md5 before reading; name the first missing or corrupted one.
    Returns each file's md5 (the record's, from the same pass)."""
    root = Path(root)
    for name, expected in checksums.items():
        p = root / CIFAR10_FOLDER / name
        if not p.is_file():
            raise DataError(_cifar_missing_message(root, name, "a file is missing"))
        if md5(p) != expected:
            raise DataError(_cifar_missing_message(
                root, name, "a file is corrupted or truncated (md5 mismatch); replace it"))
    return dict(checksums)


def write_cifar10_format(root: str | os.PathLike, train: Split, test: Split) -> dict[str, str]:
    """Write images in the CIFAR-10 python format (five pickled training batches, a test batch and
    batches.meta under <root>/cifar-10-batches-py; 3072 bytes per image, CHW) and return each file's md5,
    the checksums ``load_cifar10`` is then given. For tests and the GPU check: never passes as CIFAR-10."""
    folder = Path(root) / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, split: Split, lo: int, hi: int) -> None:
        entry = {"batch_label": name, "labels": split.y[lo:hi].tolist(),
                 "data": split.x[lo:hi].reshape(hi - lo, 3072).numpy(),
                 "filenames": [f"{name}_{i}.png" for i in range(lo, hi)]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)

    per = len(train) // 5
    for b in range(5):
        dump(f"data_batch_{b + 1}", train, b * per, (b + 1) * per if b < 4 else len(train))
    dump("test_batch", test, 0, len(test))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}, f, protocol=2)
    names = [f"data_batch_{b + 1}" for b in range(5)] + ["test_batch", "batches.meta"]
    return {n: md5(folder / n) for n in names}


def _try_download_cifar10(root: Path) -> str | None:
    """Download through torchvision (with its checksum); returns the error text when offline."""
    from torchvision.datasets import CIFAR10
    try:
        CIFAR10(str(root), train=True, download=True)
        return None
    except Exception as e:  # no network, proxy, disk full: reported with the fix, never swallowed
        return f"{type(e).__name__}: {e}"


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One pickled batch of the CIFAR-10 python format: 'data' (N, 3072) uint8 rows, CHW, and 'labels'."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")  # the format's own encoding (Python 2 pickles)
        data, labels = entry["data"], entry["labels"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"CIFAR-10 file {path} could not be read ({type(e).__name__}: {e}); replace it") from e
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"CIFAR-10 file {path} holds images of shape {data.shape} ({data.dtype}) and "
                        f"{len(labels)} labels, expected (N, 3072) uint8 and N labels; replace it")
    return data, list(labels)


def load_cifar10(root: str | os.PathLike, checksums: dict[str, str] | None = None,
                 download: bool = True) -> Splits:
    """CIFAR-10 from its python format in <root>/cifar-10-batches-py, every file checked against its md5
    first. ``checksums`` defaults to the real files' sums (torchvision's)."""
    root = Path(root)
    real = checksums is None
    sums = cifar10_checksums() if real else dict(checksums)
    have_all = all((root / CIFAR10_FOLDER / n).is_file() for n in sums)
    if real and download and not have_all:
        err = _try_download_cifar10(root)
        if err is not None:
            raise DataError(_cifar_missing_message(root, next(iter(sums)), f"not found, and download failed: {err}"))
    files = verify_cifar10(root, sums)
    splits = []
    train_files = sorted(n for n in sums if n.startswith("data_batch"))
    for names in (train_files, [n for n in sums if n.startswith("test_batch")]):
        parts = [_read_cifar_batch(root / CIFAR10_FOLDER / n) for n in names]
        x = np.concatenate([b[0] for b in parts]).reshape(-1, 3, 32, 32)  # (N, C, H, W) as stored
        y = [label for b in parts for label in b[1]]
        splits.append(Split(torch.from_numpy(x), torch.as_tensor(y, dtype=torch.int64)))
    how = "checked against torchvision's md5 sums" if real else "checked against the md5 sums given (not CIFAR-10's)"
    return Splits(splits[0], splits[1], Origin(str((root / CIFAR10_FOLDER).resolve()), files, how))


# ---------------------------------------------------------------------------------------------------
# Fashion-MNIST: the four idx files, gzipped or not, from data_dir or Debian's dataset-fashion-mnist.
# ---------------------------------------------------------------------------------------------------
FASHION_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
                 "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}
DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path: Path) -> np.ndarray:
    """An idx (MNIST-format) file, gzipped or not; unsigned-byte data only."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} could not be read ({e}); replace it") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    if len(raw) - start != int(np.prod(dims)):
        raise DataError(f"{path} is truncated or padded: header says {dims}, "
                        f"found {len(raw) - start} data bytes; replace it")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


def _find_fashion_dir(data_dir: Path) -> Path | None:
    for d in (data_dir / "FashionMNIST" / "raw", data_dir / "fashion_mnist", data_dir, Path(DEBIAN_FASHION_DIR)):
        if all(_idx_path(d, f) is not None for f in FASHION_FILES.values()):
            return d
    return None


def _idx_path(d: Path, stem: str) -> Path | None:
    for p in (d / stem, d / (stem + ".gz")):
        if p.is_file():
            return p
    return None


def load_fashion_mnist(data_dir: str | os.PathLike, download: bool = True) -> Splits:
    """The four idx files from data_dir (or its FashionMNIST/raw, fashion_mnist), else Debian's copy, else
    downloaded into data_dir. Where they were found is in the result's ``origin``."""
    data_dir = Path(data_dir)
    d = _find_fashion_dir(data_dir)
    why, how = "download not tried", "idx files"
    if d is None and download:
        try:
            from torchvision.datasets import FashionMNIST
            FashionMNIST(str(data_dir), train=True, download=True)
            FashionMNIST(str(data_dir), train=False, download=True)
            how = "idx files downloaded by torchvision"
        except Exception as e:  # no network, disk full: reported below with the fix
            why = f"download failed: {type(e).__name__}: {e}"
        d = _find_fashion_dir(data_dir)
    if d is None:
        raise DataError(
            f"Fashion-MNIST not found in {data_dir}, {data_dir}/FashionMNIST/raw or {DEBIAN_FASHION_DIR} "
            f"({why}). Put the four files {', '.join(FASHION_FILES.values())} "
            f"(gzipped or not) into {data_dir}/, or on Debian: apt-get install dataset-fashion-mnist")
    paths = {k: _idx_path(d, stem) for k, stem in FASHION_FILES.items()}
    arr = {k: read_idx(p) for k, p in paths.items()}
    splits = []
    for s in ("train", "test"):
        x, y = arr[f"{s}_x"], arr[f"{s}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"Fashion-MNIST {s} files in {d} disagree: images {x.shape}, labels {y.shape}")
        splits.append(Split(torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))))
    location, asked = d.resolve(), data_dir.resolve()
    if location == Path(DEBIAN_FASHION_DIR).resolve():
        how = "idx files of Debian's dataset-fashion-mnist package"
    origin = Origin(str(location), {p.name: md5(p) for p in paths.values()}, how,
                    asked=None if location.is_relative_to(asked) else str(asked))
    return Splits(splits[0], splits[1], origin)


# ---------------------------------------------------------------------------------------------------
# digits: scikit-learn's embedded 8x8 handwritten digits (1,797 images), real and offline.
# ---------------------------------------------------------------------------------------------------
DIGITS_FILE = "digits.csv.gz"  # what load_digits reads, in sklearn/datasets/data


def load_digits_split() -> Splits:
    import sklearn
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = np.round(d.images * (255 / 16)).astype(np.uint8)[:, None]  # 0..16 grey levels -> 0..255
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.3, stratify=d.target, random_state=0)
    folder = Path(sklearn.datasets.__file__).parent / "data"
    files = {DIGITS_FILE: md5(folder / DIGITS_FILE)} if (folder / DIGITS_FILE).is_file() else {}
    origin = Origin(str(folder) if files else None, files,
                    f"scikit-learn {sklearn.__version__}'s embedded copy (sklearn.datasets.load_digits)")
    return Splits(Split(torch.from_numpy(xtr), torch.from_numpy(ytr.astype(np.int64))),
                  Split(torch.from_numpy(xte), torch.from_numpy(yte.astype(np.int64))), origin)


# ---------------------------------------------------------------------------------------------------
# synthetic: learnable generated images, for tests and benchmarks only (never a result).
# ---------------------------------------------------------------------------------------------------
def make_synthetic(n_train: int = 1024, n_test: int = 256, num_classes: int = 10, side: int = 32,
                   seed: int = 0) -> Splits:
    """Each class is a fixed smooth colour pattern; each image is its class's pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_classes, 3, 4, 4, generator=g)
    templates = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)

    def split(n: int) -> Split:
        y = torch.arange(n) % num_classes
        y = y[torch.randperm(n, generator=g)]
        x = templates[y] + 0.25 * torch.randn(n, 3, side, side, generator=g)
        return Split((x.clamp(0, 1) * 255).round().to(torch.uint8), y)

    return Splits(split(n_train), split(n_test), Origin(None, {}, f"generated in memory (seed {seed}); no files read"))
