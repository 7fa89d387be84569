"""What the runs show, computed once and each quantity decided in one place: the report's claims part by part
(``alexlib.report.domain.claims``), every comparison of two norms at every batch size, the batch-size effect under
each design and how it changes when steps (or lr) are equalized, and each norm beyond the report's three (LRN)
against no normalization on average.

A difference that is a claim's part is decided in its claim, at the claim's level, and every table that shows
it shows that decision and that interval; the other rows of a table form their own family (Holm). So each
quantity has one interval, at the level its decision used. The tables use the first stage's seeds (the grid as
written): seeds a second stage added serve the claims' combination tests only, so no table is skewed by where
they went.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...train.net.norms import EXTRAS, NORMS
from ...vocab import ALPHA, ANCHOR_BATCH, DESIGNS, REPORT_BATCHES
from ..inference import stats
from ..inference.verdicts import Claim, Part
from . import registration
from .cells import cells as cell_means
from .cells import seed_table
from .claims import CLAIMS, batch_key, judge_claims, judged_on, pair_key, report_claims
from .evidence import evidence
from .runs import arm, designs, main_grid, test_resolution

Cells = dict[str, dict[int, dict[int, float]]]


@dataclass(frozen=True)
class Analysis:
    claims: list[Claim]
    comparisons: list[stats.Comparison]      # every pair of norms at every batch size of the report's design
    batch_effects: list[dict[str, Any]]   # per norm and design: batch 64 minus the design's smallest batch
    vs_none: dict[str, dict[str, Any]]    # each norm beyond the report's (EXTRAS) − none on average (own test)
    paper_design: list[Claim] = field(default_factory=list)   # the paper's claims in its own design
    design_cells: pd.DataFrame = field(default_factory=pd.DataFrame)   # that design's cells (``cells.cells``)

    def parts(self) -> dict[str, Part]:
        """The claims' parts by the quantity they decide."""
        return {p.quantity: p for c in self.claims for p in c.parts if p.quantity}


def analyze(runs: pd.DataFrame, protocol: dict[str, Any]) -> Analysis:
    declared = registration.for_protocol(protocol)
    claims = report_claims(runs, protocol, declared.looks if declared else None)
    first = runs[runs.stage == 1] if "stage" in runs else runs
    parts: dict[str, tuple[str, Part]] = {}
    for c in claims:   # a quantity two parts share is shown at the later of their looks
        for p in sorted((p for p in c.parts if p.quantity and p.interval is not None), key=lambda p: p.interval.stage):
            parts[p.quantity] = (c.id, p)
    return Analysis(claims, norm_comparisons(first, parts), batch_effects(first, parts),
                    {n: m for n in EXTRAS if (m := mean_vs_none(first, n))}, paper_design(runs, protocol),
                    cell_means(paper_design_runs(runs), {}, False))


PAPER_DESIGN = "lr_scaled"   # the Group Normalization paper's design: lr = 0.005 x batch / 64, the epochs fixed


def paper_design_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the Group Normalization paper's design, labeled as the report's design so that the claims read
    them: its lr-scaled cells, and the report's design at batch 64, where lr 0.005 x 64 / 64 is the report's lr.
    Empty where no lr-scaled cell lies below the report's batch sizes (the paper's regime)."""
    if "design" not in runs:
        return runs.iloc[0:0]
    scaled = runs[runs.design == PAPER_DESIGN]
    if scaled.empty or scaled.batch_size.min() >= min(REPORT_BATCHES):
        return runs.iloc[0:0]
    anchor = runs[(runs.design == "fixed") & (runs.batch_size == ANCHOR_BATCH) & runs.norm.isin(set(scaled.norm))]
    return pd.concat([scaled, anchor]).assign(design="fixed")


def paper_design(runs: pd.DataFrame, protocol: dict[str, Any]) -> list[Claim]:
    """The Group Normalization paper's claims judged on its own design's cells (``paper_design_runs``), as in
    the report's design, part by part; one look each (the design's cells get no second stage). [] without them."""
    view = paper_design_runs(runs)
    if view.empty:
        return []
    ids = tuple(c.id for c in CLAIMS if c.source == "gn_paper")
    return judge_claims(evidence(view), judged_on=judged_on(view, protocol) + "; lr scaled with the batch size",
                        ids=ids, looks=1)


def _decision(part: Part, sign: int) -> tuple[float, float, float]:
    """A part's interval (estimate, low, high) for the quantity as named: ``sign`` -1 flips it."""
    iv = part.interval
    lo, hi = sorted((sign * part.sign * iv.low, sign * part.sign * iv.high))
    return sign * part.sign * iv.estimate, lo, hi


