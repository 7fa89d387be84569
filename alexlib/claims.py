"""The original report's conclusions as testable statements, each with a verdict on the runs at hand.

Reads the runs table and the ``Analysis`` handed to it; never the summary. A verdict is one of
``VERDICTS``; every directional test is two-sided at ``ALPHA``, Holm-adjusted over the tests of one claim
(the comparisons of norms reuse the analysis's own, adjusted over its whole table), and a claim is
supported only when every part of it is.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .analysis import Analysis
from .runs import arm, comparable, main_grid, sweep
from .stats import holm, welch
from .vocab import ALPHA, NORMED, fmt_p

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE = (
    "supported", "not supported", "inconclusive", "not testable with these runs")
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE)
# "Stable across batch sizes": no batch size more than this many points below the norm's best one. The
# report calls its BN and GN stable with spreads of 3.8 points, against 41 points without normalization.
STABLE_POINTS = 5.0


# ---------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------
@dataclass
class Test:
    """One directional comparison: is ``a`` above ``b``? (``expect`` +1) or below (-1)."""
    what: str
    a: list[float]
    b: list[float]
    expect: int = 1
    diff: float = math.nan     # mean(a) - mean(b), points
    low: float = math.nan      # its 95 % interval (Welch)
    high: float = math.nan
    p: float = math.nan        # two-sided, then adjusted with the claim's other tests

    def run(self) -> "Test":
        self.diff, self.low, self.high, self.p = welch(self.a, self.b)
        return self

    @property
    def testable(self) -> bool:
        return len(self.a) >= 2 and len(self.b) >= 2

    def outcome(self) -> str:
        if not self.testable:
            return NOT_TESTABLE
        if math.isnan(self.p) or self.p >= ALPHA:
            return INCONCLUSIVE
        return SUPPORTED if np.sign(self.diff) == self.expect else NOT_SUPPORTED

    def text(self) -> str:
        if not self.testable:
            return f"{self.what}: fewer than 2 completed seeds on a side"
        ci = "" if math.isnan(self.low) else f" [{self.low:+.1f}, {self.high:+.1f}]"
        return f"{self.what}: {self.diff:+.2f}{ci}, p={fmt_p(self.p)}"


def combine(parts: list[str]) -> str:
    """A claim's verdict from its parts': supported only if every part is."""
    if not parts or NOT_TESTABLE in parts:
        return NOT_TESTABLE
    if NOT_SUPPORTED in parts:
        return NOT_SUPPORTED
    return SUPPORTED if all(p == SUPPORTED for p in parts) else INCONCLUSIVE


def adjusted(tests: list[Test]) -> list[Test]:
    """Run the tests and Holm-adjust their p over the claim."""
    for t in tests:
        t.run()
    for t, p in zip(tests, holm([t.p for t in tests])):
        t.p = p
    return tests


# ---------------------------------------------------------------------------------------------------
# The report's claims
# ---------------------------------------------------------------------------------------------------
@dataclass
class Claim:
    id: str
    claim: str            # the report's conclusion, as it says it
    statement: str        # what is tested here
    verdict: str
    evidence: list[str] = field(default_factory=list)   # the numbers behind the verdict
    test: str = ""
    judged_on: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def report_claims(runs: pd.DataFrame, analysis: Analysis, protocol: dict[str, Any]) -> list[Claim]:
    """The six claims judged on ``runs`` (the runs table, designs assigned), with the comparisons and
    batch-size effects of ``analysis``; ``protocol`` is what the runs share (``alexlib.runs.protocol``)."""
    on = judged_on(runs, protocol)
    claims = [judge(runs, analysis) for judge in (_claim1, _claim2, _claim3, _claim4, _claim5, _claim6)]
    for c in claims:
        c.judged_on = on
    return claims


def judged_on(runs: pd.DataFrame, protocol: dict[str, Any]) -> str:
    """The data, size, epochs and seeds the verdicts rest on, and whether the report's numbers compare."""
    p = protocol
    where = (f"{p['dataset']}, {p['image_size']} px, width {p['width']:g}, {p['epochs']} epochs, "
             f"seeds {', '.join(map(str, sorted(set(int(s) for s in runs.seed))))}")
    if comparable(protocol):
        return f"{where}: the report's protocol, so the claim's numbers can be compared as well as its direction"
    return f"{where}: not the report's CIFAR-10 protocol, so this tests the claim's direction, not its number"


def _cell(runs: pd.DataFrame, norm: str, bs: int, design: str = "fixed", col: str = "test_acc") -> list[float]:
    d = arm(runs, design, only_completed=True)
    return [float(v) for v in d[(d.norm == norm) & (d.batch_size == bs)][col]]


def _first_epoch(runs: pd.DataFrame, norm: str, bs: int) -> list[float]:
    d = main_grid(runs)
    return [float(c[0]) for c in d[(d.norm == norm) & (d.batch_size == bs)].curve if c]


def _sizes(runs: pd.DataFrame) -> list[int]:
    return sorted(int(b) for b in set(main_grid(runs).batch_size))


