"""The report's six conclusions, each as parts judged at the size it claims (``alexlib.report.inference.verdicts``), on the
runs at hand: the runs table turned into plain evidence per stage (the grid as written, then the seeds a second
stage added), the claims' parts built from it, and what the report's own numbers say about themselves.

The sizes that matter are fixed here, before any data: "much worse" is 10 points; "stable across batch sizes"
is within ±5 points at every pair of batch sizes (the report calls its BN and GN stable at a 3.8-point spread,
against 41 points without normalization); "slightly", "improves" and "best" claim the direction only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

import pandas as pd

from ...train.datasets import title
from ...train.norms import NORMED, SHORT_NAMES
from ...vocab import ANCHOR_BATCH, REFERENCE_LR
from ..inference import looks, stats
from ..inference.verdicts import Claim, Part
from .cells import seed_table
from .runs import comparable, main_grid, sweep, test_resolution

MUCH_WORSE = 10.0    # points: "much worse" (the report's collapse was 40 points)
STABLE_POINTS = 5.0  # points: "stable across batch sizes"

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
    from ...train.norms import NORMS
    lo, hi = sorted((a, b), key=NORMS.index)
    return f"pair:{design}:{bs}:{lo}-{hi}", (1 if (lo, hi) == (a, b) else -1)


def batch_key(design: str, norm: str, a: int, b: int) -> tuple[str, int]:
    """'norm: batch a − batch b' (the larger batch first) and its sign."""
    hi, lo = max(a, b), min(a, b)
    return f"batch:{design}:{norm}:{hi}-{lo}", (1 if a > b else -1)


def norm_mean(ev: Evidence, hi: str, lo: str, first: bool) -> looks.StageTest | None:
    cells = ev.first if first else ev.final
    a, b = cells.get(hi, {}), cells.get(lo, {})
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


def _lost(ev: Evidence, norm: str, sizes) -> str:
    hit = [bs for bs in sizes if ev.diverged.get(norm, {}).get(bs)]
    return f"seeds diverged at batch {', '.join(map(str, hit))}: cannot count as support" if hit else ""


def _sizes(ev: Evidence, norm: str) -> list[int]:
    return sorted(set(ev.final.get(norm, {})) | set(ev.diverged.get(norm, {})))


# ---------------------------------------------------------------------------------------------------
# The report's claims, a registry: each owns its words, its tested statement, its parts (one stage's evidence ->
# parts, margins fixed above) and its page-1 cells, so a claim cannot be added without its row on page 1
# ---------------------------------------------------------------------------------------------------
class CellView(Protocol):
    """What a claim's page-1 line reads: one column ('report' or 'mean') of the cells and of the lr sweep, each
    value formatted as page 1 prints it (a dash where the cell is missing)."""
    sizes: list[int]                                  # the batch sizes the cells have
    lrs: list[float]                                  # the lr sweep's rates

    def at(self, norm: str, bs: int) -> str: ...      # one cell
    def row(self, norm: str, sizes: list[int]) -> str: ...   # "a / b / c" at those batch sizes
    def avg(self, norms: list[str]) -> str: ...       # each norm's mean over the batch sizes, "a / b / c"
    def lr_row(self) -> str: ...                      # the sweep at each lr, "a / b / c"


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    words: str                                        # the report's conclusion, as it says it
    statement: str                                    # the form in which it is tested here
    parts: Callable[[Evidence], list[Part]]           # one stage's evidence -> the claim's parts (stage 1 filled)
    page1: Callable[[CellView], str]                  # the claim's cells on page 1, in a line


CLAIMS: list[ClaimSpec] = []


def claim(cid: str, words: str, statement: str, page1: Callable[[CellView], str]):
    """Registers the decorated parts builder as claim ``cid``."""
    def register(parts: Callable[[Evidence], list[Part]]) -> Callable[[Evidence], list[Part]]:
        if any(c.id == cid for c in CLAIMS):
            raise ValueError(f"claim {cid} is registered twice")
        CLAIMS.append(ClaimSpec(cid, words, statement, parts, page1))
        return parts
    return register


def claim_spec(cid: str) -> ClaimSpec:
    return next(c for c in CLAIMS if c.id == cid)


@claim("1", "Adding BN, LN or GN improves both accuracy and convergence speed.",
       "Each of BN, LN, GN above no normalization in final test accuracy and in test accuracy after the first epoch "
       "(convergence), each on average over the batch sizes (the direction only).",
       page1=lambda v: f"BN / LN / GN {v.avg(['bn', 'ln', 'gn'])} vs none {v.avg(['none'])} (mean over batch sizes)")
def _claim1(ev: Evidence) -> list[Part]:
    parts = []
    sizes = sorted(set(ev.final.get("none", {})))
    for n in [n for n in NORMED if n in ev.final]:
        for first in (False, True):
            what = "first-epoch" if first else "final"
            parts.append(Part(f"{n}-none {what}", f"{SHORT_NAMES[n]} − none, {what}",
                              norm_mean(ev, n, "none", first), +1, 0.0,
                              tuple((x, bs) for bs in sizes for x in (n, "none")),
                              _lost(ev, n, _sizes(ev, n)), f"mean:{what}:{n}-none",
                              group=f"{what} accuracy"))
    return parts or [Part("none-normed", "needs runs without normalization and with BN/LN/GN", None)]


@claim("2", "Without normalization, batch 8 is much worse (39.14 %) than batch 32 and 64 (79.66 / 80.49 %).",
       f"No normalization: batch 8 at least {MUCH_WORSE:g} points below batch 32 and below batch 64.",
       page1=lambda v: f"none at batch 8: {v.at('none', 8)} vs {v.row('none', [32, 64])} at 32 / 64")
def _claim2(ev: Evidence) -> list[Part]:
    parts = []
    for bs in (32, 64):
        q, sign = batch_key("fixed", "none", 8, bs)
        parts.append(Part(f"none 8-{bs}", f"none: batch 8 − batch {bs}", batch_diff(ev, "none", 8, bs), -1, MUCH_WORSE,
                          (("none", 8), ("none", bs)), _lost(ev, "none", (bs,)), q, sign, "batch 8 much worse"))
    return parts


def _stable(ev: Evidence, norm: str) -> list[Part]:
    sizes = _sizes(ev, norm)
    parts = []
    for i, lo in enumerate(sizes):
        for hi in sizes[i + 1:]:
            q, sign = batch_key("fixed", norm, hi, lo)
            parts.append(Part(f"{norm} {hi}-{lo} stable", f"{SHORT_NAMES[norm]}: batch {hi} − batch {lo}",
                              batch_diff(ev, norm, hi, lo), 0, STABLE_POINTS, ((norm, hi), (norm, lo)),
                              _lost(ev, norm, (hi, lo)), q, sign, f"stable within ±{STABLE_POINTS:g}"))
    return parts or [Part(f"{norm} stable", f"{SHORT_NAMES[norm]}: two or more batch sizes", None)]


@claim("3", "BN is stable across batch sizes and best at batch 64 among its own sizes (81.31 %).",
       f"BN: every pair of batch sizes within ±{STABLE_POINTS:g} points, and batch 64 above each other batch size.",
       page1=lambda v: f"BN at batch {' / '.join(map(str, v.sizes))}: {v.row('bn', v.sizes)}")
def _claim3(ev: Evidence) -> list[Part]:
    best = []
    for bs in [b for b in sorted(ev.final.get("bn", {})) if b != ANCHOR_BATCH]:
        q, sign = batch_key("fixed", "bn", ANCHOR_BATCH, bs)
        best.append(Part(f"bn {ANCHOR_BATCH}-{bs} best", f"BN: batch {ANCHOR_BATCH} − batch {bs}",
                         batch_diff(ev, "bn", ANCHOR_BATCH, bs), +1, 0.0, (("bn", ANCHOR_BATCH), ("bn", bs)),
                         _lost(ev, "bn", (ANCHOR_BATCH,)), q, sign, f"best at {ANCHOR_BATCH}"))
    return _stable(ev, "bn") + best


def _pair_part(ev: Evidence, a: str, b: str, bs: int, expect: int, group: str) -> Part:
    q, sign = pair_key("fixed", bs, a, b)
    return Part(f"{a}-{b} {bs}", f"{SHORT_NAMES[a]} − {SHORT_NAMES[b]} at batch {bs}", pair_at(ev, a, b, bs), expect,
                0.0, ((a, bs), (b, bs)), _lost(ev, a if expect > 0 else b, (bs,)), q, sign, group)


def _ln_bn(v: CellView) -> str:
    sizes = [b for b in (8, 16) if b in v.sizes] + [ANCHOR_BATCH]
    return f"LN {v.row('ln', sizes)} vs BN {v.row('bn', sizes)} at batch {' / '.join(map(str, sizes))}"


@claim("4", "LN is slightly below BN at small batches and above BN at batch 64 (82.66 vs 81.31 %).",
       "LN below BN at batch 8 and 16, above BN at batch 64 (the direction only).", page1=_ln_bn)
def _claim4(ev: Evidence) -> list[Part]:
    return [_pair_part(ev, "ln", "bn", 8, -1, "below BN at 8 and 16"),
            _pair_part(ev, "ln", "bn", 16, -1, "below BN at 8 and 16"),
            _pair_part(ev, "ln", "bn", ANCHOR_BATCH, +1, f"above BN at {ANCHOR_BATCH}")]


@claim("5", "GN is stable across batch sizes; at batch 8 (78.55 %) it is slightly below the other methods.",
       f"GN: every pair of batch sizes within ±{STABLE_POINTS:g} points, and at batch 8 below BN and below LN.",
       page1=lambda v: (f"GN at batch {' / '.join(map(str, v.sizes))}: {v.row('gn', v.sizes)}; at 8 GN "
                        f"{v.at('gn', 8)} vs BN {v.at('bn', 8)}, LN {v.at('ln', 8)}"))
def _claim5(ev: Evidence) -> list[Part]:
    return _stable(ev, "gn") + [_pair_part(ev, "gn", "bn", 8, -1, "below BN and LN at 8"),
                                _pair_part(ev, "gn", "ln", 8, -1, "below BN and LN at 8")]


@claim("6", "lr 0.005 is the best of 0.001 / 0.005 / 0.01 without normalization at batch 64.",
       f"No normalization, batch 64: lr {REFERENCE_LR:g} above lr 0.001 and above lr 0.01 (the direction only).",
       page1=lambda v: f"none, batch 64, lr {' / '.join(f'{x:g}' for x in v.lrs)}: {v.lr_row()}")
def _claim6(ev: Evidence) -> list[Part]:
    return [Part(f"lr {REFERENCE_LR:g}-{other:g}", f"none, batch {ANCHOR_BATCH}: lr {REFERENCE_LR:g} − lr {other:g}",
                 lr_diff(ev, REFERENCE_LR, other), +1, 0.0, (("lr", REFERENCE_LR), ("lr", other)),
                 "seeds diverged at lr 0.005: cannot count as support" if ev.sweep_diverged.get(REFERENCE_LR) else "",
                 f"lr:{REFERENCE_LR:g}-{other:g}", group=f"above lr {other:g}") for other in (0.001, 0.01)]


def judge_claims(stage1: Evidence, stage2: Evidence | None = None, judged_on: str = "",
                 ids: tuple[str, ...] | None = None) -> list[Claim]:
    """The six claims (or those named in ``ids``) on one or two stages' evidence: each part built on each
    stage, then judged."""
    out = []
    for spec in CLAIMS:
        if ids is not None and spec.id not in ids:
            continue
        parts = spec.parts(stage1)
        if stage2 is not None:
            later = {p.key: p for p in spec.parts(stage2)}
            for p in parts:
                if p.key in later:   # the second stage's seeds: their test, and any seeds they lost
                    p.stage2, p.blocked = later[p.key].stage1, p.blocked or later[p.key].blocked
        c = Claim(spec.id, spec.words, spec.statement, parts=parts, judged_on=judged_on).judge()
        out.append(c)
    if stage1.lost_any or (stage2 is not None and stage2.lost_any):
        worst = judge_claims(stage1.at_chance(), stage2.at_chance() if stage2 else None, ids=ids)
        for c, w in zip(out, worst):
            c.sensitivity = f"with the diverged seeds counted at chance ({stage1.chance:g} %): {w.verdict}"
    return out


def report_claims(runs: pd.DataFrame, protocol: dict[str, Any]) -> list[Claim]:
    """The six claims judged on ``runs``: the first stage's seeds, then, where the runs hold a second stage
    (their ``stage`` column), its seeds combined with the first's."""
    two = "stage" in runs and (runs.stage == 2).any()
    return judge_claims(evidence(runs, 1 if two else None), evidence(runs, 2) if two else None,
                        judged_on(runs, protocol))


