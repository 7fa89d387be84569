"""The original report's conclusions as testable statements, each with a verdict on the runs at hand, and
the batch-size effect under the three designs (fixed epochs and lr, equal steps, linear lr scaling).

Only reads a ``Study``. A verdict is one of ``VERDICTS``; every directional test is two-sided at
``ALPHA``, Holm-adjusted over the tests of one claim (the comparisons of norms reuse the summary's own,
adjusted over its whole table), and a claim is supported only when every part of it is.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from .stats import ALPHA, holm

if TYPE_CHECKING:
    from .summary import Study

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE = (
    "supported", "not supported", "inconclusive", "not testable with these runs")
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE)
# "Stable across batch sizes": no batch size more than this many points below the norm's best one. The
# report calls its BN and GN stable with spreads of 3.8 points, against 41 points without normalization.
STABLE_POINTS = 5.0
NORMED = ("bn", "ln", "gn")


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
        return f"{self.what}: {self.diff:+.2f}{ci}, p={_p(self.p)}"


def welch(a: list[float], b: list[float]) -> tuple[float, float, float, float]:
    """mean(a) - mean(b), its 95 % interval and the two-sided p of Welch's t-test; groups without spread:
    p 1 when the means are equal, 0 when they differ (every seed agrees); nan when a side has < 2 runs."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        diff = a.mean() - b.mean() if len(a) and len(b) else math.nan
        return float(diff), math.nan, math.nan, math.nan
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return diff, diff, diff, (1.0 if diff == 0 else 0.0)
    with warnings.catch_warnings():  # near-identical groups (runs at chance): scipy warns of precision loss
        warnings.simplefilter("ignore", RuntimeWarning)
        r = stats.ttest_ind(a, b, equal_var=False)
        ci = r.confidence_interval(1 - ALPHA)
    return diff, float(ci.low), float(ci.high), float(r.pvalue)


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
# The batch-size effect under each design
# ---------------------------------------------------------------------------------------------------
def batch_effects(study: "Study") -> list[dict[str, Any]]:
    """Per norm and design: test accuracy at batch 64 minus at the smallest batch size of the design, with
    Welch's 95 % interval and p (Holm over the whole table); then, per norm, whether the effect of the
    report's design survives when steps (or lr) are equalized."""
    from .summary import ANCHOR_BATCH, DESIGNS
    rows: list[dict[str, Any]] = []
    tests: list[Test] = []
    for design in study.designs():
        d = study.arm(design, completed=True)
        small = int(d.batch_size.min()) if not d.empty else ANCHOR_BATCH
        for norm in [n for n in study_norms(study) if n in set(d.norm)]:
            acc = lambda bs: list(d[(d.norm == norm) & (d.batch_size == bs)].test_acc)  # noqa: E731
            if small == ANCHOR_BATCH:
                continue
            t = Test(f"{norm}: batch {ANCHOR_BATCH} - batch {small}", acc(ANCHOR_BATCH), acc(small))
            tests.append(t)
            rows.append({"norm": norm, "design": design, "design_name": DESIGNS[design][0], "small": small,
                         "large": ANCHOR_BATCH, "test": t})
    adjusted([t for t in tests if t.testable])
    for r in rows:
        t = r.pop("test")
        r.update(effect=t.diff, ci_low=t.low, ci_high=t.high, p=t.p, n_small=len(t.b), n_large=len(t.a),
                 shown=None if not t.testable or math.isnan(t.p) else bool(t.p < ALPHA))
    for r in rows:
        r["verdict"] = "" if r["design"] == "fixed" else _survives(r, rows)
    return rows