def _comparison(analysis: Analysis, bs: int, hi: str, lo: str):
    """The analysis's comparison of two norms at a batch size (paired or Tukey, adjusted over its table):
    (outcome of "hi is above lo", text)."""
    for c in analysis.comparisons:
        if c.batch_size == bs and {c.a, c.b} == {hi, lo}:
            sign = 1 if c.a == hi else -1
            text = (f"{hi} - {lo} at batch {bs}: {sign * c.diff:+.2f}"
                    + ("" if math.isnan(c.ci_low) else
                       f" [{min(sign * c.ci_low, sign * c.ci_high):+.1f}, {max(sign * c.ci_low, sign * c.ci_high):+.1f}]")
                    + f", p={fmt_p(c.p)}")
            if c.shown is None:
                return (SUPPORTED if sign * c.diff > 0 else NOT_SUPPORTED if sign * c.diff < 0 else INCONCLUSIVE), \
                    text + ", every seed agrees"
            if not c.shown:
                return INCONCLUSIVE, text
            return (SUPPORTED if sign > 0 else NOT_SUPPORTED), text
    return NOT_TESTABLE, f"{hi} vs {lo} at batch {bs}: not compared (needs 2+ completed seeds of each)"


def _claim1(runs: pd.DataFrame, analysis: Analysis) -> Claim:
    sizes, norms = _sizes(runs), [n for n in NORMED if n in set(main_grid(runs).norm)]
    c = Claim("1", "Adding BN, LN or GN improves both accuracy and convergence speed.",
              "Final test accuracy: each of BN, LN, GN above no normalization at every batch size; convergence: "
              "the same after the first epoch.", NOT_TESTABLE,
              test="final accuracy: the summary's comparisons of norms (paired t / Tukey, adjusted over its table); "
                   "first epoch: Welch t, Holm over the claim's first-epoch tests")
    if "none" not in set(main_grid(runs).norm) or not norms or not sizes:
        c.evidence = ["needs runs without normalization and with BN/LN/GN in the fixed design"]
        return c
    parts = []
    for norm in norms:
        for bs in sizes:
            out, text = _comparison(analysis, bs, norm, "none")
            parts.append(out)
            c.evidence.append("final " + text)
    early = adjusted([Test(f"first epoch {n} - none at batch {bs}", _first_epoch(runs, n, bs),
                           _first_epoch(runs, "none", bs)) for n in norms for bs in sizes])
    parts += [t.outcome() for t in early]
    c.evidence += [t.text() for t in early]
    c.verdict = _with_seeds(combine(parts), runs)
    return c


def _claim2(runs: pd.DataFrame, analysis: Analysis) -> Claim:
    c = Claim("2", "Without normalization, batch 8 is much worse (39.14 %) than batch 32 and 64 (79.66 / 80.49 %).",
              "No normalization, fixed design: accuracy at batch 8 below batch 32 and below batch 64.", NOT_TESTABLE,
              test="Welch t, Holm over the 2 tests")
    tests = adjusted([Test(f"none: batch 8 - batch {bs}", _cell(runs, "none", 8), _cell(runs, "none", bs), -1)
                      for bs in (32, 64)])
    c.evidence = [t.text() for t in tests]
    c.verdict = _with_seeds(combine([t.outcome() for t in tests]), runs)
    for r in analysis.batch_effects:  # what the other designs say about the same gap
        if r["norm"] == "none" and r["design"] != "fixed" and not math.isnan(r["effect"]):
            c.evidence.append(f"with {r['design_name']}: batch {r['large']} - batch {r['small']} = {r['effect']:+.2f}, "
                              f"p={fmt_p(r['p'])} ({r['verdict']})")
    return c


def _stable(runs: pd.DataFrame, norm: str) -> tuple[list[str], list[str]]:
    """Every batch size's drop below the norm's best batch size is under STABLE_POINTS (its 95 % interval
    below the margin: supported; the interval above it: not supported)."""
    sizes = [bs for bs in _sizes(runs) if len(_cell(runs, norm, bs)) >= 2]
    if len(sizes) < 2:
        return [NOT_TESTABLE], [f"{norm}: fewer than 2 batch sizes with 2+ completed seeds"]
    best = max(sizes, key=lambda bs: np.mean(_cell(runs, norm, bs)))
    parts, texts = [], []
    for bs in sizes:
        if bs == best:
            continue
        diff, lo, hi, _ = welch(_cell(runs, norm, best), _cell(runs, norm, bs))
        parts.append(SUPPORTED if hi < STABLE_POINTS else NOT_SUPPORTED if lo > STABLE_POINTS else INCONCLUSIVE)
        texts.append(f"{norm}: batch {best} (best) - batch {bs}: {diff:+.2f} [{lo:+.1f}, {hi:+.1f}] "
                     f"against the {STABLE_POINTS:g}-point margin")
    return parts, texts


