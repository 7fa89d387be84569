"""Per-layer training signals: where in the network learning happens, epoch by epoch. For each conv stage
(conv1..conv5) and fc layer (fc6..fc8), an epoch's history entry in metrics.json holds, under "layers":

    "layers": {"conv1": {"grad_norm": 0.0123, "weight_dist": 0.0456}, ..., "fc8": {...}}

- ``grad_norm``: the L2 norm of the layer's weight gradient (of the mean cross-entropy over the batch; bias
  left out), averaged over the epoch's training steps, in loss units per weight unit;
- ``weight_dist``: how far the layer's weights moved from their initial values, ||W - W0|| / ||W0||, at the
  epoch's end (unitless; 0 at initialization).

Each rounded to ``DIGITS`` significant digits (a 10-epoch record grows by about 4 kB). The trainer
(alexlib.train.run.trainer) accumulates the gradient norms on the device inside each step and reads them once per
epoch. Torch-free, as the record is: the report reads the signals with ``layer_signals``.
"""
from __future__ import annotations

import math
from typing import Any

from ..record import RunRecord

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")   # the model's weight layers, in order
SIGNALS = ("grad_norm", "weight_dist")
DIGITS = 4   # significant digits kept in the record
FIELD = "layers"   # the history entry's key, and the field a record of an earlier schema lacks


def significant(x: float, digits: int = DIGITS) -> float:
    """``x`` rounded to ``digits`` significant digits (a non-finite value as it is)."""
    return float(f"{x:.{digits}g}") if math.isfinite(x) else x


def compact(grad_norm: dict[str, float], weight_dist: dict[str, float]) -> dict[str, dict[str, float]]:
    """The history entry's "layers" block from each layer's full-precision numbers."""
    return {name: {"grad_norm": significant(grad_norm[name]), "weight_dist": significant(weight_dist[name])}
            for name in LAYERS}


def layer_signals(record: RunRecord | dict[str, Any]) -> dict[int, dict[str, dict[str, float]] | None] | None:
    """Each epoch's per-layer signals, ``{epoch: {layer: {"grad_norm": .., "weight_dist": ..}}}``, as plain dicts
    (copies); an epoch trained before they were recorded (a run resumed across the change) maps to None. None for
    a record that has none of them (written before schema 4): the report says "not recorded"."""
    rec = record if isinstance(record, RunRecord) else RunRecord.from_json(record)
    if not any(FIELD in h for h in rec.history):
        return None
    return {int(h["epoch"]): ({name: dict(v) for name, v in h[FIELD].items()} if FIELD in h else None)
            for h in rec.history}
