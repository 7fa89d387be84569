"""What the runs show beyond their cells, computed once: every comparison of norms at every batch size
(``alexlib.stats.compare_norms``), and the batch-size effect under each design with whether the report's
design's effect survives when steps (or lr) are equalized.

The tables, the claims and summary.json all read the one ``Analysis`` (Tukey's intervals are slow, and
one set of adjusted p values must back every place that cites them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .runs import arm, designs, main_grid
from .stats import Comparison, compare_norms, holm, welch
from .vocab import ALPHA, ANCHOR_BATCH, DESIGNS, NORMS


@dataclass(frozen=True)
class Analysis:
    comparisons: list[Comparison]        # every pair of norms at every batch size of the report's design
    batch_effects: list[dict[str, Any]]  # per norm and design: batch 64 minus the design's smallest batch


def analyze(runs: pd.DataFrame) -> Analysis:
    return Analysis(norm_comparisons(runs), batch_effects(runs))


def norm_comparisons(runs: pd.DataFrame) -> list[Comparison]:
    """The report's design's completed runs as batch size -> norm -> seed -> accuracy, compared."""
    groups: dict[int, dict[str, dict[int, float]]] = {}
    for r in main_grid(runs).itertuples():
        groups.setdefault(int(r.batch_size), {}).setdefault(r.norm, {})[int(r.seed)] = float(r.test_acc)
    return compare_norms(groups)


def batch_effects(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per norm and design: test accuracy at batch 64 minus at the smallest batch size of the design, with
    Welch's 95 % interval and p (Holm over the whole table); then, per norm, whether the effect of the
    report's design survives when steps (or lr) are equalized. A side with fewer than 2 completed seeds
    leaves the row untested: its numbers are nan and it takes no part in the adjustment."""
    rows: list[dict[str, Any]] = []
    sides: list[tuple[list[float], list[float]]] = []   # (batch 64, the smallest batch) of each row
    present = set(runs.norm)
    for design in designs(runs):
        d = arm(runs, design, only_completed=True)
        small = int(d.batch_size.min()) if not d.empty else ANCHOR_BATCH
        if small == ANCHOR_BATCH:
            continue
        for norm in [n for n in NORMS if n in present and n in set(d.norm)]:
            cell = d[d.norm == norm]
            rows.append({"norm": norm, "design": design, "design_name": DESIGNS[design][0], "small": small,
                         "large": ANCHOR_BATCH})
            sides.append((list(cell[cell.batch_size == ANCHOR_BATCH].test_acc),
                          list(cell[cell.batch_size == small].test_acc)))
    testable = [len(a) >= 2 and len(b) >= 2 for a, b in sides]
    found = [welch(a, b) if ok else (math.nan,) * 4 for (a, b), ok in zip(sides, testable)]
    adjusted = iter(holm([f[3] for f, ok in zip(found, testable) if ok]))
    for r, (a, b), ok, (effect, low, high, p) in zip(rows, sides, testable, found):
        p = next(adjusted) if ok else p
        r.update(effect=effect, ci_low=low, ci_high=high, p=p, n_small=len(b), n_large=len(a),
                 shown=None if not ok or math.isnan(p) else bool(p < ALPHA))
    for r in rows:
        r["verdict"] = "" if r["design"] == "fixed" else _survives(r, rows)
    return rows


def _survives(r: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    fixed = next((x for x in rows if x["norm"] == r["norm"] and x["design"] == "fixed"), None)
    if fixed is None or fixed["shown"] is None:
        return "no fixed-design effect to compare"
    if r["shown"] is None:
        return "not testable"
    if not fixed["shown"]:
        return ("an effect appears" if r["shown"] else "not shown in either design")
    same = np.sign(r["effect"]) == np.sign(fixed["effect"])
    if r["shown"]:
        return "survives" if same else "reverses"
    return "not shown when equalized"
