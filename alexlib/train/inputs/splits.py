"""What a dataset loader returns: uint8 images with their labels (``Split``), the pair with where it was read
from (``Splits``, ``Origin``: the folder and each file's md5, for the record), the dataset on the device
(``Dataset``), and the error a loader raises (``DataError``)."""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # the tensors' type only: reading what a loader returns needs no torch
    import torch


class DataError(RuntimeError):
    """Dataset files missing, corrupted or of the wrong shape; the message names the file and the fix."""


@dataclass
class Split:
    x: torch.Tensor  # (N, C, H, W) uint8
    y: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Origin:
    """Where a dataset's images came from: the folder read and the md5 of each file read there."""
    location: str | None                                  # that folder; None when no file was read
    files: dict[str, str] = field(default_factory=dict)   # file name in ``location`` -> md5 of its bytes
    note: str = ""                                        # how: checked, downloaded, embedded, generated
    asked: str | None = None  # the data_dir the run named, when the files were found elsewhere (a fallback)

    def record(self) -> dict[str, Any]:
        """The keys this adds to a record's ``dataset`` block."""
        return {"location": self.location, "files": dict(self.files), "origin": self.note,
                "fallback_from": self.asked}

    def fallback_note(self) -> str:
        """What the console says when the files came from somewhere other than the data_dir asked for."""
        if self.asked is None:
            return ""
        return f" (data_dir {self.asked} has none: read {', '.join(self.files)} from {self.location})"


UNKNOWN_ORIGIN = Origin(None, {}, "a registered loader that does not say which files it read")


class Splits(tuple):
    """A loader's (train, test): unpacks as the pair; ``origin`` says where they came from."""
    origin: Origin

    def __new__(cls, train: Split, test: Split, origin: Origin = UNKNOWN_ORIGIN) -> "Splits":
        pair = super().__new__(cls, (train, test))
        pair.origin = origin
        return pair


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    num_classes: int
    source: str  # what the data is, for the record
    origin: Origin = UNKNOWN_ORIGIN  # where it was read from, for the record


@functools.lru_cache(maxsize=None)
def _digest_cached(path: str, size: int, mtime_ns: int, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """A file's digest, computed once per process per file and algorithm: CIFAR-10's seven files (~180 MB) take
    about half a second to hash on one core, and the same pass serves the check against torchvision's sums and
    the record. A file replaced since (another size or modification time) is hashed again."""
    p = Path(path).resolve()
    st = p.stat()
    return _digest_cached(str(p), st.st_size, st.st_mtime_ns, algorithm)


def md5(path: str | os.PathLike) -> str:
    """A file's md5 (``file_digest``): what torchvision's CIFAR-10 checksums are."""
    return file_digest(path, "md5")
