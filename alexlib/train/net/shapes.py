"""The network's sizes, as arithmetic (no torch): conv channels and hidden units at a width multiplier, and
each stage's spatial side at an input size. The model builds itself from these; the run configuration checks
GroupNorm's groups against them without loading torch."""
from __future__ import annotations

BASE_CHANNELS = (96, 256, 384, 384, 256)
BASE_HIDDEN = 4096


def stage_channels(width: float = 1.0) -> tuple[int, ...]:
    """Conv channels at a width multiplier; below 1.0 rounded to multiples of 8 so GroupNorm(4) fits."""
    if width == 1.0:
        return BASE_CHANNELS
    return tuple(max(8, int(round(c * width / 8)) * 8) for c in BASE_CHANNELS)


def hidden_units(width: float = 1.0) -> int:
    return BASE_HIDDEN if width == 1.0 else max(16, int(round(BASE_HIDDEN * width / 8)) * 8)


def _conv_out(n: int, k: int, s: int = 1, p: int = 0) -> int:
    return (n + 2 * p - k) // s + 1


def stage_sizes(image_size: int) -> tuple[int, ...]:
    """Spatial side of each stage's output (where its norm sits): 27, 13, 13, 13, 6 at 224 px."""
    c1 = _conv_out(image_size, 11, 4, 2)
    s1 = _conv_out(c1, 3, 2)          # after pool1
    s2 = _conv_out(s1, 3, 2)          # conv2 keeps the size (5x5, pad 2); pool2
    s5 = _conv_out(s2, 3, 2)          # conv3-5 keep the size; pool5
    if c1 < 3 or s1 < 3 or s2 < 3 or s5 < 1:
        raise ValueError(f"image_size {image_size} is too small for AlexNet's pooling; use at least 63")
    return (s1, s2, s2, s2, s5)


def place_shapes(image_size: int, width: float = 1.0) -> dict[str, tuple[int, int]]:
    """(channels, side) of the activation at each place a norm can sit (``alexlib.train.net.norms.PLACES``):
    after conv1's, conv2's and conv5's ReLU (before their pools), and after each of the five stages."""
    c = stage_channels(width)
    s = stage_sizes(image_size)
    relu1 = _conv_out(image_size, 11, 4, 2)
    return {"relu1": (c[0], relu1), "relu2": (c[1], s[0]), "relu5": (c[4], s[3]),
            **{f"conv{i + 1}": (c[i], s[i]) for i in range(5)}}
