"""What the runs show beyond their cells, computed once: every comparison of norms at every batch size
(``alexlib.stats.compare_norms``, Holm over the table), and the batch-size effect under each design with the
test of how it changes when steps (or lr) are equalized (``alexlib.verdicts.batch_effects``).

The tables, the claims and summary.json all read the one ``Analysis``: one set of adjusted p values backs
every place that cites them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .cells import seed_table
from .runs import arm, designs, main_grid, test_resolution
from .stats import Comparison, compare_norms
from .verdicts import batch_effects as judge_batch_effects


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
    return compare_norms(groups, test_resolution(runs))


def batch_effects(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per norm and design: batch 64 minus the design's smallest batch size, and for the equalizing designs
    the change of that effect against the report's design (completed runs)."""
    cells = {d: seed_table(arm(runs, d, only_completed=True), lambda r: r.test_acc) for d in designs(runs)}
    return judge_batch_effects(cells, test_resolution(runs))
