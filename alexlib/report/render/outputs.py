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

from ...io import save_figure, write_csv, write_json
from ...stages import SecondStage
from ...vocab import DESIGNS
from ..domain.analysis import Analysis
from ..domain.claims import SOURCES, claim_spec
from ..domain.runs import comparable, designs, is_synthetic
from .texts import label

DPI = 120


def write_report(report_dir: Path, runs: pd.DataFrame, cells: pd.DataFrame, design_cells: pd.DataFrame,
                 figures: dict[str, Figure], index: dict[str, Any]) -> list[Path]:
    """Write the report folder; returns the paths written: the CSVs, the PNGs (``figures``: file stem ->
    figure), then summary.json (``index``: see ``summary_index``)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    # a run's curve (a list) stays in its metrics.json; its key (JSON) only tells duplicates apart
    tables = {"results.csv": runs.drop(columns=["curve", "loss_curve", "key", "layers_last"], errors="ignore"), "cells.csv": cells, "designs.csv": design_cells}
    paths = [write_csv(report_dir / name, df) for name, df in tables.items()]
    paths += [save_figure(report_dir / f"{name}.png", fig, dpi=DPI) for name, fig in figures.items()]
    write_json(report_dir / "summary.json", index)
    return paths + [report_dir / "summary.json"]


def summary_index(runs: pd.DataFrame, protocol: dict[str, Any], fixed_epochs: int, duplicates: int,
                  problems: list[dict[str, str]], analysis: Analysis, findings: list[dict[str, str]],
                  flags: list[dict[str, Any]], convergence: pd.DataFrame, stages: list[SecondStage],
                  against: dict[str, Any] | None = None, small: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json: the first pages' findings, what the runs are and their statuses, each claim part by part
    (its outcome, margin, interval and level, the p its decision used), every comparison and batch-size effect
    (each with the level of its decision, or the claim that decided it), the flags, convergence, and the stages."""
    return {
        "findings": findings, "label": label(runs), "synthetic": is_synthetic(runs), "runs": len(runs),
        "protocol": {k: (v.item() if hasattr(v, "item") else v) for k, v in protocol.items()},
        "comparable_to_report": comparable(protocol), "duplicate_folders": duplicates,
        "status": runs.status.value_counts().to_dict(), "unreadable": problems,
        "claims": [c.as_dict() | {"source": claim_spec(c.id).source} for c in analysis.claims],
        "claims_in_the_papers_design": [c.as_dict() | {"source": claim_spec(c.id).source, "design": "lr_scaled"}
                                        for c in analysis.paper_design],
        "claim_sources": {k: {"title": v.title, "numbers": v.numbers,
                              "batch_sizes": list(v.sizes) if v.sizes else "all"} for k, v in SOURCES.items()},
        "comparisons": [vars(c) | {"shown": c.shown} for c in analysis.comparisons],
        "designs": {k: DESIGNS[k][1] for k in designs(runs)}, "fixed_epochs": fixed_epochs,
        "batch_effects": analysis.batch_effects, "vs_none": analysis.vs_none, "flags": flags,
        "convergence": convergence.to_dict(orient="records"),
        "stages": {"seeds_by_stage": runs.groupby("stage").size().to_dict() if "stage" in runs else {1: len(runs)},
                   "second": [s.to_json() for s in stages], "design": two_stage_design()},
        "small_batches": small or {}, "against_committed": against, "method": "docs/STATISTICS.md"}


def two_stage_design() -> dict[str, Any]:
    """The design the verdicts follow, as numbers: the weights, and each claim size's boundaries."""
    from ...vocab import ALPHA
    from ..inference import looks
    return {"looks": 2, "boundaries": "O'Brien-Fleming", "combination": "inverse normal", "weights": list(looks.WEIGHTS),
            "alpha": ALPHA, "per_part": "Bonferroni over a claim's parts: each one-sided test at alpha / (2 parts)"}
