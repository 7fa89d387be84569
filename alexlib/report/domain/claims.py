"""The claims this study judges, from two sources (``SOURCES``): the report's six conclusions, over its batch sizes
8-64, and three of the Group Normalization paper's (Wu & He 2018), over every batch size from 2. Each is parts
judged at the size it claims (``alexlib.report.inference.verdicts``), on the runs at hand: the runs table turned
into plain evidence per stage (the grid as written, then the seeds a second stage added), the claims' parts built
from it, and what the report's own numbers say about themselves.

One margin per kind of quantity, so that "within the margin" and "beyond it" cannot both be shown of one
difference: a batch-size effect of one norm matters at 5 points (``BATCH_MARGIN``): "stable across batch sizes" is
within ±5 at every pair (the report calls its BN and GN stable at a 3.8-point spread, against 41 points without
normalization; the paper's GN spans 0.2 points of error), BN "falls" as the batch shrinks by more than 5, and "much
worse" is twice the margin, 10 points (the report's collapse was 40). A difference of two norms at one batch size
is claimed in its direction only ("slightly", "improves", "best", "above"), as is one learning rate against
another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import pandas as pd

from ...train.inputs.datasets import title
from ...train.net.norms import NORMED, SHORT_NAMES
from ...vocab import ANCHOR_BATCH, REFERENCE_LR, REPORT_BATCHES
from ..inference.verdicts import Claim, Part
from .evidence import Evidence, batch_diff, batch_key, evidence, lost, lr_diff, norm_mean, pair_at, pair_key, sizes_of
from .runs import comparable

__all__ = ["CLAIMS", "SOURCES", "Evidence", "batch_key", "claim", "claim_spec", "judge_claims", "pair_key",
           "report_claims"]

# points: the one margin of a batch-size effect within a norm ("stable" inside it, "falls" beyond it). The paper's
# BN error rises 3.7 points from batch 32 to 4 and 11.1 to 2; the report calls a 3.8-point spread stable: the two
# sources disagree about 3.7-3.8 points, and one margin must decide, so the report's "stable", registered first,
# sets it, and the paper's batch-4 rise would be inside it (G1 asks more of batch 4 than the paper showed there)
BATCH_MARGIN = 5.0
STABLE_POINTS = BATCH_MARGIN   # "stable across batch sizes": within ±the margin
BN_FALL = BATCH_MARGIN         # BN "falls" as the batch shrinks: beyond the margin
MUCH_WORSE = 2 * BATCH_MARGIN  # "much worse": twice the margin, 10 points (the report's collapse was 40)


@dataclass(frozen=True)
class Source:
    """Where a block of claims comes from, and what its numbers are."""
    key: str
    title: str                          # the heading of its block on page 1
    sizes: tuple[int, ...] | None       # the batch sizes its claims are judged over (None: every size the runs have)
    numbers: str                        # what its own numbers are, beside ours on page 1
    column: str                         # page 1's column of its numbers


SOURCES = {
    "report": Source("report", "The report's claims", REPORT_BATCHES,
                     "its test accuracy % on CIFAR-10, one run per cell", "the report"),
    "gn_paper": Source("gn_paper", "The Group Normalization paper's claims (Wu & He 2018, Table 2)", None,
                       "ResNet-50's top-1 error % on ImageNet at batch 32 / 16 / 8 / 4 / 2 images per GPU: other "
                       "data, network and measure, so its directions and sizes compare, not its numbers",
                       "the paper (error %)"),
}

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
    source: str = "report"                            # a key of SOURCES
    theirs: str = ""                                  # the source's numbers for page 1, where its cells are not ours

    @property
    def sizes(self) -> tuple[int, ...] | None:
        return SOURCES[self.source].sizes


CLAIMS: list[ClaimSpec] = []


def claim(cid: str, words: str, statement: str, page1: Callable[[CellView], str], source: str = "report",
          theirs: str = ""):
    """Registers the decorated parts builder as claim ``cid`` of ``source`` (judged over that source's batch
    sizes)."""
    if source not in SOURCES:
        raise ValueError(f"claim {cid}: unknown source {source!r} (known: {', '.join(SOURCES)})")

    def register(parts: Callable[[Evidence], list[Part]]) -> Callable[[Evidence], list[Part]]:
        if any(c.id == cid for c in CLAIMS):
            raise ValueError(f"claim {cid} is registered twice")
        CLAIMS.append(ClaimSpec(cid, words, statement, parts, page1, source, theirs))
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
                              lost(ev, n, sizes_of(ev, n)), f"mean:{what}:{n}-none",
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
                          (("none", 8), ("none", bs)), lost(ev, "none", (bs,)), q, sign, "batch 8 much worse"))
    return parts


def _stable(ev: Evidence, norm: str, involving: tuple[int, ...] | None = None) -> list[Part]:
    """Every pair of the norm's batch sizes within ±STABLE_POINTS (``involving``: only the pairs with one of these)."""
    sizes = sizes_of(ev, norm)
    parts = []
    for i, lo in enumerate(sizes):
        for hi in sizes[i + 1:]:
            if involving is not None and lo not in involving and hi not in involving:
                continue
            q, sign = batch_key("fixed", norm, hi, lo)
            parts.append(Part(f"{norm} {hi}-{lo} stable", f"{SHORT_NAMES[norm]}: batch {hi} − batch {lo}",
                              batch_diff(ev, norm, hi, lo), 0, STABLE_POINTS, ((norm, hi), (norm, lo)),
                              lost(ev, norm, (hi, lo)), q, sign, f"stable within ±{STABLE_POINTS:g}"))
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
                         lost(ev, "bn", (ANCHOR_BATCH,)), q, sign, f"best at {ANCHOR_BATCH}"))
    return _stable(ev, "bn") + best


