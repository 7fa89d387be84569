"""The datasets a run may name, written once: each one's name, how a report prints it, its classes, the size
of its whole splits, the record's description of it, and its loader. The loaders (alexlib.train.inputs.data,
alexlib.train.inputs.images) import torch when a run loads its data, not before, so a configuration can be checked and
a record read without it. Also where CIFAR-10's JPEG copy is looked for and the digests it is checked against,
and a folder of one's own images registered as a dataset (``register_image_folder``).
"""
from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .splits import DataError

Loader = Callable[[str, int, int], Any]   # (data_dir, train_size, test_size) -> Splits (or a (train, test) pair)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str                      # how reports and messages print it
    classes: int
    sizes: tuple[int, int]          # (train, test) images of the whole splits
    description: str                # what a run's record says it trained on
    loader: Loader
    files: bool = False             # read from files that may be missing (checked before a grid starts)
    side: int = 0                   # pixels per side as stored (before the run resizes them)
    cite: str = ""                  # the reference a report cites it by (alexlib/report/render/references.py)


def _cifar10(d: str, ntr: int, nte: int):
    from .data import load_cifar10
    return load_cifar10(d)


def _fashion_mnist(d: str, ntr: int, nte: int):
    from .data import load_fashion_mnist
    return load_fashion_mnist(d)


# CIFAR-10's JPEG copy (../shared/data/README.md beside the repository says what it is): its archive, the folder
# extracted from it, their digests, and the environment variable that may point at either
CIFAR10_JPEG_ARCHIVE = "cifar10-jpeg.tar.xz"
CIFAR10_JPEG_FOLDER = "cifar10-jpeg"
CIFAR10_JPEG_SHA256 = "18e6d4cbed411ecd26448f550353190843fdbb376430f6db164543491d9050f8"   # the archive's bytes
# its 60,000 files' manifest digest (alexlib.train.inputs.images.manifest_digest): the archive's and an extracted
# folder's
CIFAR10_JPEG_MANIFEST = "e1a311a1cdc40057c2e99e05b4f98a9291ad506e9033297ece6a90a1708e09d5"
CIFAR10_JPEG_ENV = "ALEXLIB_CIFAR10_JPEG"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # 0-9


def shared_cifar10_jpeg() -> Path:
    """The shared copy beside the repository: ../shared/data/cifar10-jpeg.tar.xz from the repository root."""
    from ...paths import REPO
    return REPO.parent / "shared" / "data" / CIFAR10_JPEG_ARCHIVE


def find_cifar10_jpeg(data_dir: str | os.PathLike) -> tuple[Path, str | None]:
    """The copy to read and, when it is not in ``data_dir``, what was asked for (for the console). Looked for in
    turn: <data_dir>/cifar10-jpeg.tar.xz, <data_dir>/cifar10-jpeg/, $ALEXLIB_CIFAR10_JPEG, the shared copy."""
    data_dir = Path(data_dir)
    for p in (data_dir / CIFAR10_JPEG_ARCHIVE, data_dir / CIFAR10_JPEG_FOLDER):
        if p.exists():
            return p, None
    asked = f"data_dir {data_dir}"
    env = os.environ.get(CIFAR10_JPEG_ENV, "").strip()
    if env:
        p = Path(env).expanduser()
        if not p.exists():
            raise DataError(f"{CIFAR10_JPEG_ENV}={env} names no file or folder (and {data_dir} holds no "
                            f"{CIFAR10_JPEG_ARCHIVE}); point it at the archive ({CIFAR10_JPEG_ARCHIVE}, sha256 "
                            f"{CIFAR10_JPEG_SHA256}) or the folder extracted from it, or unset it")
        return p, asked
    shared = shared_cifar10_jpeg()
    if shared.is_file():
        return shared, asked
    raise DataError(
        f"CIFAR-10's JPEG copy was not found: not as {data_dir / CIFAR10_JPEG_ARCHIVE} or "
        f"{data_dir / CIFAR10_JPEG_FOLDER}/ (the run's data_dir), not through the environment variable "
        f"{CIFAR10_JPEG_ENV} (unset), and not as the shared copy {shared}. Copy {CIFAR10_JPEG_ARCHIVE} "
        f"(sha256 {CIFAR10_JPEG_SHA256}) into {data_dir}/, or export {CIFAR10_JPEG_ENV}=<its path>.")