def _best_at(runs: pd.DataFrame, norm: str, at: int) -> list[Test]:
    return adjusted([Test(f"{norm}: batch {at} - batch {bs}", _cell(runs, norm, at), _cell(runs, norm, bs))
                     for bs in _sizes(runs) if bs != at])


def _claim3(runs: pd.DataFrame, analysis: Analysis) -> Claim:
    c = Claim("3", "BN is stable across batch sizes and best at batch 64 among its own sizes (81.31 %).",
              f"BN, fixed design: no batch size more than {STABLE_POINTS:g} points below its best (95 % interval "
              "of the drop under the margin), and batch 64 above each other batch size.", NOT_TESTABLE,
              test=f"stability: Welch 95 % intervals against a {STABLE_POINTS:g}-point margin; best at 64: Welch t, "
                   "Holm over the other batch sizes")
    parts, c.evidence = _stable(runs, "bn")
    best = _best_at(runs, "bn", 64)
    parts += [t.outcome() for t in best] or [NOT_TESTABLE]
    c.evidence += [t.text() for t in best]
    c.verdict = _with_seeds(combine(parts), runs)
    return c


def _claim4(runs: pd.DataFrame, analysis: Analysis) -> Claim:
    c = Claim("4", "LN is slightly below BN at small batches and above BN at batch 64 (82.66 vs 81.31 %).",
              "Fixed design: LN below BN at batch 8 and 16, LN above BN at batch 64.", NOT_TESTABLE,
              test="the summary's comparisons of norms (paired t / Tukey, adjusted over its table)")
    parts = []
    for bs, hi, lo in ((8, "bn", "ln"), (16, "bn", "ln"), (64, "ln", "bn")):
        out, text = _comparison(analysis, bs, hi, lo)
        parts.append(out)
        c.evidence.append(text)
    c.verdict = _with_seeds(combine(parts), runs)
    return c


def _claim5(runs: pd.DataFrame, analysis: Analysis) -> Claim:
    c = Claim("5", "GN is stable across batch sizes; at batch 8 (78.55 %) it is slightly below the other methods.",
              f"GN, fixed design: no batch size more than {STABLE_POINTS:g} points below its best, and at batch 8 "
              "below BN and below LN.", NOT_TESTABLE,
              test=f"stability: Welch 95 % intervals against a {STABLE_POINTS:g}-point margin; at batch 8: the "
                   "summary's comparisons of norms (paired t / Tukey, adjusted over its table)")
    parts, c.evidence = _stable(runs, "gn")
    for other in ("bn", "ln"):
        out, text = _comparison(analysis, 8, other, "gn")
        parts.append(out)
        c.evidence.append(text)
    c.verdict = _with_seeds(combine(parts), runs)
    return c


def _claim6(runs: pd.DataFrame, analysis: Analysis) -> Claim:
    c = Claim("6", "lr 0.005 is the best of 0.001 / 0.005 / 0.01 without normalization at batch 64.",
              "No normalization, batch 64: lr 0.005 above lr 0.001 and above lr 0.01.", NOT_TESTABLE,
              test="Welch t, Holm over the 2 tests")
    s = sweep(runs)
    s = s[s.status == "completed"]

    def at(lr):
        return [float(v) for v in s[np.isclose(s.lr, lr)].test_acc]
    tests = adjusted([Test(f"none, batch 64: lr 0.005 - lr {lr:g}", at(0.005), at(lr)) for lr in (0.001, 0.01)])
    c.evidence = [t.text() for t in tests]
    c.verdict = _with_seeds(combine([t.outcome() for t in tests]), runs)
    return c


def _with_seeds(verdict: str, runs: pd.DataFrame) -> str:
    if verdict != INCONCLUSIVE:
        return verdict
    n = main_grid(runs).groupby(["norm", "batch_size"]).size()
    seeds = "?" if n.empty else str(n.max()) if n.min() == n.max() else f"{n.min()}-{n.max()}"
    return f"inconclusive at {seeds} seeds per cell"


def report_self_check(reference: dict[str, Any]) -> list[str]:
    """What the report's own numbers say about its text: computed from params/reference.yaml."""
    t, sweep = reference["table"], reference["sweep"]
    out = []
    gn8, bn8, ln8 = t.get(("gn", 8)), t.get(("bn", 8)), t.get(("ln", 8))
    if None not in (gn8, bn8, ln8):
        rel = "higher" if gn8 > max(bn8, ln8) else "lower" if gn8 < min(bn8, ln8) else "between"
        out.append(f"At batch 8 the report's GN ({gn8:.2f} %) is {rel} than its BN ({bn8:.2f}) and LN ({ln8:.2f}), "
                   f"while its text says GN is slightly below the other methods there (claim 5).")
    twice = t.get(("none", 64)), sweep.get(0.005)
    if None not in twice:
        out.append(f"The same configuration (no normalization, batch 64, lr 0.005) appears twice in the report, "
                   f"{twice[0]:.2f} % in its table and {twice[1]:.2f} % in its lr sweep: {abs(twice[0] - twice[1]):.2f} "
                   f"points apart, a free estimate of its run-to-run noise, from one pair.")
    return out