def norm_comparisons(runs: pd.DataFrame, parts: dict[str, tuple[str, Part]]) -> list[stats.Comparison]:
    """The report's design's completed runs as batch size -> norm -> seed -> accuracy, every pair compared;
    the pairs a claim decides come from the claim."""
    groups: dict[int, dict[str, dict[int, float]]] = {}
    for r in main_grid(runs).itertuples():
        groups.setdefault(int(r.batch_size), {}).setdefault(r.norm, {})[int(r.seed)] = float(r.test_acc)
    decided = {}
    for bs, by_norm in groups.items():
        for a in by_norm:
            for b in by_norm:
                key, sign = pair_key("fixed", bs, a, b)
                if sign != 1 or key not in parts:
                    continue
                cid, part = parts[key]
                diff, lo, hi = _decision(part, 1)
                hi_norm, lo_norm = (a, b) if diff >= 0 else (b, a)
                if diff < 0:
                    diff, lo, hi = -diff, -hi, -lo
                decided[(bs, frozenset((a, b)))] = stats.Comparison(
                    bs, hi_norm, lo_norm, f"claim {cid}'s part, at the claim's level", part.stage1.n, diff, lo, hi,
                    part.p, part.p, 1 - ALPHA, part.stage1.sd, part.stage1.df, f"claim {cid}",
                    bool(lo > 0 or hi < 0))
    return stats.compare_norms(groups, test_resolution(runs), decided)


def mean_vs_none(runs: pd.DataFrame, norm: str) -> dict[str, Any] | None:
    """``norm`` minus no normalization in final accuracy, averaged over the batch sizes both ran: one test, 95 %
    (for the norms beyond the report's three, which no claim compares)."""
    cells = seed_table(main_grid(runs), lambda r: r.test_acc)
    if norm not in cells or "none" not in cells:
        return None
    e = stats.blocked_mean(cells[norm], cells["none"], test_resolution(runs))
    if not e.testable:
        return None
    return {"a": norm, "b": "none", "diff": e.diff, "ci_low": e.low, "ci_high": e.high, "level": e.level,
            "p": e.p, "shown": e.shown(), "batch_sizes": sorted(set(cells[norm]) & set(cells["none"])),
            "method": e.method}


# ---------------------------------------------------------------------------------------------------
# The batch-size effect under each design, and how it changes when steps (or lr) are equalized
# ---------------------------------------------------------------------------------------------------
def batch_effects(runs: pd.DataFrame, parts: dict[str, tuple[str, Part]] | None = None) -> list[dict[str, Any]]:
    """Per norm and design (completed runs; each design with the batch-64 runs it shares with the report's):
    batch 64 minus the design's smallest batch size (Welch on the two cells; one family over the table,
    Bonferroni, rows that a claim decides taken from it). Per norm and equalizing design: the change of that
    effect against the report's design, tested as such (the interaction: with batch 64 shared, the report's-
    design smallest batch minus the equalized one; Welch, one family over these tests)."""
    report = runs[runs.batch_size.isin(REPORT_BATCHES)]   # the report's question: batch 8 against 64 (smaller
    cells = {d: seed_table(arm(report, d, only_completed=True), lambda r: r.test_acc)   # batches: their own section)
             for d in designs(report)}
    return judge_batch_effects(cells, test_resolution(runs), parts or {})


