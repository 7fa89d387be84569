"""A run's record (metrics.json): its file names, reading one back, reading every record below a folder (one
error policy for every reader: the report, the cost estimate, the benchmark, the report's copy), and whether a
record is the same run as a configuration. Torch-free (a test holds it so): the grid, the cluster path and the
report read records without loading torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..io import read_json
from ..paths import REPO
from .config import ConfigError, RunConfig

METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class Unreadable:
    """A metrics.json that could not be used, and why."""
    path: Path
    problem: str


def read_metrics(out_dir: Path) -> dict[str, Any] | None:
    """The run's record, or None when there is none or it cannot be read."""
    p = Path(out_dir) / METRICS
    if not p.exists():
        return None
    rec = _read(p)
    return None if isinstance(rec, Unreadable) else rec


def _read(p: Path) -> dict[str, Any] | Unreadable:
    try:
        m = read_json(p)
    except (ValueError, UnicodeDecodeError, OSError) as e:
        return Unreadable(p, f"unreadable metrics.json ({type(e).__name__}: {e})")
    if not isinstance(m, dict):
        return Unreadable(p, f"unreadable metrics.json (a {type(m).__name__}, not a record)")
    return m


def record_paths(folder: str | Path) -> list[Path]:
    """Every metrics.json below ``folder``, in path order (none when the folder does not exist)."""
    folder = Path(folder)
    return sorted(folder.rglob(METRICS)) if folder.is_dir() else []


def read_records(folder: str | Path) -> Iterator[tuple[Path, dict[str, Any] | Unreadable]]:
    """Each metrics.json below ``folder`` with its record, or ``Unreadable`` saying why it could not be read:
    a reader decides what an unreadable file means to it (the report lists it, the estimate skips it)."""
    for p in record_paths(folder):
        yield p, _read(p)


PATH_KEYS = (("config", "data_dir"), ("config", "out_dir"), ("dataset", "location"), ("dataset", "fallback_from"))


def relative_to_repo(path: str | None) -> str | None:
    """A path inside the repository as relative to its root (what every clone shares); others as they are."""
    if not path:
        return path
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO)) if p.is_absolute() else path
    except ValueError:
        return path


def portable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without this machine's paths: the folders it names inside the repository, relative to its root
    (runs resolve them against the root again, wherever they start). Everything else as it is."""
    out = dict(record)
    for block, key in PATH_KEYS:
        if isinstance(out.get(block), dict) and out[block].get(key):
            out[block] = {**out[block], key: relative_to_repo(out[block][key])}
    return out


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