def _pair_part(ev: Evidence, a: str, b: str, bs: int, expect: int, group: str) -> Part:
    q, sign = pair_key("fixed", bs, a, b)
    return Part(f"{a}-{b} {bs}", f"{SHORT_NAMES[a]} − {SHORT_NAMES[b]} at batch {bs}", pair_at(ev, a, b, bs), expect,
                0.0, ((a, bs), (b, bs)), lost(ev, a if expect > 0 else b, (bs,)), q, sign, group)


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


# ---------------------------------------------------------------------------------------------------
# The Group Normalization paper's claims (Wu & He 2018, Table 2: ResNet-50 on ImageNet, top-1 error %, BN
# 23.6 / 23.7 / 24.8 / 27.3 / 34.7 and GN 24.1 / 24.2 / 24.0 / 24.2 / 24.1 at batch 32 / 16 / 8 / 4 / 2 per GPU),
# judged over every batch size the runs have, from 2
# ---------------------------------------------------------------------------------------------------
SMALL = (2, 4)


def _largest(v: CellView) -> int:
    return max(v.sizes) if v.sizes else ANCHOR_BATCH


@claim("G1", "BN's error rises as the batch shrinks: 23.6 % at batch 32 per GPU, 27.3 % at 4, 34.7 % at 2.",
       f"BN at batch 2 and at batch 4 each at least {BN_FALL:g} points below BN at the study's largest batch size.",
       page1=lambda v: f"BN at batch 2 / 4 / {_largest(v)}: {v.row('bn', [2, 4, _largest(v)])}",
       source="gn_paper", theirs="BN at 2 / 4 / 32: 34.7 / 27.3 / 23.6 (error)")
def _claim_g1(ev: Evidence) -> list[Part]:
    sizes = sizes_of(ev, "bn")
    if not sizes or not set(SMALL) & set(sizes):
        return [Part("bn small", "BN at batch 2 or 4 and a larger batch size", None)]
    top = max(sizes)
    parts = []
    for bs in [b for b in SMALL if b in sizes and b < top]:
        q, sign = batch_key("fixed", "bn", bs, top)
        parts.append(Part(f"bn {bs}-{top} falls", f"BN: batch {bs} − batch {top}", batch_diff(ev, "bn", bs, top), -1,
                          BN_FALL, (("bn", bs), ("bn", top)), lost(ev, "bn", (top,)), q, sign,
                          f"falls by {BN_FALL:g} or more"))
    return parts


@claim("G2", "GN is stable from batch 32 down to 2 per GPU: 24.1 / 24.2 / 24.0 / 24.2 / 24.1 % error.",
       f"GN at batch 2 and at batch 4 each within ±{STABLE_POINTS:g} points of GN at every other batch size (the "
       "pairs among 8–64 are claim 5's).",
       page1=lambda v: f"GN at batch {' / '.join(map(str, v.sizes))}: {v.row('gn', v.sizes)}",
       source="gn_paper", theirs="GN at 2 / 4 / 8 / 16 / 32: 24.1 / 24.2 / 24.0 / 24.2 / 24.1 (error)")
