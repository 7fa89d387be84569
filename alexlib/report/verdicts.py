"""The report's six conclusions as tests with verdicts, and the batch-size effect under each design, from
plain dicts of accuracies (``Evidence``); the summary builds the evidence, this module only judges it.

Each claim is a list of parts, each part a difference with its test (alexlib.stats), in a stated direction.
The verdict, in this order:
- *not supported*: a part shown against its direction (Holm over the claim's parts);
- *supported*: every part shown in its direction at alpha (an intersection-union test: an "and" of parts
  needs no adjustment to be supported);
- *not testable with these runs*: a part lacks the data it needs;
- else *inconclusive at n seeds*, always with the smallest difference these seeds could show and the seeds
  that would show a 1-point and a 2-point difference (80 % power, the observed sd).
Parts marked ``refute_only`` can send a claim to *not supported* but are not needed for *supported* (claim 1:
"none of them shown below no normalization at any batch size"). Seeds that diverged never count as support;
a sensitivity line gives the verdict with them counted at chance.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..vocab import ALPHA, ANCHOR_BATCH, DESIGNS, NORMED, NORMS, REFERENCE_LR, fmt_p
from . import power as PW
from . import stats as ST

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE = (
    "supported", "not supported", "inconclusive", "not testable with these runs")
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE)
# "Stable across batch sizes": every pair of batch sizes within this many points (fixed before the data). The
# report calls its BN and GN stable with spreads of 3.8 points, against 41 points without normalization.
STABLE_POINTS = 5.0

Cells = dict[str, dict[int, dict[int, float]]]   # norm -> batch size -> seed -> accuracy %


@dataclass(frozen=True)
class Evidence:
    """What the claims are judged on: completed runs of the report's design, their first epochs, the seeds
    that diverged (for the sensitivity line), the lr sweep (no norm, batch 64), the test set's resolution
    and chance accuracy."""
    final: Cells
    first: Cells
    diverged: dict[str, dict[int, list[int]]] = field(default_factory=dict)  # norm -> batch -> seeds
    sweep: dict[float, dict[int, float]] = field(default_factory=dict)       # lr -> seed -> accuracy
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
        return replace(self, final=final, diverged={})


@dataclass
class Part:
    what: str                       # "bn - none, mean over batch sizes"
    est: ST.Estimate
    expect: int = 1                 # +1: the claim says est.diff > 0; -1: < 0
    kind: str = "difference"        # difference | equivalence
    refute_only: bool = False
    blocked: str = ""               # why this part cannot support (e.g. seeds diverged)
    units_per_seed: int = 1
    paired: bool = True
    p_against: float = math.nan     # Holm-adjusted over the claim

    def for_claim(self) -> tuple[float, float]:
        """(p that the part holds in the claimed direction, p that it is shown against it), unadjusted."""
        e = self.est
        if not e.testable:
            return math.nan, math.nan
        if self.kind == "equivalence":
            return ST.equivalence(e, STABLE_POINTS)
        along = e.diff * self.expect > 0
        return (e.p if along else 1.0), (e.p if not along and e.diff != 0 else 1.0)

    def shown(self) -> bool:
        return not self.blocked and bool(self.for_claim()[0] < ALPHA)

    def text(self) -> str:
        e = self.est
        if not e.testable:
            return f"{self.what}: {e.method}"
        ci = "" if math.isnan(e.low) else f" [{e.low:+.1f}, {e.high:+.1f}]"
        p_along, _ = self.for_claim()
        if self.kind == "equivalence":
            what, tail = f"{self.what} within ±{STABLE_POINTS:g}", f", equivalence p={fmt_p(p_along)}"
        else:
            what, tail = self.what, f", p={fmt_p(e.p)}"
        return f"{what}: {e.diff:+.2f}{ci}{tail} ({e.method})" + (f"; {self.blocked}" if self.blocked else "")

    def _alpha(self) -> float:
        return 2 * ALPHA if self.kind == "equivalence" else ALPHA   # TOST: two one-sided tests at alpha

    def detectable(self) -> float:
        """The smallest difference this part's seeds show with 80 % power (nan when it has no spread)."""
        e = self.est
        if not e.testable or not (e.sd == e.sd):
            return math.nan
        return PW.detectable(e.sd, e.n, self.units_per_seed, alpha=self._alpha(), paired=self.paired)

    def power(self) -> dict[str, Any]:
        e = self.est
        kw = dict(units_per_seed=self.units_per_seed, alpha=self._alpha(), paired=self.paired)
        return {"detectable": self.detectable(), "seeds_for_1": PW.seeds_needed(e.sd, 1.0, **kw),
                "seeds_for_2": PW.seeds_needed(e.sd, 2.0, **kw)}


