"""One run: its configuration, the model, the data held on the device, the trainer and its step (eager or one
CUDA graph), checkpoints, the record it writes (metrics.json), and ``train(config) -> record``.

    from alexlib.train import train            # the run notebook's one import
    python -m alexlib.train --norm gn --batch-size 32

On top, what a run takes and what it writes, the two modules the grid and the report read: config (RunConfig)
and record (RunRecord, metrics.json, the training code's digest). Below, by job: net/ (the model, the norms'
registry, layers, shapes, per-layer signals), inputs/ (the datasets, their loaders, the splits, what a run does to
the images) and run/ (the loop, the trainer and its CUDA graph, device, checkpoints, BatchNorm's checks, timing).

``train`` loads torch when it is first used, so that reading a configuration or a record (alexlib.train.config,
alexlib.train.record: what the grid and the report need) never does.
"""
from __future__ import annotations

from typing import Any

__all__ = ["train"]


def __getattr__(name: str) -> Any:
    if name == "train":
        from .run.loop import train
        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
