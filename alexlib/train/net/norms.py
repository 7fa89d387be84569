"""The norms the study compares, as data: each with its names, its colour in every figure, where it sits in the
network and how its layer is built. The model builds from this registry and the report reads it, so a new norm is
one entry here (and its builder), not a branch in each.

Torch-free at import (the report and the configuration read it without torch): a builder imports torch when it
builds. Places in the network (``alexlib.train.net.model``): ``conv1``..``conv5``, one after each conv stage (after
the max-pool in stages 1, 2 and 5, after the ReLU in 3 and 4, where the report's LayerNorm shapes put them), and
``relu1``, ``relu2``, after the ReLU of conv1 and conv2, before their max-pools (the 2012 paper's LRN), and
``relu5``, after conv5's ReLU, before its max-pool (where the fifth stage's map is 3x3 at 63 px, not 1x1).

Two entries are arms (``arm``): BatchNorm with one thing changed, to isolate why it fails at batch 2 (the
fifth stage's norm swapped for GroupNorm; the fifth stage's norm moved before its max-pool). They are designed
after the batch-2 result was seen (exploratory), reported beside BN's and GN's cells, never in the report's
design's tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

CONVS = (   # after each conv stage (the stage of conv k: its ReLU, and its pool where it has one)
    "conv1", "conv2", "conv3", "conv4", "conv5")
PLACES = ("relu1", "relu2") + CONVS[:4] + ("relu5", "conv5")   # every place a norm can sit, in the network's order


@dataclass(frozen=True)
class Norm:
    key: str                          # the configuration's value (norm=...)
    short: str                        # in tables and figures: "BN"
    name: str                         # in words: "BatchNorm"
    color: str                        # in every figure (Okabe & Ito's colour-blind-safe palette)
    places: tuple[str, ...]           # where its layers sit (``PLACES``); () for none
    build: Callable[[int, int, int], Any] | None   # (channels, side, gn groups) -> the layer at a place
    why: str                          # one line: what it normalizes over, and its source
    report: bool = False              # one of the report's three normalization layers (BN, LN, GN)
    batch_stats: bool = False         # normalizes over the batch: a batch of one value per statistic cannot train
    groups: bool = False              # takes gn_groups (they must divide every place's channels)
    detail: str = ""                  # said beside its name where the protocol is listed ("4 groups")
    arm: bool = False                 # an arm of BN that changes one thing (reported beside BN, not as a norm)
    mixed: tuple[tuple[str, str], ...] = ()   # (place, another norm's key): that norm's layer sits there instead

    def layer_at(self, place: str) -> str | None:
        """The key of the norm whose layer sits at ``place`` (this one's, or a mixed place's), None if none."""
        return dict(self.mixed).get(place, self.key) if place in self.places else None


def _bn(c: int, side: int, groups: int):
    from torch import nn
    return nn.BatchNorm2d(c)


def _ln(c: int, side: int, groups: int):
    from torch import nn
    return nn.LayerNorm([c, side, side])


def _gn(c: int, side: int, groups: int):
    from torch import nn
    return nn.GroupNorm(groups, c)


def _lrn(c: int, side: int, groups: int):
    from .layers import LocalResponseNorm
    return LocalResponseNorm()


REGISTRY: dict[str, Norm] = {n.key: n for n in (
    Norm("none", "none", "none", "#8C8C8C", (), None, "no normalization: the report's baseline"),
    Norm("bn", "BN", "BatchNorm", "#0072B2", CONVS, _bn,
         "Ioffe & Szegedy 2015: batch statistics per channel; depends on the batch size", report=True,
         batch_stats=True),
    Norm("ln", "LN", "LayerNorm", "#E69F00", CONVS, _ln,
         "Ba et al. 2016, as the report: per sample over [C, H, W], one weight per element", report=True),
    Norm("gn", "GN", "GroupNorm", "#009E73", CONVS, _gn,
         "Wu & He 2018: per sample over channel groups; independent of the batch size", report=True,
         groups=True, detail="4 groups"),
    Norm("lrn", "LRN", "LRN", "#CC79A7", ("relu1", "relu2"), _lrn,
         "Krizhevsky et al. 2012: each activation over its 5 neighbouring channels; in the report's five places it "
         "divides every stage by at least 2^0.75 and never learned", detail="the 2012 paper's two places"),
    Norm("bn_gn5", "BN+GN5", "BatchNorm, GroupNorm at conv5", "#56B4E9", CONVS, _bn,
         "arm: BN at conv1-4 and GN at the fifth stage, the one place whose map is 1x1 at 63 px (BN's statistic "
         "there averages the batch's values alone)", batch_stats=True, groups=True, arm=True,
         mixed=(("conv5", "gn"),), detail="GN's 4 groups at conv5"),
    Norm("bn_pre5", "BN pre-pool5", "BatchNorm, conv5's before its max-pool", "#D55E00", CONVS[:4] + ("relu5",),
         _bn, "arm: BN with the fifth stage's norm before its max-pool, where the map is 3x3 at 63 px (9 values "
         "per sample per statistic instead of 1); fc6's input unchanged", batch_stats=True, arm=True,
         detail="conv5's norm before its max-pool"),
)}

NORMS = tuple(REGISTRY)                                       # also the order of every table and figure
NORMED = tuple(k for k, n in REGISTRY.items() if n.report)    # the report's three normalization layers
EXTRAS = tuple(k for k, n in REGISTRY.items() if k != "none" and not n.report and not n.arm)   # vs none
ARMS = tuple(k for k, n in REGISTRY.items() if n.arm)         # BN with one thing changed: beside BN and GN
SHORT_NAMES = {k: n.short for k, n in REGISTRY.items()}
NORM_NAMES = {k: n.name for k, n in REGISTRY.items()}
NORM_COLORS = {k: n.color for k, n in REGISTRY.items()}


def norm_entry(key: str) -> Norm:
    """The registry's entry, or an error that names the choices."""
    if key not in REGISTRY:
        raise ValueError(f"unknown norm {key!r}; choose one of {', '.join(NORMS)}")
    return REGISTRY[key]
