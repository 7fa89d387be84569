"""Shared test fixtures: small run configs and dataset files the tests write in the real on-disk formats."""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from alexlib import data as D

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(min(2, os.cpu_count() or 1))

# A configuration that trains in about a second on a 2-core CPU: synthetic data, 63 px, a quarter width.
TINY = dict(dataset="synthetic", image_size=63, width=0.125, batch_size=16, epochs=2, lr=0.01,
            train_size=96, test_size=48, device="cpu", progress=False)


def tiny(tmp_path: Path, **kw) -> dict:
    return {**TINY, "out_dir": str(tmp_path / "run"), **kw}


def write_cifar_files(root: Path, n_per_batch: int = 40, n_test: int = 40, seed: int = 0) -> dict[str, str]:
    """Small files in the CIFAR-10 python format holding learnable images; returns their md5 sums,
    the checksums the loader is given for them."""
    train, test = D.make_synthetic(5 * n_per_batch, n_test, seed=seed)
    return D.write_cifar10_format(root, train, test)


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> None:
    raw = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def write_fashion_files(folder: Path, n_train: int = 60, n_test: int = 30, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8), gz)


@pytest.fixture
def cifar_dir(tmp_path):
    root = tmp_path / "cifar"
    sums = write_cifar_files(root)
    return root, sums
