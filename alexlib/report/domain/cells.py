"""The numbers per cell: mean and sd of the completed seeds' test accuracy, and how many seeds completed,
diverged, failed, were interrupted or are still running, per norm x batch size (the report's design), per design, and per
lr of the sweep.

Every view counts its seeds with ``cell_numbers``: a lost seed is counted in each, never averaged in as
zero and never dropped.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ...train.net.norms import NORMS, SHORT_NAMES
from ...vocab import STATUS_RANK
from .runs import arm, designs, main_grid, sweep

COUNTS = [f"n_{s}" for s in STATUS_RANK]   # n_completed, n_diverged, n_failed, n_interrupted, n_running


def cell_numbers(g: pd.DataFrame) -> dict[str, Any]:
    """The runs of one cell: mean and sd over its completed seeds, and its seeds counted by status."""
    acc = g[g.status == "completed"].test_acc
    count = g.status.value_counts()
    return {"mean": acc.mean(), "std": acc.std(), **{f"n_{s}": int(count.get(s, 0)) for s in STATUS_RANK}}


def mixed(g: pd.DataFrame) -> str:
    """Seeds of one cell run on other devices, kinds of CPU kernels or thread counts are not bit-comparable, and
    seeds trained by other training code (``code_digest``) may not be the same experiment: say so. A value a
    record does not hold (written before it was recorded, "?") is not a difference."""
    def kinds(col: str) -> list[str]:
        return sorted({str(v) for v in g[col].dropna()} - {"?", ""}) if col in g else []
    threads = sorted({int(t) for t in g.cpu_threads.dropna()}) if "cpu_threads" in g else []
    return "; ".join(m for m in (
        f"threads {'/'.join(map(str, threads))}" if len(threads) > 1 else "",
        f"devices {' / '.join(kinds('device_name'))}" if len(kinds("device_name")) > 1 else "",
        f"CPU kernels {' / '.join(kinds('cpu_capability'))}" if len(kinds("cpu_capability")) > 1 else "",
        f"training code {' / '.join(kinds('code_digest'))}" if len(kinds("code_digest")) > 1 else "") if m)


def mixed_cells(runs: pd.DataFrame) -> list[str]:
    """Cells of the report's design whose seeds ran on more than one device, kind of CPU kernels or thread count,
    or came from more than one version of the training code."""
    return [f"{SHORT_NAMES.get(norm, norm)} batch {bs}: {m}" for (norm, bs), g in
            runs[runs.design == "fixed"].groupby(["norm", "batch_size"]) if (m := mixed(g))]


def cells(runs: pd.DataFrame, report: dict[tuple[str, int], float], comparable: bool) -> pd.DataFrame:
    """One row per norm x batch size of the report's design, beside the report's value (``report``: its
    table by (norm, batch size)) and, where the protocol is the report's, the difference."""
    rows = [{"norm": norm, "batch_size": int(bs), **cell_numbers(g), "mixed": mixed(g)}
            for (norm, bs), g in main_grid(runs, only_completed=False).groupby(["norm", "batch_size"])]
    out = pd.DataFrame(rows, columns=["norm", "batch_size", "mean", "std", *COUNTS, "mixed"])
    out["report"] = [report.get((r.norm, r.batch_size), math.nan) for r in out.itertuples()]
    out["diff"] = out["mean"] - out["report"] if comparable else math.nan
    out["norm"] = pd.Categorical(out.norm, [n for n in NORMS if n in set(out.norm)])
    return out.sort_values(["norm", "batch_size"]).reset_index(drop=True)


def design_cells(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per design, norm and batch size, with the design's epochs, lr and SGD steps per run."""
    rows = []
    for design in designs(runs):
        for (norm, bs), g in arm(runs, design).groupby(["norm", "batch_size"]):
            r = g.iloc[0]
            steps = int(r.epochs) * math.ceil(r.train_images / bs) if r.train_images == r.train_images else None
            rows.append({"design": design, "norm": norm, "batch_size": int(bs), "epochs": int(r.epochs),
                         "lr": float(r.lr), "steps": steps, **cell_numbers(g), "mixed": ""})
    return pd.DataFrame(rows, columns=["design", "norm", "batch_size", "epochs", "lr", "steps", "mean", "std",
                                       *COUNTS, "mixed"])


def sweep_cells(runs: pd.DataFrame, report: dict[float, float]) -> pd.DataFrame:
    """One row per lr of the sweep (no normalization, batch 64), beside the report's value (``report``: its
    sweep by lr). Running seeds have no column here; the problems table lists them."""
    rows = []
    for lr, g in sweep(runs).groupby("lr"):
        n = cell_numbers(g)
        rows.append({"lr": lr, "mean": n["mean"], "sd": n["std"], "n_completed": n["n_completed"],
                     "n_diverged": n["n_diverged"], "n_failed": n["n_failed"], "report": report.get(lr, math.nan)})
    return pd.DataFrame(rows)


def seed_table(d: pd.DataFrame, value) -> dict[str, dict[int, dict[int, float]]]:
    """Runs as norm -> batch size -> seed -> value(run) (runs whose value is None left out)."""
    out: dict[str, dict[int, dict[int, float]]] = {}
    for r in d.itertuples():
        v = value(r)
        if v is not None:
            out.setdefault(r.norm, {}).setdefault(int(r.batch_size), {})[int(r.seed)] = float(v)
    return out
