"""The two-look sequential test over the study's two stages, as pure functions: the first stage is the grid as
written; a second stage adds seeds where the first left a claim's part open (``alexlib.decide``), and the final test combines the two
stages' evidence so that the error rate holds although the second stage's size depends on the first.

- Each one-sided test is a group-sequential test with two looks and O'Brien–Fleming boundaries (c1 at the
  first look, c2 at the second), on the inverse-normal combination of the stages' p values with weights fixed
  in advance, w1 = w2 = 1/sqrt(2) (Lehmacher & Wassmer 1999; Bauer & Köhne 1994): the stage-2 statistic uses
  only the seeds added in stage 2, so the combination is valid whatever rule chose how many were added.
- A stage's evidence is a ``StageTest``: a difference, its standard error and degrees of freedom (a t test),
  whose one-sided p values can be taken against any shifted null (a margin, or the bounds of an interval).
- Intervals follow the tests: at the first look, the set of differences the first-look test does not reject;
  at the second, the set the combination test does not reject (found by bisection).

docs/STATISTICS.md states the method and why.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import special, stats

from ...vocab import POWER, SEED_LIMIT
from .stats import BOUND, sign_patterns

WEIGHTS = (math.sqrt(0.5), math.sqrt(0.5))   # fixed before any data: the stages weigh the same
SEARCH = 1e4                                 # points: no accuracy difference lies outside ±this


@dataclass(frozen=True)
class StageTest:
    """One stage's evidence about a difference (points): a t statistic, or, where nothing varies, the exact
    sign-flip test of its units. ``units``/``weights``: per-unit differences behind a blocked mean, whose
    exact sign flip is checked beside the t test (the larger p is kept)."""
    diff: float
    se: float
    df: float
    n: int                        # seeds behind it (pairs, or the smaller group)
    sd: float                     # the sd of one unit (for power)
    method: str
    units: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    units_per_seed: int = 1
    paired: bool = True

    @property
    def testable(self) -> bool:
        return np.isfinite(self.diff) and (self.se > 0 and np.isfinite(self.df) or bool(self.units))

    def p_above(self, delta: float) -> float:
        """One-sided p of H0: difference <= delta (small when the difference is well above delta)."""
        if not self.testable:
            return math.nan
        p = t_sf((self.diff - delta) / self.se, self.df) if self.se > 0 else 0.0
        if self.units:
            p = max(p, _flip_p(self.units, self.weights, delta))
        return p

    def p_below(self, delta: float) -> float:
        """One-sided p of H0: difference >= delta."""
        if not self.testable:
            return math.nan
        p = t_sf((delta - self.diff) / self.se, self.df) if self.se > 0 else 0.0
        if self.units:
            p = max(p, _flip_p(tuple(-u for u in self.units), self.weights, -delta))
        return p


def t_sf(t: float, df: float) -> float:
    """P(T_df > t), fast (scipy.special, not the distribution object: this sits inside bisections)."""
    return float(special.stdtr(df, -t))


def t_isf(p: float, df: float) -> float:
    """The t_df quantile whose upper tail is p."""
    return float(-special.stdtrit(df, p))


def _flip_p(units: tuple[float, ...], weights: tuple[float, ...], delta: float) -> float:
    """One-sided exact p of the weighted mean of (unit - delta) under random sign flips: P(flipped >= observed)."""
    d = np.asarray(units, float) - delta
    w = np.ones(len(d)) / len(d) if not weights else np.asarray(weights, float)
    stat = float(np.dot(w, d))
    flips = sign_patterns(len(d)) @ (w * d)
    return float(np.mean(flips >= stat - 1e-9 * max(1.0, abs(stat))))


# ---------------------------------------------------------------------------------------------------
# Boundaries
# ---------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def boundaries(alpha: float, weights: tuple[float, float] = WEIGHTS) -> tuple[float, float]:
    """O'Brien–Fleming z boundaries (c1, c2 = c1 / sqrt(2)) of a one-sided test at ``alpha`` with two looks of
    equal weight: P(Z1 > c1 or w1 Z1 + w2 Z2 > c2) = alpha under the null."""
    rho = weights[0]                        # the correlation of Z1 with the combination
    cov = [[1.0, rho], [rho, 1.0]]

    def excess(c: float) -> float:
        c1, c2 = c * math.sqrt(2.0), c
        none = stats.multivariate_normal(mean=[0, 0], cov=cov).cdf([c1, c2])
        return (1.0 - none) - alpha
    lo, hi = stats.norm.isf(alpha) - 1e-9, stats.norm.isf(alpha) + 3.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    c = (lo + hi) / 2
    return c * math.sqrt(2.0), c


def first_look_alpha(alpha: float) -> float:
    """The one-sided alpha the first look spends (its boundary as a p value)."""
    return p_of(boundaries(alpha)[0])


# ---------------------------------------------------------------------------------------------------
# The combination and what it decides
# ---------------------------------------------------------------------------------------------------
def z_of(p: float) -> float:
    """A one-sided p value as a z statistic (0 -> +inf, 1 -> -inf)."""
    return float(-special.ndtri(min(max(p, 0.0), 1.0)))


def p_of(z: float) -> float:
    """A z statistic as its one-sided p value."""
    return float(special.ndtr(-z))


def combined_z(stage1: StageTest, stage2: StageTest, delta: float, above: bool = True,
               weights: tuple[float, float] = WEIGHTS) -> float:
    """The inverse-normal combination of the two stages' one-sided p values against ``delta``."""
    p = (lambda t: t.p_above(delta)) if above else (lambda t: t.p_below(delta))
    return weights[0] * z_of(_clip(p(stage1))) + weights[1] * z_of(_clip(p(stage2)))


