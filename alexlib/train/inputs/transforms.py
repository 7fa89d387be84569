"""What a run does to its images, and nothing else: the stratified subsets, the checks and the move to the device
(``on_device``), each epoch's order, the batches, and the resize and normalization of a batch on the device
(``prepare``). Moved here from alexlib.train.inputs.data (which still re-exports them) so that the training code's
digest (``alexlib.train.record.RUN_CODE``) covers these and not the dataset readers beside them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .splits import UNKNOWN_ORIGIN, DataError, Dataset, Split

# The report gives no input normalization; the PyTorch CIFAR tutorial's (0.5, 0.5) maps pixels to [-1, 1].
MEAN, STD = 0.5, 0.5
SUBSET_SEED = 0  # subsets are the same for every run seed, so seeds vary only init, order and dropout


def stratified_subset(split: Split, n: int, seed: int = SUBSET_SEED) -> Split:
    """n images with the class proportions of the whole split, fixed by ``seed``."""
    if n <= 0 or n >= len(split):
        return split
    g = torch.Generator().manual_seed(seed)
    classes = torch.unique(split.y)
    order = torch.randperm(len(split), generator=g)
    y = split.y[order]
    per_class = [order[y == c] for c in classes]
    counts = torch.tensor([len(p) for p in per_class], dtype=torch.float64)
    take = torch.floor(counts * n / counts.sum()).long()
    short = n - int(take.sum())
    if short > 0:  # hand the remainder to the classes with the largest fractional parts
        frac = counts * n / counts.sum() - take
        take[torch.argsort(frac, descending=True)[:short]] += 1
    idx = torch.cat([p[:k] for p, k in zip(per_class, take.tolist())])
    idx = idx[torch.randperm(len(idx), generator=g)]
    return Split(split.x[idx], split.y[idx])


def _check_split(name: str, which: str, s: Split, num_classes: int) -> None:
    if s.x.dtype != torch.uint8 or s.x.ndim != 4 or s.x.shape[1] not in (1, 3):
        raise DataError(f"{name} {which} images must be uint8 (N, 1|3, H, W), got {tuple(s.x.shape)} {s.x.dtype}")
    if len(s.x) != len(s.y) or len(s.y) == 0:
        raise DataError(f"{name} {which}: {len(s.x)} images but {len(s.y)} labels")
    lo, hi = int(s.y.min()), int(s.y.max())
    if lo < 0 or hi >= num_classes:
        raise DataError(f"{name} {which} labels must lie in 0..{num_classes - 1}, found {lo}..{hi}")


def on_device(name: str, loaded, num_classes: int, description: str, train_size: int = 0, test_size: int = 0,
              device: str | torch.device = "cpu") -> Dataset:
    """A loader's (train, test), checked, subset (stratified) and moved to ``device`` once."""
    train, test = loaded
    for which, s in (("training", train), ("test", test)):
        _check_split(name, which, s, num_classes)
    train, test = stratified_subset(train, train_size), stratified_subset(test, test_size)
    dev = torch.device(device)
    return Dataset(name, Split(train.x.to(dev), train.y.to(dev)), Split(test.x.to(dev), test.y.to(dev)),
                   num_classes, description, getattr(loaded, "origin", UNKNOWN_ORIGIN))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of epoch ``epoch`` (1-based): a function of (seed, epoch) alone, so a resumed
    run sees the same batches as one run straight through."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def prepare(x_u8: torch.Tensor, image_size: int, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, C, h, w) on the device -> normalized float (B, 3, S, S): bilinear resize, grey to RGB."""
    x = x_u8.float().div_(255.0)
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = (x - MEAN) / STD
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def batches(split: Split, batch_size: int, order: torch.Tensor | None = None):
    """(x_u8, y) batches in ``order`` (or as stored); the last partial batch is kept."""
    n = len(split)
    for start in range(0, n, batch_size):
        if order is None:
            yield split.x[start:start + batch_size], split.y[start:start + batch_size]
        else:
            idx = order[start:start + batch_size].to(split.y.device, non_blocking=True)
            yield split.x[idx], split.y[idx]