@dataclass
class Claim:
    id: str
    claim: str            # the report's conclusion, as it says it
    statement: str        # the form in which it is tested here
    verdict: str = NOT_TESTABLE
    evidence: list[str] = field(default_factory=list)
    test: str = ""
    judged_on: str = ""
    power: dict[str, Any] = field(default_factory=dict)   # for a verdict not decided
    sensitivity: str = ""                                   # the verdict with diverged seeds at chance

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(parts: list[Part], seeds: str) -> tuple[str, dict[str, Any]]:
    """The claim's verdict from its parts, and (when not decided) the power of its weakest needed part."""
    against = ST.holm([p.for_claim()[1] for p in parts])
    for p, a in zip(parts, against):
        p.p_against = a
    needed = [p for p in parts if not p.refute_only]
    if any(np.isfinite(a) and a < ALPHA for a in against):
        return NOT_SUPPORTED, {}
    if needed and all(p.shown() for p in needed):
        return SUPPORTED, {}
    if not needed or any(not p.est.testable for p in needed):
        return NOT_TESTABLE, {}
    open_parts = [p for p in needed if not p.shown() and p.detectable() == p.detectable()]
    weakest = max(open_parts, key=lambda p: p.detectable(), default=None)
    power = {} if weakest is None else {"part": weakest.what, **weakest.power()}
    return f"{INCONCLUSIVE} at {seeds} seeds per cell", power


# ---------------------------------------------------------------------------------------------------
# The parts the claims are made of
# ---------------------------------------------------------------------------------------------------
def _sizes(ev: Evidence) -> list[int]:
    return sorted({bs for by_bs in ev.final.values() for bs in by_bs})


def _lost(ev: Evidence, norm: str, sizes) -> str:
    hit = [bs for bs in sizes if ev.diverged.get(norm, {}).get(bs)]
    return f"seeds diverged at batch {', '.join(map(str, hit))}: cannot count as support" if hit else ""


def norms_apart(ev: Evidence, hi: str, lo: str, first: bool = False) -> tuple[Part, list[Part]]:
    """hi above lo on average over the batch sizes (a needed part) and, per batch size, hi not shown below
    lo (refute-only parts), with the pair's variance pooled over batch sizes."""
    cells = ev.first if first else ev.final
    a, b = cells.get(hi, {}), cells.get(lo, {})
    what = "first-epoch " if first else ""
    mean = Part(f"{what}{hi} - {lo}, mean over batch sizes", ST.blocked_mean(a, b, ev.res),
                units_per_seed=max(1, len(set(a) & set(b))), blocked=_lost(ev, hi, a) if not first else "")
    per = [Part(f"{what}{hi} - {lo} at batch {bs}", e, refute_only=True)
           for bs, e in ST.paired_by_batch(a, b, ev.res).items()]
    return mean, per


def pair_at(ev: Evidence, hi: str, lo: str, bs: int) -> Part:
    """hi above lo at one batch size, the pair's variance pooled over batch sizes."""
    e = ST.paired_by_batch(ev.final.get(hi, {}), ev.final.get(lo, {}), ev.res).get(bs, ST.untestable())
    return Part(f"{hi} - {lo} at batch {bs}", e)


def batch_contrast(ev: Evidence, norm: str, hi: int, lo: int, expect: int = 1) -> Part:
    """hi minus lo batch size of one norm; the side the claim says is better may not have lost seeds (leaving
    them out would flatter it)."""
    cells = {bs: list(s.values()) for bs, s in ev.final.get(norm, {}).items()}
    return Part(f"{norm}: batch {hi} - batch {lo}", ST.contrast(cells, hi, lo, ev.res), expect, paired=False,
                blocked=_lost(ev, norm, (hi if expect > 0 else lo,)))


def stable(ev: Evidence, norm: str) -> list[Part]:
    """Every pair of batch sizes within ±STABLE_POINTS (two one-sided tests, the 90 % interval)."""
    by_bs = ev.final.get(norm, {})
    sizes = sorted(set(by_bs) | set(ev.diverged.get(norm, {})))
    cells = {bs: list(s.values()) for bs, s in by_bs.items()}
    parts = []
    for i, lo in enumerate(sizes):
        for hi in sizes[i + 1:]:
            parts.append(Part(f"{norm}: batch {hi} - batch {lo}", ST.contrast(cells, hi, lo, ev.res),
                              kind="equivalence", paired=False, blocked=_lost(ev, norm, (hi, lo))))
    return parts or [Part(f"{norm}: two or more batch sizes", ST.untestable(why="fewer than 2 batch sizes"))]


