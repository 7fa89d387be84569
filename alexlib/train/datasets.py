"""The datasets a run may name, written once: each one's name, how a report prints it, its classes, the size
of its whole splits, the record's description of it, and its loader. The loaders (alexlib.train.data) import
torch when a run loads its data, not before, so a configuration can be checked and a record read without it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

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


def _cifar10(d: str, ntr: int, nte: int):
    from .data import load_cifar10
    return load_cifar10(d)


def _fashion_mnist(d: str, ntr: int, nte: int):
    from .data import load_fashion_mnist
    return load_fashion_mnist(d)


def _digits(d: str, ntr: int, nte: int):
    from .data import load_digits_split
    return load_digits_split()


def _synthetic(d: str, ntr: int, nte: int):
    from .data import make_synthetic
    return make_synthetic(ntr or 1024, nte or 256)


REGISTRY: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("cifar10", "CIFAR-10", 10, (50_000, 10_000), "CIFAR-10 (torchvision)", _cifar10, True, 32),
    DatasetInfo("fashion_mnist", "Fashion-MNIST", 10, (60_000, 10_000), "Fashion-MNIST", _fashion_mnist, True, 28),
    DatasetInfo("digits", "digits (scikit-learn)", 10, (1_257, 540), "scikit-learn digits (8x8)", _digits, False, 8),
    DatasetInfo("synthetic", "SYNTHETIC data", 10, (1_024, 256), "SYNTHETIC (tests and benchmarks only; not a result)",
                _synthetic, False, 32),
)}


def register(name: str, loader: Loader, num_classes: int, description: str,
             sizes: tuple[int, int] = (0, 0)) -> None:
    """Add a dataset (the tests and the GPU check use this for their CIFAR-format files)."""
    REGISTRY[name] = DatasetInfo(name, name, num_classes, sizes, description, loader)


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
    from .data import on_device
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(REGISTRY)}")
    info = REGISTRY[name]
    return on_device(name, info.loader(data_dir, train_size, test_size), info.classes, info.description,
                     train_size, test_size, device)