def _survives(r: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    fixed = next((x for x in rows if x["norm"] == r["norm"] and x["design"] == "fixed"), None)
    if fixed is None or fixed["shown"] is None:
        return "no fixed-design effect to compare"
    if r["shown"] is None:
        return "not testable"
    if not fixed["shown"]:
        return ("an effect appears" if r["shown"] else "not shown in either design")
    same = np.sign(r["effect"]) == np.sign(fixed["effect"])
    if r["shown"]:
        return "survives" if same else "reverses"
    return "not shown when equalized"


def study_norms(study: "Study") -> list[str]:
    from .summary import NORM_ORDER
    return [n for n in NORM_ORDER if n in set(study.runs.norm)]


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


def report_claims(study: "Study") -> list[Claim]:
    on = judged_on(study)
    claims = [_claim1(study), _claim2(study), _claim3(study), _claim4(study), _claim5(study), _claim6(study)]
    for c in claims:
        c.judged_on = on
    return claims


def judged_on(study: "Study") -> str:
    p = study.protocol()
    where = (f"{p['dataset']}, {p['image_size']} px, width {p['width']:g}, {p['epochs']} epochs, "
             f"seeds {', '.join(map(str, sorted(set(int(s) for s in study.runs.seed))))}")
    if study.comparable():
        return f"{where}: the report's protocol, so the claim's numbers can be compared as well as its direction"
    return f"{where}: not the report's CIFAR-10 protocol, so this tests the claim's direction, not its number"


def _cell(study: "Study", norm: str, bs: int, design: str = "fixed", col: str = "test_acc") -> list[float]:
    d = study.arm(design, completed=True)
    return [float(v) for v in d[(d.norm == norm) & (d.batch_size == bs)][col]]


def _first_epoch(study: "Study", norm: str, bs: int) -> list[float]:
    d = study.main_grid()
    return [float(c[0]) for c in d[(d.norm == norm) & (d.batch_size == bs)].curve if c]


def _mean(v: list[float]) -> str:
    return f"{np.mean(v):.2f} (n={len(v)})" if v else "no runs"


def _sizes(study: "Study") -> list[int]:
    return sorted(int(b) for b in set(study.main_grid().batch_size))


def _comparison(study: "Study", bs: int, hi: str, lo: str):
    """The summary's comparison of two norms at a batch size (paired or Tukey, adjusted over its table):
    (outcome of "hi is above lo", text)."""
    for c in study.comparisons():
        if c.batch_size == bs and {c.a, c.b} == {hi, lo}:
            sign = 1 if c.a == hi else -1
            text = (f"{hi} - {lo} at batch {bs}: {sign * c.diff:+.2f}"
                    + ("" if math.isnan(c.ci_low) else
                       f" [{min(sign * c.ci_low, sign * c.ci_high):+.1f}, {max(sign * c.ci_low, sign * c.ci_high):+.1f}]")
                    + f", p={_p(c.p)}")
            if c.shown is None:
                return (SUPPORTED if sign * c.diff > 0 else NOT_SUPPORTED if sign * c.diff < 0 else INCONCLUSIVE), \
                    text + ", every seed agrees"
            if not c.shown:
                return INCONCLUSIVE, text
            return (SUPPORTED if sign > 0 else NOT_SUPPORTED), text
    return NOT_TESTABLE, f"{hi} vs {lo} at batch {bs}: not compared (needs 2+ completed seeds of each)"


def _claim1(study: "Study") -> Claim:
    sizes, norms = _sizes(study), [n for n in NORMED if n in set(study.main_grid().norm)]
    c = Claim("1", "Adding BN, LN or GN improves both accuracy and convergence speed.",
              "Final test accuracy: each of BN, LN, GN above no normalization at every batch size; convergence: "
              "the same after the first epoch.", NOT_TESTABLE,
              test="final accuracy: the summary's comparisons of norms (paired t / Tukey, adjusted over its table); "
                   "first epoch: Welch t, Holm over the claim's first-epoch tests")
    if "none" not in set(study.main_grid().norm) or not norms or not sizes:
        c.evidence = ["needs runs without normalization and with BN/LN/GN in the fixed design"]
        return c
    parts = []
    for norm in norms:
        for bs in sizes:
            out, text = _comparison(study, bs, norm, "none")
            parts.append(out)
            c.evidence.append("final " + text)
    early = adjusted([Test(f"first epoch {n} - none at batch {bs}", _first_epoch(study, n, bs),
                           _first_epoch(study, "none", bs)) for n in norms for bs in sizes])
    parts += [t.outcome() for t in early]
    c.evidence += [t.text() for t in early]
    c.verdict = _with_seeds(combine(parts), study)
    return c


def _claim2(study: "Study") -> Claim:
    c = Claim("2", "Without normalization, batch 8 is much worse (39.14 %) than batch 32 and 64 (79.66 / 80.49 %).",
              "No normalization, fixed design: accuracy at batch 8 below batch 32 and below batch 64.", NOT_TESTABLE,
              test="Welch t, Holm over the 2 tests")
    tests = adjusted([Test(f"none: batch 8 - batch {bs}", _cell(study, "none", 8), _cell(study, "none", bs), -1)
                      for bs in (32, 64)])
    c.evidence = [t.text() for t in tests]
    c.verdict = _with_seeds(combine([t.outcome() for t in tests]), study)
    for r in batch_effects(study):  # what the other designs say about the same gap
        if r["norm"] == "none" and r["design"] != "fixed" and not math.isnan(r["effect"]):
            c.evidence.append(f"with {r['design_name']}: batch {r['large']} - batch {r['small']} = {r['effect']:+.2f}, "
                              f"p={_p(r['p'])} ({r['verdict']})")
    return c


def _stable(study: "Study", norm: str) -> tuple[list[str], list[str]]:
    """Every batch size's drop below the norm's best batch size is under STABLE_POINTS (its 95 % interval
    below the margin: supported; the interval above it: not supported)."""
    sizes = [bs for bs in _sizes(study) if len(_cell(study, norm, bs)) >= 2]
    if len(sizes) < 2:
        return [NOT_TESTABLE], [f"{norm}: fewer than 2 batch sizes with 2+ completed seeds"]
    best = max(sizes, key=lambda bs: np.mean(_cell(study, norm, bs)))
    parts, texts = [], []
    for bs in sizes:
        if bs == best:
            continue
        diff, lo, hi, _ = welch(_cell(study, norm, best), _cell(study, norm, bs))
        parts.append(SUPPORTED if hi < STABLE_POINTS else NOT_SUPPORTED if lo > STABLE_POINTS else INCONCLUSIVE)
        texts.append(f"{norm}: batch {best} (best) - batch {bs}: {diff:+.2f} [{lo:+.1f}, {hi:+.1f}] "
                     f"against the {STABLE_POINTS:g}-point margin")
    return parts, texts


def _best_at(study: "Study", norm: str, at: int) -> list[Test]:
    return adjusted([Test(f"{norm}: batch {at} - batch {bs}", _cell(study, norm, at), _cell(study, norm, bs))
                     for bs in _sizes(study) if bs != at])


def _claim3(study: "Study") -> Claim:
    c = Claim("3", "BN is stable across batch sizes and best at batch 64 among its own sizes (81.31 %).",
              f"BN, fixed design: no batch size more than {STABLE_POINTS:g} points below its best (95 % interval "
              "of the drop under the margin), and batch 64 above each other batch size.", NOT_TESTABLE,
              test=f"stability: Welch 95 % intervals against a {STABLE_POINTS:g}-point margin; best at 64: Welch t, "
                   "Holm over the other batch sizes")
    parts, c.evidence = _stable(study, "bn")
    best = _best_at(study, "bn", 64)
    parts += [t.outcome() for t in best] or [NOT_TESTABLE]
    c.evidence += [t.text() for t in best]
    c.verdict = _with_seeds(combine(parts), study)
    return c


def _claim4(study: "Study") -> Claim:
    c = Claim("4", "LN is slightly below BN at small batches and above BN at batch 64 (82.66 vs 81.31 %).",
              "Fixed design: LN below BN at batch 8 and 16, LN above BN at batch 64.", NOT_TESTABLE,
              test="the summary's comparisons of norms (paired t / Tukey, adjusted over its table)")
    parts = []
    for bs, hi, lo in ((8, "bn", "ln"), (16, "bn", "ln"), (64, "ln", "bn")):
        out, text = _comparison(study, bs, hi, lo)
        parts.append(out)
        c.evidence.append(text)
    c.verdict = _with_seeds(combine(parts), study)
    return c


def _claim5(study: "Study") -> Claim:
    c = Claim("5", "GN is stable across batch sizes; at batch 8 (78.55 %) it is slightly below the other methods.",
              f"GN, fixed design: no batch size more than {STABLE_POINTS:g} points below its best, and at batch 8 "
              "below BN and below LN.", NOT_TESTABLE,
              test=f"stability: Welch 95 % intervals against a {STABLE_POINTS:g}-point margin; at batch 8: the "
                   "summary's comparisons of norms (paired t / Tukey, adjusted over its table)")
    parts, c.evidence = _stable(study, "gn")
    for other in ("bn", "ln"):
        out, text = _comparison(study, 8, other, "gn")
        parts.append(out)
        c.evidence.append(text)
    c.verdict = _with_seeds(combine(parts), study)
    return c


def _claim6(study: "Study") -> Claim:
    c = Claim("6", "lr 0.005 is the best of 0.001 / 0.005 / 0.01 without normalization at batch 64.",
              "No normalization, batch 64: lr 0.005 above lr 0.001 and above lr 0.01.", NOT_TESTABLE,
              test="Welch t, Holm over the 2 tests")
    s = study.sweep()
    s = s[s.status == "completed"]

    def at(lr):
        return [float(v) for v in s[np.isclose(s.lr, lr)].test_acc]
    tests = adjusted([Test(f"none, batch 64: lr 0.005 - lr {lr:g}", at(0.005), at(lr)) for lr in (0.001, 0.01)])
    c.evidence = [t.text() for t in tests]
    c.verdict = _with_seeds(combine([t.outcome() for t in tests]), study)
    return c


def _with_seeds(verdict: str, study: "Study") -> str:
    if verdict != INCONCLUSIVE:
        return verdict
    n = study.main_grid().groupby(["norm", "batch_size"]).size()
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


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")
