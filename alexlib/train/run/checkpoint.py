"""A run's checkpoint (checkpoint.pt): the state to resume from, loaded safely, and each epoch's files
written whole or not at all, in the background while the next epoch trains.
"""
from __future__ import annotations

import copy
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import torch

from ...io import save_torch, write_json
from ..record import CHECKPOINT, METRICS
from ..inputs.splits import DataError

CHECKPOINT_KEYS = {"config", "epoch", "model", "optimizer", "rng", "history"}


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Weights only: a checkpoint file cannot run code when loaded. A file that is not a plain
    checkpoint (tampered, truncated, another program's) is refused with the fix."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"checkpoint {path} cannot be loaded safely ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]}); delete it to start the run over") from None
    if not isinstance(ck, dict) or not CHECKPOINT_KEYS <= set(ck):
        raise DataError(f"checkpoint {path} is not an alexlib checkpoint; delete it to start the run over")
    return ck


def rng_state(dev: torch.device) -> dict[str, torch.Tensor]:
    st = {"cpu": torch.get_rng_state()}
    if dev.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(dev)
    return st


def restore_rng(state: dict[str, torch.Tensor], dev: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if dev.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], dev)


def to_host(obj: Any) -> Any:
    """A snapshot on the host: tensors copied (training goes on changing them in place)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_host(v) for v in obj)
    return copy.deepcopy(obj)


class EpochWriter:
    """Writes an epoch's files in one background thread while the next epoch trains (a full-size
    checkpoint is ~0.47 GB), in order, one at a time. ``wait`` re-raises a failed write."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alexlib-writer")
        self._last: Future | None = None

    def submit(self, write: Callable[[], None]) -> None:
        self.wait()  # a failed earlier write fails the run before more training
        self._last = self._pool.submit(write)

    def wait(self) -> None:
        last, self._last = self._last, None
        if last is not None:
            last.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def save_epoch(writer: EpochWriter, out: Path, checkpoint: dict[str, Any] | None,
               metrics: dict[str, Any] | None) -> None:
    """Checkpoint first, then metrics, so metrics never claim an epoch the checkpoint lacks. A process
    killed mid-write leaves the previous files intact."""
    checkpoint = to_host(checkpoint) if checkpoint is not None else None
    metrics = copy.deepcopy(metrics) if metrics is not None else None

    def write():
        if checkpoint is not None:
            save_torch(out / CHECKPOINT, checkpoint)
        if metrics is not None:
            write_json(out / METRICS, metrics)

    writer.submit(write)