def load_cifar10_jpeg(data_dir: str | os.PathLike = "data"):
    """CIFAR-10's images and labels re-encoded as JPEG q75 (not CIFAR-10 itself): 50,000 / 10,000 images of
    32x32 RGB, the archive's sha256 (or an extracted folder's manifest digest) checked before anything is
    decoded, the decoded arrays cached under ``data_dir``."""
    from .images import load_image_folder
    source, asked = find_cifar10_jpeg(data_dir)
    archive = source.is_file()
    splits = load_image_folder(
        source, data_dir, CIFAR10_CLASSES, 32, sha256_expected=CIFAR10_JPEG_SHA256 if archive else None,
        manifest_expected=CIFAR10_JPEG_MANIFEST,
        note=f"CIFAR-10 JPEG q75 copy ({'archive sha256' if archive else 'folder manifest digest'} checked)")
    if asked is not None:
        splits.origin = dataclasses.replace(splits.origin, asked=asked)
    return splits


def _cifar10_jpeg(d: str, ntr: int, nte: int):
    return load_cifar10_jpeg(d)


def _fashion_mnist_jpeg(d: str, ntr: int, nte: int):
    from .data import load_fashion_mnist
    return reencoded(load_fashion_mnist(d))


def _digits(d: str, ntr: int, nte: int):
    from .data import load_digits_split
    return load_digits_split()


def _synthetic(d: str, ntr: int, nte: int):
    from .data import make_synthetic
    return make_synthetic(ntr or 1024, nte or 256)


# ---------------------------------------------------------------------------------------------------
# Re-encoding: what JPEG quality 75 does to images whose originals exist (Fashion-MNIST), to measure what the
# CIFAR-10 copy's re-encoding changes
# ---------------------------------------------------------------------------------------------------
def reencode_jpeg(split, quality: int = 75):
    """Each image encoded as JPEG at ``quality`` by Pillow (IJG tables; 4:2:0 chroma for colour, as the CIFAR-10
    copy was made) and decoded back: the same pictures and labels, the compression's error in the pixels."""
    import numpy as np
    import torch
    from PIL import Image
    x = split.x.numpy()   # (N, C, H, W) uint8
    out = np.empty_like(x)
    for i, img in enumerate(x):
        pic = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        buf = io.BytesIO()
        pic.save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        out[i] = back[None] if back.ndim == 2 else back.transpose(2, 0, 1)
    return type(split)(torch.from_numpy(out), split.y)


def reencoded(splits, quality: int = 75):
    """Both splits re-encoded (``reencode_jpeg``); the origin says so beside where the originals came from."""
    from .images import decoder_version
    from .splits import Origin, Splits
    o = splits.origin
    note = f"{o.note}; every image re-encoded as JPEG q{quality} ({decoder_version()}) and decoded back"
    return Splits(reencode_jpeg(splits[0], quality), reencode_jpeg(splits[1], quality),
                  Origin(o.location, dict(o.files), note, o.asked))


REGISTRY: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("cifar10", "CIFAR-10", 10, (50_000, 10_000), "CIFAR-10 (torchvision)", _cifar10, True, 32, "cifar10"),
    DatasetInfo("fashion_mnist", "Fashion-MNIST", 10, (60_000, 10_000), "Fashion-MNIST", _fashion_mnist, True, 28, "fashion"),
    DatasetInfo("digits", "digits (scikit-learn)", 10, (1_257, 540), "scikit-learn digits (8x8)", _digits, False, 8, "digits"),
    DatasetInfo("synthetic", "SYNTHETIC data", 10, (1_024, 256), "SYNTHETIC (tests and benchmarks only; not a result)",
                _synthetic, False, 32),
    # last: the names before it keep their order in --help and in messages
    DatasetInfo("cifar10_jpeg", "CIFAR-10 (JPEG q75 copy)", 10, (50_000, 10_000),
                "CIFAR-10's images and labels re-encoded as JPEG q75 (a copy, not CIFAR-10 itself: pixels differ by "
                "the compression's error)", _cifar10_jpeg, True, 32, "cifar10"),
    DatasetInfo("fashion_mnist_jpeg", "Fashion-MNIST (re-encoded as JPEG q75)", 10, (60_000, 10_000),
                "Fashion-MNIST with every image re-encoded as JPEG q75 and decoded back (to measure what the CIFAR-10 "
                "copy's re-encoding changes)", _fashion_mnist_jpeg, True, 28, "fashion"),
)}


