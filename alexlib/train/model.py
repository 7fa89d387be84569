"""The report's AlexNet (Krizhevsky et al. 2012 layer sizes) with a choice of normalization layer.

Differences from torchvision's ``alexnet`` (which follows the "one weird trick" paper, 64-192-384-256-256
channels): this is the 2012 network's 96-256-384-384-256, with no adaptive pooling: fc6 sees the last
feature map as it is (256x6x6 at 224 px), so smaller inputs make a smaller network, labeled by
``image_size``. The 2012 paper's grouped convolutions (two GPUs) are not used, as in the report.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..vocab import NORMS
from .shapes import hidden_units, stage_channels, stage_sizes


class LocalResponseNorm(nn.Module):
    """Krizhevsky et al. 2012, section 3.3: b_c = a_c / (k + alpha * sum of a_j^2 over the n channels
    around c)^beta, with the paper's n=5, k=2, alpha=1e-4, beta=0.75 (torch's LocalResponseNorm writes
    alpha/n, so its alpha would be 5e-4; the same function, tested against it).
    Computed in fp32 (under bf16 autocast the denominator would round in ~0.8 % steps) as a sum of
    shifted slices, which is deterministic on CUDA (torch's avg_pool3d backward is not)."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        c = x32.shape[1]
        sq = F.pad(x32.square(), (0, 0, 0, 0, self.size // 2, (self.size - 1) // 2))  # pad channels: (B, C+n-1, H, W)
        window = sum(sq[:, i:i + c] for i in range(self.size))                           # (B, C, H, W)
        return (x32 / (self.k + self.alpha * window).pow(self.beta)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def make_norm(kind: str, channels: int, side: int, gn_groups: int = 4) -> nn.Module:
    """One of the report's normalization layers for a stage's output of shape (channels, side, side)."""
    if kind in ("none", "lrn"):  # lrn sits elsewhere: see AlexNet
        return nn.Identity()
    if kind == "bn":   # Ioffe & Szegedy 2015: batch statistics per channel; depends on batch size
        return nn.BatchNorm2d(channels)
    if kind == "ln":   # Ba et al. 2016, as the report: per-sample over [C, H, W], one weight per element
        return nn.LayerNorm([channels, side, side])
    if kind == "gn":   # Wu & He 2018: per-sample over channel groups; independent of batch size
        return nn.GroupNorm(gn_groups, channels)
    raise ValueError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


class AlexNet(nn.Module):
    """AlexNet with a choice of normalization.

    bn, ln, gn: one layer per conv stage, after the max-pool in stages 1, 2 and 5 and after the ReLU in
    stages 3 and 4 (where the report's LayerNorm shapes put them).
    lrn: as the 2012 paper has it, after the ReLU of conv1 and conv2, before their max-pools, and nowhere
    else. (LRN in the report's five places divides every stage by at least 2^0.75 and never learned.)
    """

    def __init__(self, norm: str = "none", num_classes: int = 10, image_size: int = 224,
                 width: float = 1.0, gn_groups: int = 4, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        c1, c2, c3, c4, c5 = stage_channels(width)
        n1, n2, n3, n4, n5 = (make_norm(norm, c, s, gn_groups)
                              for c, s in zip((c1, c2, c3, c4, c5), stage_sizes(image_size)))
        lrn1, lrn2 = (LocalResponseNorm() if norm == "lrn" else nn.Identity() for _ in range(2))
        side = stage_sizes(image_size)[-1]
        hidden = hidden_units(width)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 11, stride=4, padding=2), nn.ReLU(inplace=True), lrn1,
            nn.MaxPool2d(3, 2), n1,
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), lrn2, nn.MaxPool2d(3, 2), n2,
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True), n3,
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True), n4,
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2), n5,
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(c5 * side * side, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)                 # (B, C5, S, S)
        x = torch.flatten(x, 1)              # (B, C5*S*S)
        return self.classifier(x)


NORM_SLOTS = (4, 9, 12, 15, 19)  # the report's five places in ``features``
LRN_SLOTS = (2, 7)               # the 2012 paper's two places


def norm_layers(model: AlexNet) -> list[nn.Module]:
    """The report's five per-stage norm slots, in order (Identity for none and lrn)."""
    return [model.features[i] for i in NORM_SLOTS]


def lrn_layers(model: AlexNet) -> list[nn.Module]:
    """The two LRN slots after conv1's and conv2's ReLU (Identity unless norm='lrn')."""
    return [model.features[i] for i in LRN_SLOTS]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
