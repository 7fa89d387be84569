"""stages.json, the study's second stage as one typed definition: what seeds on demand planned (alexlib.decide
writes it before the stage's first run) and what the report reads (which runs are the second stage's, and what was
planned and measured). Beside the run record (alexlib.train.record), with a schema version of its own.

    <runs>/stages.json = {"schema": 1, "stages": [SecondStage, ...]}   (each cell grown by one of them at most: the
    test has two looks; a later stage serves claims added since, on cells no earlier stage grew)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .io import write_json

STAGES = "stages.json"
SCHEMA = 1   # the files written before it had a number read as version 1: the same fields


def stage_name(i: int) -> str:
    """The i-th second stage's name, in its grid file's and the report's words: 0 -> "2", 1 -> "2.2", 2 -> "2.3"."""
    return "2" if i == 0 else f"2.{i + 1}"


class StagesError(ValueError):
    """A stages.json that cannot be read: it says which seeds a second stage added, so the report stops."""


@dataclass
class SecondStage:
    """One planned second stage: its budget and rule, the claims and cells it serves, its runs and its cost."""
    stage: int = 2
    planned_at: str = ""                              # UTC, when the plan was fixed (before its first run)
    budget: str = ""                                  # as given: "1h", "45m", a number of runs
    cap: int = 0                                      # seeds per cell at most, first stage included
    rule: str = ""                                    # how the seeds were chosen, in words
    claims: list[str] = field(default_factory=list)   # the claims whose open parts it serves, cheapest first
    unreached: list[str] = field(default_factory=list)   # claims the budget did not reach
    cells: list[list[Any]] = field(default_factory=list)  # [norm, batch size] or ["lr", lr]
    seeds: str = ""                                   # "3–15"
    runs: list[str] = field(default_factory=list)     # the run ids it added
    planned_seconds: float = 0.0
    estimate: str = ""                                # the estimate's line, as printed
    parts: list[dict[str, Any]] = field(default_factory=list)   # claim, part, seeds added, cells
    measured_seconds: float = 0.0                     # wall time its grid took (summed over resumed calls)
    executor: dict[str, Any] | None = None            # the executor block that runs it (None: this machine)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "SecondStage":
        known = {f.name for f in fields(cls)}
        if not isinstance(d.get("runs", []), list):
            raise StagesError("a stage in stages.json names its runs in a list")
        return cls(**{k: v for k, v in d.items() if k in known})


def read_stages(runs_dir: Path) -> list[SecondStage]:
    """The second stages recorded in ``<runs_dir>/stages.json`` ([] when the study has one stage)."""
    p = Path(runs_dir) / STAGES
    if not p.is_file():
        return []
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StagesError(f"{p} cannot be read ({e}); it says which seeds a second stage added") from None
    if not isinstance(doc, dict):
        raise StagesError(f"{p} is not a stages file (a {type(doc).__name__})")
    version = doc.get("schema", 1)
    if not isinstance(version, int) or version > SCHEMA:
        raise StagesError(f"{p} was written by a newer alexlib (schema {version!r}; this code reads up to {SCHEMA})")
    return [SecondStage.from_json(s) for s in doc.get("stages", []) if isinstance(s, dict)]


def write_stages(runs_dir: Path, stages: list[SecondStage]) -> Path:
    """stages.json, written whole."""
    p = Path(runs_dir) / STAGES
    write_json(p, {"schema": SCHEMA, "stages": [s.to_json() for s in stages]})
    return p


def grown_cells(stages: list[SecondStage]) -> set[tuple]:
    """The cells the stages grew, as (norm, batch size) or ("lr", lr): none is grown again, so every part keeps two
    looks at most."""
    return {tuple(c) for st in stages for c in st.cells}
