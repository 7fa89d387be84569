"""The evidence the claims are judged on: the runs table turned into plain numbers per stage (the grid as written,
then the seeds a second stage added), and the quantities the claims' parts read from it, each named so that every
place that shows it shows the same one (``pair_key``, ``batch_key``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pandas as pd

from ..inference import looks, stats
from .cells import seed_table
from .runs import main_grid, sweep, test_resolution

Cells = dict[str, dict[int, dict[int, float]]]   # norm -> batch size -> seed -> accuracy %


@dataclass(frozen=True)
class Evidence:
    """One stage's evidence: completed runs of the report's design (final and first-epoch accuracy), the seeds
    that diverged, the lr sweep (no norm, batch 64), the test set's resolution and chance accuracy."""
    final: Cells
    first: Cells
    diverged: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    sweep: dict[float, dict[int, float]] = field(default_factory=dict)
    sweep_diverged: dict[float, list[int]] = field(default_factory=dict)   # lr -> seeds that diverged
    res: float = 0.0
    chance: float = 10.0

    def seeds_per_cell(self) -> str:
        n = [len(s) for by_bs in self.final.values() for s in by_bs.values()]
        return "?" if not n else str(max(n)) if min(n) == max(n) else f"{min(n)}-{max(n)}"

    def at_chance(self) -> "Evidence":
        """Diverged seeds counted at chance accuracy (the sensitivity line)."""
        final = {n: {b: dict(s) for b, s in by_bs.items()} for n, by_bs in self.final.items()}
        for norm, by_bs in self.diverged.items():
            for bs, seeds in by_bs.items():
                for s in seeds:
                    final.setdefault(norm, {}).setdefault(bs, {})[s] = self.chance
        sweep = {lr: dict(s) for lr, s in self.sweep.items()}
        for lr, seeds in self.sweep_diverged.items():
            for s in seeds:
                sweep.setdefault(lr, {})[s] = self.chance
        return replace(self, final=final, diverged={}, sweep=sweep, sweep_diverged={})

    def restrict(self, sizes: tuple[int, ...] | None) -> "Evidence":
        """The evidence at these batch sizes only (None: all)."""
        if sizes is None:
            return self
        keep = (lambda by_bs: {bs: v for bs, v in by_bs.items() if bs in sizes})
        return replace(self, final={n: keep(b) for n, b in self.final.items() if keep(b)},
                       first={n: keep(b) for n, b in self.first.items() if keep(b)},
                       diverged={n: keep(b) for n, b in self.diverged.items() if keep(b)})

    @property
    def lost_any(self) -> bool:
        return bool(self.diverged or self.sweep_diverged)


def evidence(runs: pd.DataFrame, stage: int | None = None) -> Evidence:
    """The evidence in ``runs`` (designs assigned), of one stage (its ``stage`` column) or of all."""
    if stage is not None and "stage" in runs:
        runs = runs[runs.stage == stage]
    every = main_grid(runs, only_completed=False)
    done = every[every.status == "completed"]
    diverged: dict[str, dict[int, list[int]]] = {}
    for r in every[every.status == "diverged"].itertuples():
        diverged.setdefault(r.norm, {}).setdefault(int(r.batch_size), []).append(int(r.seed))
    s = sweep(runs)
    lr_cells: dict[float, dict[int, float]] = {}
    for r in s[s.status == "completed"].itertuples():
        lr_cells.setdefault(float(r.lr), {})[int(r.seed)] = float(r.test_acc)
    lr_lost: dict[float, list[int]] = {}
    for r in s[s.status == "diverged"].itertuples():
        lr_lost.setdefault(float(r.lr), []).append(int(r.seed))
    return Evidence(final=seed_table(done, lambda r: r.test_acc),
                    first=seed_table(done, lambda r: r.curve[0] if r.curve else None),
                    diverged=diverged, sweep=lr_cells, sweep_diverged=lr_lost, res=test_resolution(runs))


