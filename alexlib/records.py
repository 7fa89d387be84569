"""A run's record (metrics.json): its file names, reading it back, and whether it is the same run as a
configuration. Torch-free: the grid, the cluster path and the summary read records without loading torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import ConfigError, RunConfig
from .io import read_json

METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"


def read_metrics(out_dir: Path) -> dict[str, Any] | None:
    """The run's record, or None when there is none or it cannot be read."""
    p = Path(out_dir) / METRICS
    if not p.exists():
        return None
    try:
        m = read_json(p)
        return m if isinstance(m, dict) else None
    except (ValueError, UnicodeDecodeError, OSError):
        return None


def same_run(saved: dict[str, Any] | None, cfg: RunConfig, precision: str | None = None) -> tuple[bool, str]:
    """Whether a saved record or checkpoint describes the same run as ``cfg`` (same result key), and if
    not, how not. ``precision`` is what ``cfg.precision`` resolves to here (auto -> bf16 or fp32); the
    saved side's resolved precision is the one it ran with."""
    record_cfg = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(record_cfg, dict):
        return False, "no readable config"
    try:
        old_cfg = RunConfig.from_dict(record_cfg)
    except (ConfigError, TypeError) as e:
        return False, f"unreadable config ({e})"
    ran_with = saved.get("precision") or (saved.get("env") or {}).get("precision")
    old = old_cfg.result_key(ran_with if precision is not None else None)
    new = cfg.result_key(precision if ran_with is not None else None)
    diff = [f"{k}: {old.get(k)!r} there, {new[k]!r} now" for k in new if old.get(k) != new[k]]
    return not diff, "; ".join(diff)