def _claim_g2(ev: Evidence) -> list[Part]:
    if not set(SMALL) & set(sizes_of(ev, "gn")):
        return [Part("gn small", "GN at batch 2 or 4 and a larger batch size", None)]
    return _stable(ev, "gn", involving=SMALL)   # one interval per quantity: the other pairs are claim 5's parts


@claim("G3", "GN beats BN at small batches: 10.6 points lower error at batch 2 (24.1 vs 34.7 %), and lower at 4.",
       "GN above BN at batch 2 and at batch 4 (the direction only).",
       page1=lambda v: f"GN vs BN at 2: {v.at('gn', 2)} vs {v.at('bn', 2)}; at 4: {v.at('gn', 4)} vs {v.at('bn', 4)}",
       source="gn_paper", theirs="GN vs BN at 2: 24.1 vs 34.7; at 4: 24.2 vs 27.3 (error)")
def _claim_g3(ev: Evidence) -> list[Part]:
    return [_pair_part(ev, "gn", "bn", bs, +1, "above BN at 2 and 4") for bs in SMALL]


Looks = dict[str, int]   # source -> the looks its claims' parts were declared with before the data (1 or 2)


def looks_of(declared: Looks | int | None, source: str) -> int:
    """The looks a source's parts have: as declared; a study that declares none keeps the design every study here
    had from the start, two looks for every claim (seeds on demand may grow its cells)."""
    if isinstance(declared, int):
        return declared
    return int((declared or {}).get(source, 2))


def judge_claims(stage1: Evidence, stage2: Evidence | None = None, judged_on: str = "",
                 ids: tuple[str, ...] | None = None, looks: Looks | int | None = None,
                 every: Evidence | None = None) -> list[Claim]:
    """Every registered claim (or those named in ``ids``) on one or two stages' evidence, each over its source's
    batch sizes, at the looks declared for its source (``looks``): a two-look part is built on each stage and
    judged by the sequential test; a one-look part on every seed at once (``every``: both stages' evidence
    together), at its full share of α."""
    out = []
    for spec in CLAIMS:
        if ids is not None and spec.id not in ids:
            continue
        n_looks = looks_of(looks, spec.source)
        once = every if every is not None else stage1
        parts = spec.parts((stage1 if n_looks == 2 else once).restrict(spec.sizes))
        if stage2 is not None and n_looks == 2:
            later = {p.key: p for p in spec.parts(stage2.restrict(spec.sizes))}
            for p in parts:
                if p.key in later:   # the second stage's seeds: their test, and any seeds they lost
                    p.stage2, p.blocked = later[p.key].stage1, p.blocked or later[p.key].blocked
        for p in parts:
            p.looks = n_looks
        c = Claim(spec.id, spec.words, spec.statement, parts=parts, judged_on=judged_on).judge()
        out.append(c)
    if stage1.lost_any or (stage2 is not None and stage2.lost_any):
        worst = judge_claims(stage1.at_chance(), stage2.at_chance() if stage2 else None, ids=ids, looks=looks,
                             every=every.at_chance() if every is not None else None)
        for c, w in zip(out, worst):
            sizes = claim_spec(c.id).sizes   # a claim whose own cells lost no seed needs no such line
            if stage1.restrict(sizes).lost_any or (stage2 is not None and stage2.restrict(sizes).lost_any):
                c.sensitivity = f"with the diverged seeds counted at chance ({stage1.chance:g} %): {w.verdict}"
    return out


def report_claims(runs: pd.DataFrame, protocol: dict[str, Any], looks: Looks | int | None = None) -> list[Claim]:
    """Every claim judged on ``runs`` at the looks the study declared: the first stage's seeds, then, where the
    runs hold a second stage (their ``stage`` column), its seeds combined with the first's."""
    two = "stage" in runs and (runs.stage == 2).any()
    return judge_claims(evidence(runs, 1 if two else None), evidence(runs, 2) if two else None,
                        judged_on(runs, protocol), looks=looks, every=evidence(runs) if two else None)


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
