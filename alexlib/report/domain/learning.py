"""How far each cell learned, from its runs' per-epoch test accuracy: the flags a reader needs before reading a
difference (a cell near chance has not learned; a cell still rising at its last epoch has not finished), and how
fast each cell converged (accuracy after the first epoch; epochs and SGD steps to a stated accuracy).

The rules, fixed before the data:
- *near chance*: the cell's mean final accuracy is below chance + 10 points (chance: 100 / classes);
- *still learning*: its last epoch raised the cell's mean test accuracy by more than 2 points;
- *to reach*: the first epoch at which a seed's test accuracy reaches 90 % of the study's best cell mean,
  rounded down to a whole point; a seed that never reaches it is counted as such, never averaged in.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...train.inputs.datasets import REGISTRY
from .runs import main_grid, sweep

CHANCE_BAND = 10.0      # points above chance
STILL_LEARNING = 2.0    # points gained in the last epoch
REACH_SHARE = 0.9       # of the best cell's mean final accuracy
NEAR_CHANCE, STILL = "near chance", "still learning"


def chance(runs: pd.DataFrame) -> float:
    """Chance accuracy (%) of the runs' dataset: 100 / classes (10 when the dataset is not known here)."""
    names = set(runs.dataset) if len(runs) else set()
    classes = {REGISTRY[n].classes for n in names if n in REGISTRY}
    return 100.0 / (classes.pop() if len(classes) == 1 else 10)


def _flags(curves: list[list[float]], chance_acc: float) -> list[str]:
    curves = [c for c in curves if c]
    if not curves:
        return []
    out = []
    if float(np.mean([c[-1] for c in curves])) < chance_acc + CHANCE_BAND:
        out.append(NEAR_CHANCE)
    gains = [c[-1] - c[-2] for c in curves if len(c) >= 2]
    if gains and float(np.mean(gains)) > STILL_LEARNING:
        out.append(STILL)
    return out


def near_chance_cells(flags: dict[tuple[str, int], list[str]], lr_flags: dict[float, list[str]]) -> set[tuple]:
    """The cells flagged near chance, the sweep's as ("lr", lr): the cells more training, not more seeds, would
    decide (the planner gives them none)."""
    return ({cell for cell, f in flags.items() if NEAR_CHANCE in f}
            | {("lr", lr) for lr, f in lr_flags.items() if NEAR_CHANCE in f})


def cell_flags(runs: pd.DataFrame) -> dict[tuple[str, int], list[str]]:
    """(norm, batch size) of the report's design -> its flags (completed seeds)."""
    c = chance(runs)
    return {(norm, int(bs)): f for (norm, bs), g in main_grid(runs).groupby(["norm", "batch_size"])
            if (f := _flags(list(g.curve), c))}


def sweep_flags(runs: pd.DataFrame) -> dict[float, list[str]]:
    """lr of the sweep (no norm, batch 64) -> its flags."""
    c = chance(runs)
    s = sweep(runs)
    return {float(lr): f for lr, g in s[s.status == "completed"].groupby("lr") if (f := _flags(list(g.curve), c))}


def reach_threshold(runs: pd.DataFrame) -> float:
    """The accuracy 'to reach': 90 % of the best cell's mean final accuracy, rounded down to a whole point."""
    d = main_grid(runs)
    if d.empty:
        return math.nan
    best = d.groupby(["norm", "batch_size"]).test_acc.mean().max()
    return float(math.floor(REACH_SHARE * best))


def convergence(runs: pd.DataFrame) -> pd.DataFrame:
    """Per norm and batch size of the report's design: first-epoch accuracy (mean, sd), the epochs and SGD steps
    to reach the threshold (mean, sd over the seeds that reached it), and how many seeds reached it."""
    d = main_grid(runs)
    target = reach_threshold(runs)
    rows = []
    for (norm, bs), g in d.groupby(["norm", "batch_size"]):
        curves = [c for c in g.curve if c]
        first = [c[0] for c in curves]
        epochs = [next((i + 1 for i, a in enumerate(c) if a >= target), None) for c in curves]
        reached = [e for e in epochs if e is not None]
        per_epoch = math.ceil(g.train_images.iloc[0] / bs) if g.train_images.notna().all() else math.nan
        rows.append({"norm": norm, "batch_size": int(bs), "first_mean": float(np.mean(first)) if first else math.nan,
                     "first_sd": float(np.std(first, ddof=1)) if len(first) > 1 else math.nan,
                     "reached": len(reached), "seeds": len(curves),
                     "epochs_mean": float(np.mean(reached)) if reached else math.nan,
                     "epochs_sd": float(np.std(reached, ddof=1)) if len(reached) > 1 else math.nan,
                     "steps_mean": float(np.mean(reached)) * per_epoch if reached else math.nan,
                     "threshold": target})
    return pd.DataFrame(rows)