def judge_batch_effects(design_cells: dict[str, Cells], res: float = 0.0,
                        parts: dict[str, tuple[str, Part]] | None = None) -> list[dict[str, Any]]:
    parts = parts or {}
    rows = []
    for design, cells in design_cells.items():
        sizes = sorted({bs for by_bs in cells.values() for bs in by_bs})
        if len(sizes) < 2 or ANCHOR_BATCH not in sizes:
            continue
        small = sizes[0]
        for norm in [n for n in NORMS if n in cells]:
            by_bs = {bs: list(s.values()) for bs, s in cells[norm].items()}
            key, _ = batch_key(design, norm, ANCHOR_BATCH, small)
            rows.append({"norm": norm, "design": design, "design_name": DESIGNS[design][0], "small": small,
                         "large": ANCHOR_BATCH, "n_small": len(by_bs.get(small, [])),
                         "n_large": len(by_bs.get(ANCHOR_BATCH, [])), "claim": parts.get(key),
                         "est": stats.contrast(by_bs, ANCHOR_BATCH, small, res)})
    stats.family([r["est"] for r in rows if r["claim"] is None])
    changes = []
    for r in rows:
        fixed = design_cells.get("fixed", {}).get(r["norm"], {})
        if r["design"] == "fixed" or not fixed:
            continue
        own = design_cells[r["design"]][r["norm"]]
        if own.get(ANCHOR_BATCH) == fixed.get(ANCHOR_BATCH):   # effect change = fixed small − the design's small
            c = stats.welch(list(fixed.get(r["small"], {}).values()), list(own.get(r["small"], {}).values()), res)
        else:
            c = _interaction(fixed, own, r["small"], res)
        r["change_est"] = c
        changes.append(c)
    stats.family(changes)
    for r in rows:
        e, claimed = r.pop("est"), r.pop("claim")
        if claimed is not None:
            cid, part = claimed
            effect, lo, hi = _decision(part, 1)
            r.update(effect=effect, ci_low=lo, ci_high=hi, level=1 - ALPHA, p=part.p,
                     method=f"claim {cid}'s part, at the claim's level", decided_in=f"claim {cid}",
                     shown=bool(lo > 0 or hi < 0))
        else:
            r.update(effect=e.diff, ci_low=e.low, ci_high=e.high, level=e.level, p=e.p_adj, method=e.method,
                     decided_in="", shown=e.shown())
    for r in rows:
        c = r.pop("change_est", None)
        r["verdict"] = "" if c is None else _change_word(r, c, rows)
        if c is not None:
            r.update(change=c.diff, change_low=c.low, change_high=c.high, change_p=c.p_adj, change_level=c.level)
    return rows


def _interaction(fixed: dict[int, dict[int, float]], own: dict[int, dict[int, float]], small: int,
                 res: float) -> stats.Estimate:
    """(own 64 - own small) - (fixed 64 - fixed small), four independent cells, Welch-Satterthwaite df."""
    cells = [(own, ANCHOR_BATCH, 1), (own, small, -1), (fixed, ANCHOR_BATCH, -1), (fixed, small, 1)]
    vals = [(stats.rounded(list(c.get(bs, {}).values()), res), sign) for c, bs, sign in cells]
    if any(len(v) < 2 for v, _ in vals):
        return stats.untestable()
    diff = float(sum(sign * v.mean() for v, sign in vals))
    parts = [v.var(ddof=1) / len(v) for v, _ in vals]
    se = math.sqrt(sum(parts))
    if se == 0:
        return stats.untestable(diff, why="no spread in any cell")
    df = sum(parts) ** 2 / sum(p ** 2 / (len(v) - 1) for p, (v, _) in zip(parts, vals) if p)
    return stats.Estimate(diff, se, df, stats.t_p(diff, se, df), min(len(v) for v, _ in vals),
                       math.nan, "Welch t on the interaction")


def _change_word(r: dict[str, Any], c: stats.Estimate, rows: list[dict[str, Any]]) -> str:
    if not c.testable:
        return "not testable"
    fixed = next((x for x in rows if x["norm"] == r["norm"] and x["design"] == "fixed"), None)
    if not c.shown():
        return "no change shown"
    if fixed is not None and fixed.get("shown") and r.get("shown") and np.sign(fixed["effect"]) != np.sign(r["effect"]):
        return "reverses"
    grows = abs(r["effect"]) > abs(fixed["effect"]) if fixed is not None else c.diff > 0
    return "larger when equalized" if grows else "smaller when equalized"