# ---------------------------------------------------------------------------------------------------
# Quantities: one estimate each, named so that every place that shows it shows the same one
# ---------------------------------------------------------------------------------------------------
def stage_test(e: stats.Estimate, units_per_seed: int = 1, paired: bool = True) -> looks.StageTest | None:
    if not e.testable:
        return None
    if e.se > 0:
        return looks.StageTest(e.diff, e.se, e.df, e.n, e.sd, e.method, units_per_seed=units_per_seed, paired=paired)
    n_units = max(1, e.n * units_per_seed)   # nothing varies: only the exact sign-flip bound remains
    return looks.StageTest(e.diff, 0.0, math.nan, e.n, 0.0, e.method, units=(e.diff,) * n_units,
                        units_per_seed=units_per_seed, paired=paired)


def pair_key(design: str, bs: int, a: str, b: str) -> tuple[str, int]:
    """The quantity 'a − b at batch bs' as named across the report (the earlier norm first) and its sign."""
    from ...train.net.norms import NORMS
    lo, hi = sorted((a, b), key=NORMS.index)
    return f"pair:{design}:{bs}:{lo}-{hi}", (1 if (lo, hi) == (a, b) else -1)


def batch_key(design: str, norm: str, a: int, b: int) -> tuple[str, int]:
    """'norm: batch a − batch b' (the larger batch first) and its sign."""
    hi, lo = max(a, b), min(a, b)
    return f"batch:{design}:{norm}:{hi}-{lo}", (1 if a > b else -1)


def norm_mean(ev: Evidence, hi: str, lo: str, first: bool) -> looks.StageTest | None:
    """``hi`` − ``lo`` averaged over the batch sizes of this stage, on shared seeds; None where a batch size that
    either norm ran here has fewer than two shared seeds. Leaving it out would make this stage's mean one over
    other batch sizes than another stage's: a second stage that grew ``hi``'s cells but ``lo``'s at batch 64 only
    would test the batch-64 difference, and the two-look combination would mix two quantities. The first look
    then stands alone."""
    cells = ev.first if first else ev.final
    a, b = cells.get(hi, {}), cells.get(lo, {})
    ran = {bs for side in (a, b) for bs, seeds in side.items() if seeds}
    if any(len(set(a.get(bs, {})) & set(b.get(bs, {}))) < 2 for bs in ran):
        return None
    e = stats.blocked_mean(a, b, ev.res, flip_check=False)
    t = stage_test(e, max(1, len(set(a) & set(b))))
    if t is not None and not t.se > 0:   # nothing varies within a batch size: the exact flip of the real units
        units, weights = stats.blocked_units(a, b, ev.res)
        t = replace(t, units=tuple(units), weights=tuple(weights))
    return t


def pair_at(ev: Evidence, a: str, b: str, bs: int) -> looks.StageTest | None:
    e = stats.paired_by_batch(ev.final.get(a, {}), ev.final.get(b, {}), ev.res).get(bs, stats.untestable())
    return stage_test(e)


def batch_diff(ev: Evidence, norm: str, a: int, b: int) -> looks.StageTest | None:
    cells = {bs: list(s.values()) for bs, s in ev.final.get(norm, {}).items()}
    return stage_test(stats.contrast(cells, a, b, ev.res), paired=False)


def lr_diff(ev: Evidence, a: float, b: float) -> looks.StageTest | None:
    cells = {lr: list(s.values()) for lr, s in ev.sweep.items()}
    find = (lambda x: next((k for k in cells if math.isclose(k, x)), x))
    return stage_test(stats.contrast(cells, find(a), find(b), ev.res), paired=False)


def lost(ev: Evidence, norm: str, sizes) -> str:
    hit = [bs for bs in sizes if ev.diverged.get(norm, {}).get(bs)]
    return f"seeds diverged at batch {', '.join(map(str, hit))}: cannot count as support" if hit else ""


def sizes_of(ev: Evidence, norm: str) -> list[int]:
    return sorted(set(ev.final.get(norm, {})) | set(ev.diverged.get(norm, {})))