def _clip(p: float) -> float:
    """A stage's p kept off 0 and 1: an exact p of 1 (nothing varies, the difference on the null's side) is the
    weakest evidence, not an infinite one, so the combination and its interval stay finite."""
    return min(max(p, 1e-300), 1 - 1e-12)


def combined_p(stage1: StageTest, stage2: StageTest, delta: float, above: bool = True,
               weights: tuple[float, float] = WEIGHTS) -> float:
    """The combination as a p value, to be held against the second look's boundary c2 (as a p: norm.sf(c2))."""
    return p_of(combined_z(stage1, stage2, delta, above, weights))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    estimate: float
    level: float               # the two-sided level of this interval alone (its look's boundary on each side)
    stage: int                 # 1: the first look's; 2: the combination's (cut by the first look's)
    unbounded: bool = False    # a t interval reached past ±100 points: cut there, its seeds too few to bound it
    estimator: str = "mean difference"


ESTIMATORS = {"mean difference": "the difference of the cell means (paired: the mean of the per-seed differences)",
              "median-unbiased": "the difference where the two-look combination test is balanced (median-unbiased "
                                 "across both stages; not the raw difference of the cell means)"}


def bounded(iv: Interval) -> Interval:
    """The interval cut to what a difference of accuracies allows (±100 points), saying so where it was cut."""
    if not (np.isfinite(iv.low) and np.isfinite(iv.high)) or (iv.low > -BOUND and iv.high < BOUND):
        return iv
    return replace(iv, low=max(iv.low, -BOUND), high=min(iv.high, BOUND), unbounded=True)


def intersect(first: Interval, second: Interval) -> Interval:
    """Both looks' intervals at once: the boundaries hold over both looks together (P(the truth in both) >= the
    design's level), so their intersection is an interval of that level, and a part decided at the first look
    stays decided."""
    lo, hi = max(first.low, second.low), min(first.high, second.high)
    if not lo <= hi:   # the looks disagree beyond their boundaries (probability below the design's alpha)
        return second
    return replace(second, low=lo, high=hi, estimate=min(max(second.estimate, lo), hi),
                   unbounded=first.unbounded and second.unbounded)


def single_look_boundary(alpha: float) -> float:
    """The z a one-sided test at ``alpha`` must clear at a part's only look."""
    return float(-special.ndtri(alpha))


def first_look_interval(t: StageTest, alpha: float, two_looks: bool = True) -> Interval:
    """The differences the first look does not reject at its boundary, each side a one-sided test at ``alpha``
    (``two_looks``: the O'Brien-Fleming first boundary; else the part's only look, at the full ``alpha``)."""
    c1 = boundaries(alpha)[0] if two_looks else single_look_boundary(alpha)
    level = 1 - 2 * p_of(c1)
    if not t.testable:
        return Interval(math.nan, math.nan, t.diff, level, 1)
    if t.se > 0 and not t.units:
        half = t_isf(p_of(c1), t.df) * t.se
        return bounded(Interval(t.diff - half, t.diff + half, t.diff, level, 1))
    pc = p_of(c1)
    scale = t.se if t.se > 0 else 1.0
    lo = _root(lambda d: t.p_above(d) - pc, t.diff, -1, scale)
    hi = _root(lambda d: t.p_below(d) - pc, t.diff, +1, scale)
    return bounded(Interval(lo, hi, t.diff, level, 1))


