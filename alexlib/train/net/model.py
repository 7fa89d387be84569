"""The report's AlexNet (Krizhevsky et al. 2012 layer sizes) with a choice of normalization layer.

Differences from torchvision's ``alexnet`` (which follows the "one weird trick" paper, 64-192-384-256-256
channels): this is the 2012 network's 96-256-384-384-256, with no adaptive pooling: fc6 sees the last
feature map as it is (256x6x6 at 224 px), so smaller inputs make a smaller network, labeled by
``image_size``. The 2012 paper's grouped convolutions (two GPUs) are not used, as in the report.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import LocalResponseNorm  # noqa: F401  (the model's LRN, also imported from here)
from .norms import norm_entry
from .shapes import hidden_units, place_shapes, stage_channels, stage_sizes
from .signals import LAYERS


def make_norm(kind: str, channels: int, side: int, gn_groups: int = 4) -> nn.Module:
    """The norm ``kind``'s layer for an activation of shape (channels, side, side) (``alexlib.train.net.norms``)."""
    n = norm_entry(kind)
    return n.build(channels, side, gn_groups) if n.build else nn.Identity()


class AlexNet(nn.Module):
    """AlexNet with a choice of normalization, each norm's layers where ``alexlib.train.net.norms`` places them:
    bn, ln, gn after each of the five conv stages; lrn after the ReLU of conv1 and conv2 (the 2012 paper); the
    arms bn_gn5 (GN at the fifth stage) and bn_pre5 (the fifth norm before the last max-pool)."""

    def __init__(self, norm: str = "none", num_classes: int = 10, image_size: int = 224,
                 width: float = 1.0, gn_groups: int = 4, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        c1, c2, c3, c4, c5 = stage_channels(width)
        shapes = place_shapes(image_size, width)   # place -> (channels, side)
        spec = norm_entry(norm)

        def at(place: str) -> nn.Module:   # the norm's layer where the registry puts it, else nothing
            key = spec.layer_at(place)
            return make_norm(key, *shapes[place], gn_groups) if key else nn.Identity()
        side = stage_sizes(image_size)[-1]
        hidden = hidden_units(width)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 11, stride=4, padding=2), nn.ReLU(inplace=True), at("relu1"),
            nn.MaxPool2d(3, 2), at("conv1"),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), at("relu2"), nn.MaxPool2d(3, 2), at("conv2"),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True), at("conv3"),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True), at("conv4"),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), at("relu5"), nn.MaxPool2d(3, 2), at("conv5"),
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


NORM_SLOTS = (4, 9, 12, 15, 20)  # the report's five places in ``features``
LRN_SLOTS = (2, 7)               # the 2012 paper's two places
PRE_POOL5_SLOT = 18              # after conv5's ReLU, before its max-pool (the bn_pre5 arm's fifth norm)


def norm_layers(model: AlexNet) -> list[nn.Module]:
    """The report's five per-stage norm slots, in order (Identity for none and lrn)."""
    return [model.features[i] for i in NORM_SLOTS]


def lrn_layers(model: AlexNet) -> list[nn.Module]:
    """The two LRN slots after conv1's and conv2's ReLU (Identity unless norm='lrn')."""
    return [model.features[i] for i in LRN_SLOTS]


def weight_layers(model: AlexNet) -> list[tuple[str, nn.Module]]:
    """The layers with weights, named by stage (``alexlib.train.net.signals.LAYERS``): the five convolutions of
    ``features`` (conv1..conv5) and the three linear layers of ``classifier`` (fc6..fc8), in order. Norm layers'
    affine parameters are not among them."""
    found = [m for m in model.features if isinstance(m, nn.Conv2d)] + \
        [m for m in model.classifier if isinstance(m, nn.Linear)]
    return list(zip(LAYERS, found, strict=True))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