# ---------------------------------------------------------------------------------------------------
# The report's claims
# ---------------------------------------------------------------------------------------------------
def _claim1(ev: Evidence) -> tuple[Claim, list[Part]]:
    c = Claim("1", "Adding BN, LN or GN improves both accuracy and convergence speed.",
              "Each of BN, LN, GN above no normalization in final test accuracy and in test accuracy after the "
              "first epoch, on average over the batch sizes; and none of them shown below it at any batch size.",
              test="blocked mean over batch sizes of the per-seed paired differences, the pair's variance pooled, "
                   "checked by an exact sign flip (each part at α); per batch size: paired t, pooled variance; "
                   "against the claim: Holm over its parts")
    parts: list[Part] = []
    norms = [n for n in NORMED if n in ev.final]
    if "none" not in ev.final or not norms:
        return c, [Part("needs runs without normalization and with BN/LN/GN", ST.untestable())]
    for n in norms:
        for first in (False, True):
            mean, per = norms_apart(ev, n, "none", first)
            parts += [mean, *per]
    return c, parts


def _claim2(ev: Evidence) -> tuple[Claim, list[Part]]:
    c = Claim("2", "Without normalization, batch 8 is much worse (39.14 %) than batch 32 and 64 (79.66 / 80.49 %).",
              "No normalization, the report's design: batch 8 below batch 32 and below batch 64.",
              test="t on the two cells, the norm's variance pooled over its batch sizes when homogeneous")
    return c, [batch_contrast(ev, "none", 8, bs, expect=-1) for bs in (32, 64)]


def _claim3(ev: Evidence) -> tuple[Claim, list[Part]]:
    c = Claim("3", "BN is stable across batch sizes and best at batch 64 among its own sizes (81.31 %).",
              f"BN, the report's design: every pair of batch sizes within ±{STABLE_POINTS:g} points, and batch 64 "
              "above each other batch size.",
              test=f"stability: two one-sided tests against a ±{STABLE_POINTS:g}-point margin fixed in advance (90 % "
                   "interval), every pair of batch sizes; best at 64: t, the norm's pooled variance")
    sizes = sorted(ev.final.get("bn", {}))
    return c, stable(ev, "bn") + [batch_contrast(ev, "bn", ANCHOR_BATCH, bs) for bs in sizes if bs != ANCHOR_BATCH]


def _claim4(ev: Evidence) -> tuple[Claim, list[Part]]:
    c = Claim("4", "LN is slightly below BN at small batches and above BN at batch 64 (82.66 vs 81.31 %).",
              "The report's design: LN below BN at batch 8 and 16, LN above BN at batch 64.",
              test="paired t per batch size, the pair's variance pooled over batch sizes")
    return c, [pair_at(ev, "bn", "ln", 8), pair_at(ev, "bn", "ln", 16), pair_at(ev, "ln", "bn", 64)]


def _claim5(ev: Evidence) -> tuple[Claim, list[Part]]:
    c = Claim("5", "GN is stable across batch sizes; at batch 8 (78.55 %) it is slightly below the other methods.",
              f"GN, the report's design: every pair of batch sizes within ±{STABLE_POINTS:g} points, and at batch 8 "
              "below BN and below LN.",
              test=f"stability: two one-sided tests against ±{STABLE_POINTS:g} points; at batch 8: paired t, pooled")
    return c, stable(ev, "gn") + [pair_at(ev, "bn", "gn", 8), pair_at(ev, "ln", "gn", 8)]


def _claim6(ev: Evidence) -> tuple[Claim, list[Part]]:
    c = Claim("6", "lr 0.005 is the best of 0.001 / 0.005 / 0.01 without normalization at batch 64.",
              f"No normalization, batch 64: lr {REFERENCE_LR:g} above lr 0.001 and above lr 0.01.",
              test="t on the two cells, the variance pooled over the sweep's learning rates when homogeneous")
    cells = {lr: list(s.values()) for lr, s in ev.sweep.items()}
    lr = next((k for k in cells if math.isclose(k, REFERENCE_LR)), REFERENCE_LR)
    return c, [Part(f"none, batch 64: lr {REFERENCE_LR:g} - lr {other:g}",
                    ST.contrast(cells, lr, next((k for k in cells if math.isclose(k, other)), other), ev.res),
                    paired=False) for other in (0.001, 0.01)]


CLAIMS = (_claim1, _claim2, _claim3, _claim4, _claim5, _claim6)


def report_claims(ev: Evidence, judged_on: str = "") -> list[Claim]:
    out = []
    seeds = ev.seeds_per_cell()
    for make in CLAIMS:
        c, parts = make(ev)
        c.verdict, c.power = decide(parts, seeds)
        c.evidence = [p.text() for p in parts]
        c.judged_on = judged_on
        if ev.diverged:
            c2, parts2 = make(ev.at_chance())
            v2, _ = decide(parts2, seeds)
            c.sensitivity = f"with the diverged seeds counted at chance ({ev.chance:g} %): {v2}"
        out.append(c)
    return out