def combined_interval(t1: StageTest, t2: StageTest, alpha: float, weights: tuple[float, float] = WEIGHTS) -> Interval:
    """The differences the combination test does not reject at the second look's boundary c2, and the
    difference where it is balanced (its median-unbiased estimate)."""
    c2 = boundaries(alpha, weights)[1]
    level = 1 - 2 * p_of(c2)
    if not (t1.testable and t2.testable):
        return Interval(math.nan, math.nan, math.nan, level, 2)
    start = (t1.diff + t2.diff) / 2
    scale = max(t1.se, t2.se, 1e-3)
    lo = _root(lambda d: c2 - combined_z(t1, t2, d, True, weights), start, -1, scale)
    hi = _root(lambda d: c2 - combined_z(t1, t2, d, False, weights), start, +1, scale)
    mid = _root(lambda d: -combined_z(t1, t2, d, True, weights), start, 0, scale, lo, hi)
    return bounded(Interval(lo, hi, mid, level, 2, estimator="median-unbiased"))


def _root(f, start: float, side: int, scale: float, lo: float | None = None, hi: float | None = None) -> float:
    """A root of a monotone ``f`` by bisection: below ``start`` (side -1), above it (+1), or between ``lo`` and
    ``hi`` (0); the bracket grows from ``start`` in steps of ``scale`` until the sign changes."""
    if side == 0:
        a, b = lo, hi
    else:
        step, a, b = scale, start, start
        for _ in range(60):
            if side < 0:
                a = start - step
            else:
                b = start + step
            fa, fb = f(a), f(b)
            if np.isfinite(fa) and np.isfinite(fb) and fa * fb <= 0:
                break
            step *= 2
            if step > SEARCH:
                return -SEARCH if side < 0 else SEARCH
    fa, fb = f(a), f(b)
    if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0:
        return start
    for _ in range(60):
        m = (a + b) / 2
        fm = f(m)
        if (fm > 0) == (fb > 0):
            b, fb = m, fm
        else:
            a, fa = m, fm
        if b - a < 1e-6 * max(1.0, scale):
            break
    return (a + b) / 2


# ---------------------------------------------------------------------------------------------------
# Power: how many seeds a second stage needs
# ---------------------------------------------------------------------------------------------------
def seeds_for_second_stage(t1: StageTest, distance: float, z1: float, alpha: float, power: float = POWER,
                           cap: int = SEED_LIMIT, weights: tuple[float, float] = WEIGHTS) -> int | None:
    """The fewest seeds per cell a second stage needs so that the combination clears c2 with ``power`` when the
    truth lies ``distance`` points beyond the boundary the test must clear, given the first look's z1 (its
    conditional power). None when more than ``cap`` seeds would be needed or nothing is known of the spread."""
    if not (t1.sd == t1.sd) or t1.sd <= 0 or distance <= 0:
        return None if not t1.sd == 0 else 2
    c2 = boundaries(alpha, weights)[1]
    need_z2 = (c2 - weights[0] * z1) / weights[1]     # what the second stage's z must exceed
    sd = hedged_sd(t1.sd, t1.df)
    for n in range(2, cap + 1):
        units = n * t1.units_per_seed
        df = t1.units_per_seed * (n - 1)   # paired: n - 1; Welch's df is at least n - 1 (planned at its floor)
        se = sd * math.sqrt((1 if t1.paired else 2) / units)
        got = float(special.nctdtr(df, distance / se, need_z2_as_t(need_z2, df)))   # P(T'_df(nc) <= need)
        got = 1.0 - got if np.isfinite(got) else 1.0                                # P(T'_df(nc) > need)
        if got >= power:
            return n
    return None


SD_HEDGE = 0.3   # plan with the sd's upper 70 % bound: a spread guessed from a few seeds is low half the time


def hedged_sd(sd: float, df: float) -> float:
    """The sd a second stage is planned with: the observed one raised to its one-sided upper ``1 - SD_HEDGE``
    confidence bound (chi-square on ``df``), so a spread under-guessed from a few seeds does not leave the stage
    short of its planned power."""
    if not (df == df and df > 0):
        return sd
    return sd * math.sqrt(df / stats.chi2.ppf(SD_HEDGE, df))


def need_z2_as_t(z: float, df: float) -> float:
    """The t statistic (df) whose one-sided p equals that of the z statistic ``z``."""
    return t_isf(p_of(z), df) if np.isfinite(z) else z
