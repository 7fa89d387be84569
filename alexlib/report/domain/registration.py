"""What a study declared before its data: the looks each source's claims were given, and, for a study registered
in full, the digests of its claim registry and grid file and the date, so the report can check that every record
it reads came after the registration and under the same claims (``params/registered/<grid>.yaml``).

A study with no registration keeps the design every study here has had from the start, two looks for every claim,
and is marked exploratory.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ...paths import PARAMS
from ...train.record import Place, flat_source

FOLDER = PARAMS / "registered"
MATCHED = ("dataset", "image_size", "width", "train_size", "test_size", "epochs")   # how a study is recognized


@dataclass(frozen=True)
class Registration:
    grid: str                              # params/<grid>.yaml
    looks: dict[str, int]                  # claim source -> 1 or 2
    pre_registered: bool                   # frozen before the study's first run (digests and date)
    note: str = ""                         # what was declared when, in a sentence for page 1
    registered_at: str = ""                # ISO time: every record must be made after it
    digests: dict[str, str] = field(default_factory=dict)   # claims, grid -> sha256 (12 hex)

    def check(self, updated: list[str]) -> list[str]:
        """What breaks the registration: records made before it, claims or grid changed since."""
        bad = []
        if self.pre_registered:
            before = [u for u in updated if u and u < self.registered_at]
            if before:
                bad.append(f"{len(before)} records were made before the registration ({self.registered_at})")
            now = current_digests(self.grid)
            bad += [f"the {k} changed since the registration ({self.digests.get(k)} then, {v} now)"
                    for k, v in now.items() if self.digests.get(k) != v]
        return bad


def current_digests(grid: str) -> dict[str, str]:
    """The claim registry's and the grid file's digests as they are now. The registry's bytes enter with its
    imports of alexlib/train read as if train/'s modules were flat in it (``flat_source``: ``from
    ...train.net.norms`` reads ``from ...train.norms``), so moving a module between train's subfolders keeps a
    registration, and importing something else breaks it."""
    from . import claims
    src = flat_source(Path(claims.__file__).read_bytes().decode("utf-8"), Place(claims.__name__)).encode("utf-8")
    grid_file = PARAMS / f"{grid}.yaml"
    return {"claims": hashlib.sha256(src).hexdigest()[:12],
            "grid": hashlib.sha256(grid_file.read_bytes()).hexdigest()[:12] if grid_file.exists() else "missing"}


def load(path: Path) -> Registration:
    d = yaml.safe_load(path.read_text()) or {}
    return Registration(str(d["grid"]), {str(k): int(v) for k, v in (d.get("looks") or {}).items()},
                        bool(d.get("pre_registered", False)), str(d.get("note", "")).strip(),
                        str(d.get("registered_at", "")), {str(k): str(v) for k, v in (d.get("digests") or {}).items()})


def for_protocol(protocol: dict[str, Any], folder: Path = FOLDER) -> Registration | None:
    """The registration whose grid file's base is this protocol (None: an unregistered study)."""
    for p in sorted(folder.glob("*.yaml")):
        reg = load(p)
        grid_file = PARAMS / f"{reg.grid}.yaml"
        if not grid_file.exists():
            continue
        base = (yaml.safe_load(grid_file.read_text()) or {}).get("base", {})
        if all(k in base and _same(base[k], protocol.get(k)) for k in MATCHED):
            return reg
    return None


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def write(grid: str, looks: dict[str, int], note: str, folder: Path = FOLDER) -> Path:
    """Freeze a study before its first run: its looks, the digests of the claims and the grid file, the time."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"grid": grid, "pre_registered": True, "registered_at": datetime.now().astimezone().isoformat(timespec="seconds"),
           "looks": looks, "digests": current_digests(grid), "note": note}
    out = folder / f"{grid}.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110))
    return out