def judged_on(runs: pd.DataFrame, protocol: dict[str, Any]) -> str:
    """The data, size, epochs and seeds the verdicts rest on, and whether the report's numbers compare."""
    p = protocol
    where = (f"{title(p['dataset'])}, {p['image_size']} px, width {p['width']:g}, {p['epochs']} epochs, "
             f"seeds {', '.join(map(str, sorted(set(int(s) for s in runs.seed))))}")
    if comparable(protocol):
        return f"{where}: the report's protocol, so the claim's numbers can be compared as well as its direction"
    return f"{where}: not the report's CIFAR-10 protocol, so this tests the claim's direction, not its number"


def report_self_check(reference: dict[str, Any]) -> list[str]:
    """What the report's own numbers say about its text: computed from params/reference.yaml."""
    t, sweep_ref = reference["table"], reference["sweep"]
    out = []
    gn8, bn8, ln8 = t.get(("gn", 8)), t.get(("bn", 8)), t.get(("ln", 8))
    if None not in (gn8, bn8, ln8):
        rel = "higher" if gn8 > max(bn8, ln8) else "lower" if gn8 < min(bn8, ln8) else "between"
        out.append(f"At batch 8 the report's GN ({gn8:.2f} %) is {rel} than its BN ({bn8:.2f}) and LN ({ln8:.2f}), "
                   f"while its text says GN is slightly below the other methods there (claim 5).")
    twice = t.get(("none", 64)), sweep_ref.get(0.005)
    if None not in twice:
        out.append(f"The same configuration (no normalization, batch 64, lr 0.005) appears twice in the report, "
                   f"{twice[0]:.2f} % in its table and {twice[1]:.2f} % in its lr sweep: {abs(twice[0] - twice[1]):.2f} "
                   f"points apart, a free estimate of its run-to-run noise, from one pair.")
    return out