def register(name: str, loader: Loader, num_classes: int, description: str,
             sizes: tuple[int, int] = (0, 0)) -> None:
    """Add a dataset (the tests and the GPU check use this for their CIFAR-format files; a folder of one's own
    images: ``register_image_folder``)."""
    REGISTRY[name] = DatasetInfo(name, name, num_classes, sizes, description, loader)


def register_image_folder(name: str, source: str | os.PathLike, title: str | None = None,
                          cache_dir: str | os.PathLike = "data") -> DatasetInfo:
    """One's own class-per-folder images (a folder or archive holding train/<class>/ and test/<class>/, RGB, all
    of one size; alexlib.train.inputs.images) as a dataset runs can name: read once (and cached under ``cache_dir``) to
    learn its classes (the folder names, sorted), sizes and side, then registered as ``name``. A name of its own,
    not one shared name with the folder as data_dir: data_dir is not part of a run's identity, so two folders
    under one name would pass for the same runs."""
    from .images import load_image_folder
    source = Path(source).expanduser().resolve()
    first = load_image_folder(source, cache_dir)
    classes, (train, test) = first.origin.classes, first

    def loader(d: str, ntr: int, nte: int):
        loaded = load_image_folder(source, d)
        if loaded.origin.classes != classes:   # the network's classifier has len(classes) outputs
            raise DataError(f"{source} now holds the classes {', '.join(loaded.origin.classes)}, not the "
                            f"{', '.join(classes)} it held when registered as {name!r}: register it again "
                            f"(under a new name: its runs are another dataset's)")
        return loaded

    side = int(train.x.shape[-1]) if train.x.shape[-1] == train.x.shape[-2] else 0
    REGISTRY[name] = info = DatasetInfo(
        name, title or name, len(classes), (len(train), len(test)),
        f"{title or name}: the images of {source.name} (class-per-folder, manifest sha256 "
        f"{first.origin.manifest_sha256[:12]})", loader, True, side)
    return info


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def title(name: str) -> str:
    """How a report prints a dataset's name (its own name when it is not registered here)."""
    return REGISTRY[name].title if name in REGISTRY else name


def images(name: str, train_size: int = 0, test_size: int = 0) -> tuple[int, int]:
    """(train, test) images an epoch of a run reads: the subset sizes when given, else the whole splits."""
    full_train, full_test = REGISTRY[name].sizes if name in REGISTRY else (0, 0)
    return (min(train_size, full_train) if train_size and full_train else train_size or full_train,
            min(test_size, full_test) if test_size and full_test else test_size or full_test)


def check_available(name: str, data_dir: str | os.PathLike) -> None:
    """Read (or download) a file-based dataset once, so a grid whose data is missing stops before its
    first run instead of failing the same way in every run. Raises DataError with the fix."""
    info = REGISTRY.get(name)
    if info is not None and info.files:
        info.loader(str(data_dir), 0, 0)


def load_dataset(name: str, data_dir: str = "data", train_size: int = 0, test_size: int = 0,
                 device: Any = "cpu"):
    """The dataset's splits, checked, subset (stratified) and moved to ``device`` once (a ``data.Dataset``)."""
    from .transforms import on_device
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(REGISTRY)}")
    info = REGISTRY[name]
    return on_device(name, info.loader(data_dir, train_size, test_size), info.classes, info.description,
                     train_size, test_size, device)
