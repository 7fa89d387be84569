"""The report folder's files: results.csv (one row per run), cells.csv (per norm x batch size), designs.csv
(per design, norm and batch size), every figure as PNG, and summary.json, the index a script reads
instead of the notebook.

Each file is written whole (a temporary file, then a rename), so a reader never sees half of one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..io import save_figure, write_csv, write_json
from ..vocab import DESIGNS
from .analysis import Analysis
from .runs import comparable, designs, is_synthetic
from .texts import label
from .verdicts import Claim, power_rows

DPI = 120


def write_report(report_dir: Path, runs: pd.DataFrame, cells: pd.DataFrame, design_cells: pd.DataFrame,
                 figures: dict[str, Figure], index: dict[str, Any]) -> list[Path]:
    """Write the report folder; returns the paths written: the CSVs, the PNGs (``figures``: file stem ->
    figure), then summary.json (``index``: see ``summary_index``)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    # a run's curve (a list) stays in its metrics.json; its key (JSON) only tells duplicates apart
    tables = {"results.csv": runs.drop(columns=["curve", "key"]), "cells.csv": cells, "designs.csv": design_cells}
    paths = [write_csv(report_dir / name, df) for name, df in tables.items()]
    paths += [save_figure(report_dir / f"{name}.png", fig, dpi=DPI) for name, fig in figures.items()]
    write_json(report_dir / "summary.json", index)
    return paths + [report_dir / "summary.json"]


def summary_index(runs: pd.DataFrame, protocol: dict[str, Any], fixed_epochs: int, duplicates: int,
                  problems: list[dict[str, str]], analysis: Analysis, claims: list[Claim],
                  headline: list[dict[str, Any]] | None = None, findings: list[dict[str, str]] | None = None
                  ) -> dict[str, Any]:
    """summary.json: the first page's findings and the averages they cite (headline), what the runs are, their
    statuses, and every comparison, batch-size effect and claim."""
    return {
        "findings": findings or [], "headline": headline or [],
        "label": label(runs), "synthetic": is_synthetic(runs), "runs": len(runs),
        "protocol": {k: (v.item() if hasattr(v, "item") else v) for k, v in protocol.items()},
        "comparable_to_report": comparable(protocol), "duplicate_folders": duplicates,
        "status": runs.status.value_counts().to_dict(), "unreadable": problems,
        "comparisons": [vars(c) | {"shown": c.shown} for c in analysis.comparisons],
        "designs": {k: DESIGNS[k][1] for k in designs(runs)}, "fixed_epochs": fixed_epochs,
        "batch_effects": analysis.batch_effects,
        "claims": [c.as_dict() for c in claims], "power": power_rows(claims),
        "method": "docs/STATISTICS.md"}