def power_rows(claims: list[Claim]) -> list[dict[str, Any]]:
    """The report's power table: one row per claim not decided."""
    rows = []
    for c in claims:
        if c.power:
            rows.append({"claim": c.id, "verdict": c.verdict, "weakest part": c.power["part"],
                         "detectable (80 % power)": c.power["detectable"],
                         "seeds for 1 point": c.power["seeds_for_1"], "seeds for 2 points": c.power["seeds_for_2"]})
    return rows


# ---------------------------------------------------------------------------------------------------
# The batch-size effect under each design, and how it changes when steps (or lr) are equalized
# ---------------------------------------------------------------------------------------------------
def batch_effects(designs: dict[str, Cells], res: float = 0.0) -> list[dict[str, Any]]:
    """``designs``: design -> norm -> batch -> seed -> accuracy (each design with the batch-64 runs it shares
    with the report's design). Per norm and design: batch 64 minus the design's smallest batch size (t, the
    norm's pooled variance within the design; Holm over the table). Per norm and equalizing design: the change
    of that effect against the report's design, tested as such (the interaction: with batch 64 shared, the
    report's-design smallest batch minus the equalized one; Welch, Holm over these tests)."""
    rows = []
    for design, cells in designs.items():
        sizes = sorted({bs for by_bs in cells.values() for bs in by_bs})
        if len(sizes) < 2 or ANCHOR_BATCH not in sizes:
            continue
        small = sizes[0]
        for norm in [n for n in NORMS if n in cells]:
            by_bs = {bs: list(s.values()) for bs, s in cells[norm].items()}
            e = ST.contrast(by_bs, ANCHOR_BATCH, small, res)
            rows.append({"norm": norm, "design": design, "design_name": DESIGNS[design][0], "small": small,
                         "large": ANCHOR_BATCH, "n_small": len(by_bs.get(small, [])),
                         "n_large": len(by_bs.get(ANCHOR_BATCH, [])), "est": e})
    ST.holm_family([r["est"] for r in rows])
    changes = []
    for r in rows:
        fixed = designs.get("fixed", {}).get(r["norm"], {})
        if r["design"] == "fixed" or not fixed:
            continue
        own = designs[r["design"]][r["norm"]]
        same_anchor = own.get(ANCHOR_BATCH) == fixed.get(ANCHOR_BATCH)
        if same_anchor:   # design effect - fixed effect = fixed's small batch - the design's small batch
            c = ST.welch(list(fixed.get(r["small"], {}).values()), list(own.get(r["small"], {}).values()), res)
        else:
            c = _interaction(fixed, own, r["small"], res)
        r["change_est"] = c
        changes.append(c)
    ST.holm_family(changes)
    for r in rows:
        e = r.pop("est")
        r.update(effect=e.diff, ci_low=e.low, ci_high=e.high, p=e.p_adj, method=e.method, shown=e.shown())
    for r in rows:
        c = r.pop("change_est", None)
        r["verdict"] = "" if c is None else _change_word(r, c, rows)
        if c is not None:
            r.update(change=c.diff, change_low=c.low, change_high=c.high, change_p=c.p_adj)
    return rows


def _interaction(fixed: dict[int, dict[int, float]], own: dict[int, dict[int, float]], small: int,
                 res: float) -> ST.Estimate:
    """(own 64 - own small) - (fixed 64 - fixed small), four independent cells, Welch-Satterthwaite df."""
    cells = [(own, ANCHOR_BATCH, 1), (own, small, -1), (fixed, ANCHOR_BATCH, -1), (fixed, small, 1)]
    vals = [(ST.rounded(list(c.get(bs, {}).values()), res), sign) for c, bs, sign in cells]
    if any(len(v) < 2 for v, _ in vals):
        return ST.untestable()
    diff = float(sum(sign * v.mean() for v, sign in vals))
    parts = [v.var(ddof=1) / len(v) for v, _ in vals]
    se = math.sqrt(sum(parts))
    if se == 0:
        return ST.untestable(diff, why="no spread in any cell")
    df = sum(parts) ** 2 / sum(p ** 2 / (len(v) - 1) for p, (v, _) in zip(parts, vals) if p)
    return ST.Estimate(diff, se, df, ST.t_p(diff, se, df), min(len(v) for v, _ in vals),
                       math.nan, "Welch t on the interaction")


def _change_word(r: dict[str, Any], c: ST.Estimate, rows: list[dict[str, Any]]) -> str:
    if not c.testable:
        return "not testable"
    fixed = next((x for x in rows if x["norm"] == r["norm"] and x["design"] == "fixed"), None)
    if not c.shown():
        return "no change shown"
    if fixed is not None and fixed.get("shown") and r.get("shown") and np.sign(fixed["effect"]) != np.sign(r["effect"]):
        return "reverses"
    grows = abs(r["effect"]) > abs(fixed["effect"]) if fixed is not None else c.diff > 0
    return "larger when equalized" if grows else "smaller when equalized"
