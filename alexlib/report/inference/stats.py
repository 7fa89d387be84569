"""Which differences are larger than seed-to-seed noise, at the power the seeds have: the tests behind the
significance table, the batch-size effects and the report's claims (what n seeds can show: alexlib.report.inference.power).

Pure functions over plain lists and dicts of accuracies (points, %), rounded first to the test set's
resolution. Each difference is tested on its own cells' seeds, never on a variance pooled by a pre-test: paired
t on shared seeds, Welch without them; exact sign-flip or permutation p where nothing varies (never below
2^(1-n)); Bonferroni over a table, so every interval is simultaneous at 1 - ALPHA over its family; blocked means
(each batch size its own variance) checked by an exact sign flip. The claims' tests at their sizes: alexlib.report.inference.verdicts. docs/STATISTICS.md states the method and why.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ...vocab import ALPHA

EXACT_UNITS = 16            # sign flips enumerated exactly up to 2^16 patterns, else sampled
SAMPLED_FLIPS = 20_000


# ---------------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------------
def resolution(test_images: int | None) -> float:
    """Points one test image is worth (0 when unknown: no rounding)."""
    return 100.0 / test_images if test_images else 0.0


def rounded(values, res: float) -> np.ndarray:
    """Accuracies rounded to the test set's resolution, so equal image counts are equal floats."""
    v = np.asarray(values, dtype=float)
    return np.round(v / res) * res if res else v


def _no_spread(v: np.ndarray, res: float) -> bool:
    """Every value the same, up to a hundredth of an image (or of float rounding when res is 0)."""
    tol = (res or 1e-9) * 1e-2
    return len(v) > 0 and float(np.ptp(v)) <= tol


# ---------------------------------------------------------------------------------------------------
# One estimate
# ---------------------------------------------------------------------------------------------------
@dataclass
class Estimate:
    """A difference in points with its standard error and test. ``p`` is two-sided and unadjusted; a
    table's adjustment sets ``p_adj`` and ``family`` (its rows). ``level`` is the level the interval holds at
    simultaneously over its family (always 1 - ALPHA: the one level a report prints); each interval alone is drawn
    at 1 - (1 - level) / family (Bonferroni)."""
    diff: float
    se: float
    df: float
    p: float
    n: int                       # units behind it: seeds (paired), or the smaller group
    sd: float                    # the sd of one unit (of a paired difference, or of one run), for planning seeds:
    # pooled over the cells given where there are several (a better guess of the spread; no test uses it)
    method: str
    p_adj: float = math.nan
    level: float = 1 - ALPHA
    family: int = 1              # the rows the level is shared over
    low: float = math.nan
    high: float = math.nan
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if math.isnan(self.p_adj):
            self.p_adj = self.p
        self.set_level(self.level)

    def set_level(self, level: float, family: int = 1) -> None:
        self.level, self.family = level, max(1, family)
        if self.se > 0 and np.isfinite(self.df) and self.df > 0:
            half = float(stats.t.ppf(1 - (1 - level) / (2 * self.family), self.df)) * self.se
            self.low, self.high = bounded(self.diff - half, self.diff + half)
        else:
            self.low = self.high = math.nan

    @property
    def each_level(self) -> float:
        """The level of this interval alone."""
        return 1 - (1 - self.level) / self.family

    @property
    def testable(self) -> bool:
        return np.isfinite(self.p)

    def shown(self, alpha: float = ALPHA) -> bool | None:
        return None if not self.testable else bool(self.p_adj < alpha)


BOUND = 100.0   # points: no difference of two accuracies lies beyond ±this


def bounded(low: float, high: float) -> tuple[float, float]:
    """An interval of a difference of accuracies cut to what the measure allows, [-100, +100] points: the truth
    lies there, so the cut interval covers it as often (``unbounded`` says where a t interval reached past it)."""
    return max(low, -BOUND), min(high, BOUND)


def unbounded(low: float, high: float) -> bool:
    """Whether an interval reaches the bounds of the measure: its seeds are too few to bound the difference."""
    return bool(np.isfinite(low) and np.isfinite(high) and (low <= -BOUND or high >= BOUND))


def untestable(diff: float = math.nan, n: int = 0, why: str = "fewer than 2 completed seeds on a side") -> Estimate:
    return Estimate(diff, math.nan, math.nan, math.nan, n, math.nan, why)


def t_p(diff: float, se: float, df: float) -> float:
    return float(2 * stats.t.sf(abs(diff) / se, df))


# ---------------------------------------------------------------------------------------------------
# Exact tests for the cases a t statistic cannot take
# ---------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def sign_patterns(n: int) -> np.ndarray:
    """Every pattern of n signs (the exact test) up to EXACT_UNITS units, else a fixed sample of them with the
    identity first (seeded: the same units give the same p on every run)."""
    if n <= EXACT_UNITS:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    rng = np.random.default_rng(0)
    return np.vstack([np.ones(n), rng.choice((1.0, -1.0), size=(SAMPLED_FLIPS - 1, n))])


def sign_flip_p(d, weights=None) -> float:
    """Two-sided p of the (weighted) mean of paired differences under random sign flips: exact up to
    2^16 patterns. n units that all agree give 2^(1-n), never less."""
    d = np.asarray(d, float)
    if len(d) == 0:
        return math.nan
    w = np.ones(len(d)) if weights is None else np.asarray(weights, float)
    stat = abs(float(np.dot(w, d)))
    if stat == 0:
        return 1.0
    flips = sign_patterns(len(d)) @ (w * d)
    return float(np.mean(np.abs(flips) >= stat * (1 - 1e-9)))


def permutation_p(a, b) -> float:
    """Two-sided exact p of mean(a) - mean(b) over every relabelling (groups of a few seeds)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([a, b])
    stat = abs(a.mean() - b.mean())
    if stat == 0:
        return 1.0
    hits = total = 0
    for idx in itertools.combinations(range(len(pooled)), len(a)):
        mask = np.zeros(len(pooled), bool)
        mask[list(idx)] = True
        hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= stat * (1 - 1e-9)
        total += 1
    return hits / total


# ---------------------------------------------------------------------------------------------------
# Paired comparisons of two norms, over batch sizes
# ---------------------------------------------------------------------------------------------------
def paired_diffs(a: dict[int, dict[int, float]], b: dict[int, dict[int, float]],
                 res: float = 0.0) -> dict[int, np.ndarray]:
    """Per batch size both ran with two or more shared seeds: a - b on those seeds (rounded first), the one
    pairing every paired test here uses."""
    diffs = {}
    for bs in sorted(set(a) & set(b)):
        shared = sorted(set(a[bs]) & set(b[bs]))
        if len(shared) >= 2:
            diffs[bs] = rounded([a[bs][s] for s in shared], res) - rounded([b[bs][s] for s in shared], res)
    return diffs


def paired_by_batch(a: dict[int, dict[int, float]], b: dict[int, dict[int, float]],
                    res: float = 0.0) -> dict[int, Estimate]:
    """``a``, ``b``: batch size -> seed -> accuracy of two norms. Per batch size: mean of a - b with its paired t
    test on the shared seeds of that batch size alone (no variance borrowed from other batch sizes); Welch's test
    for a batch size without two shared seeds; the exact sign flip where every seed gives the same difference."""
    diffs = paired_diffs(a, b, res)
    out = {bs: welch(list(a[bs].values()), list(b[bs].values()), res) for bs in sorted(set(a) & set(b))
           if bs not in diffs}
    for bs, d in diffs.items():
        n = len(d)
        mean = float(d.mean())
        v = float(d.var(ddof=1))
        if v == 0 or _no_spread(d, res):
            out[bs] = Estimate(mean, 0.0, n - 1.0, sign_flip_p(d), n, 0.0,
                               f"exact sign flip ({n} seeds, every seed the same difference)")
            continue
        se = math.sqrt(v / n)
        out[bs] = Estimate(mean, se, n - 1.0, t_p(mean, se, n - 1.0), n, planning_sd(list(diffs.values())),
                           f"paired t ({n} seeds)")
    return dict(sorted(out.items()))


def welch(a, b, res: float = 0.0) -> Estimate:
    """mean(a) - mean(b), unpaired, Welch's test; groups without spread: the exact permutation p."""
    a, b = rounded(a, res), rounded(b, res)
    if len(a) < 2 or len(b) < 2:   # no number for a test that cannot be run
        return untestable(n=min(len(a), len(b)))
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    n = min(len(a), len(b))
    if _no_spread(a, res) and _no_spread(b, res):
        return Estimate(diff, 0.0, math.nan, permutation_p(a, b), n, 0.0,
                        "exact permutation (no spread within either group)")
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0) + (vb ** 2 / (len(b) - 1) if vb else 0))
    return Estimate(diff, se, df, t_p(diff, se, df), n, math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2), "Welch t")


def contrast(cells: dict, hi, lo, res: float = 0.0) -> Estimate:
    """Two cells of one norm (batch sizes, or learning rates): mean(hi) - mean(lo), unpaired, Welch's test on
    those two cells' seeds alone; its ``sd`` (for planning seeds only) pooled over every cell given."""
    e = welch(cells.get(hi, []), cells.get(lo, []), res)
    spread = planning_sd([rounded(v, res) for v in cells.values()])
    if e.testable and e.sd > 0 and spread == spread:
        e.sd = spread
    return e


def planning_sd(groups: list[np.ndarray]) -> float:
    """The sd of one unit pooled over groups of 2+ values: what a second stage's size is planned with (planning
    is not a test: a better guess of the spread only makes the planned power truer)."""
    usable = [np.asarray(g, float) for g in groups if len(g) >= 2]
    df = sum(len(g) - 1 for g in usable)
    return math.sqrt(sum((len(g) - 1) * g.var(ddof=1) for g in usable) / df) if df else math.nan


def blocked_units(a: dict[int, dict[int, float]], b: dict[int, dict[int, float]],
                  res: float = 0.0) -> tuple[list[float], list[float]]:
    """The (seed, batch size) units of a blocked mean: each shared seed's difference at each batch size both ran,
    and its weight (each batch size weighs the same)."""
    units, weights = [], []
    diffs = paired_diffs(a, b, res)
    for d in diffs.values():
        units += list(map(float, d))
        weights += [1 / (len(diffs) * len(d))] * len(d)
    return units, weights


def blocked_mean(a: dict[int, dict[int, float]], b: dict[int, dict[int, float]], res: float = 0.0,
                 flip_check: bool = True) -> Estimate:
    """a - b averaged over the batch sizes both ran (each batch size weighs the same), on shared seeds, each batch
    size with its own variance (Welch-Satterthwaite df); checked by an exact sign-flip test over every (seed,
    batch size) unit, and the larger p kept. Batch sizes without two shared seeds are left out and said."""
    diffs = paired_diffs(a, b, res)
    if not diffs:
        return untestable()
    k = len(diffs)
    groups = list(diffs.values())
    mean = float(np.mean([d.mean() for d in groups]))
    if not any(not _no_spread(d, res) for d in groups):
        se, df, how = 0.0, math.nan, f"mean over {k} batch sizes"
    else:
        parts = [d.var(ddof=1) / len(d) / k ** 2 for d in groups]
        se = math.sqrt(sum(parts))
        df = sum(parts) ** 2 / sum(p ** 2 / (len(d) - 1) for p, d in zip(parts, groups) if p > 0)
        how = f"mean over {k} batch sizes, each its own variance"
    units = np.concatenate(groups)
    weights = np.concatenate([np.full(len(d), 1 / (k * len(d))) for d in groups])
    flip = sign_flip_p(units, weights) if flip_check or not se > 0 else 0.0
    n = int(min(len(d) for d in groups))
    if not se > 0:
        return Estimate(mean, 0.0, df, flip, n, 0.0, how + "; exact sign flip (no spread)")
    p = max(t_p(mean, se, df), flip)
    return Estimate(mean, se, df, p, n, se * k / math.sqrt(sum(1 / len(d) for d in groups)),
                    how + (f"; checked by an exact sign flip over {len(units)} units (larger p kept)" if flip_check else ""))


# ---------------------------------------------------------------------------------------------------
# A family of tests: Holm, with intervals at each decision's level
# ---------------------------------------------------------------------------------------------------
def family(estimates: list[Estimate], alpha: float = ALPHA) -> list[Estimate]:
    """A family of m tests at one level (Bonferroni): each p adjusted to min(1, m p), each interval drawn at
    1 - alpha / m, so every interval of the family holds at 1 - alpha at once and excludes 0 exactly when its row
    is shown. One level for every row (Holm's steps would give each row its own)."""
    tested = [e for e in estimates if e.testable]
    m = len(tested)
    for e in tested:
        e.p_adj = min(1.0, m * e.p)
        e.set_level(1 - alpha, m)
    return estimates


def pairs_table(groups: dict[int, dict[str, dict[int, float]]], res: float = 0.0, alpha: float = ALPHA,
                skip: set[tuple[int, frozenset]] = frozenset()) -> list[tuple[int, str, str, Estimate]]:
    """``groups``: batch size -> norm -> seed -> accuracy. Every pair of norms with 2+ runs each at every
    batch size, (batch, higher norm, lower norm, estimate), one family (Bonferroni) over every row but those in
    ``skip`` ((batch, {norm, norm}): rows decided elsewhere, left out of the family and returned unadjusted)."""
    by_norm: dict[str, dict[int, dict[int, float]]] = {}
    for bs, norms in groups.items():
        for norm, seeds in norms.items():
            if len(seeds) >= 2:
                by_norm.setdefault(norm, {})[bs] = seeds
    rows = []
    for u, v in itertools.combinations(sorted(by_norm), 2):
        for bs, e in paired_by_batch(by_norm[u], by_norm[v], res).items():
            if e.diff < 0:  # the higher norm first
                e.diff, e.low, e.high = -e.diff, -e.high, -e.low
                rows.append((bs, v, u, e))
            else:
                rows.append((bs, u, v, e))
    family([r[3] for r in rows if (r[0], frozenset(r[1:3])) not in skip], alpha)
    return sorted(rows, key=lambda r: (r[0], -r[3].diff))


# ---------------------------------------------------------------------------------------------------
# The significance table's rows
# ---------------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """One row of the significance table: norm ``a`` (the higher mean) minus ``b`` at a batch size."""
    batch_size: int
    a: str
    b: str
    method: str
    n: int               # seeds behind it (pairs, or the smaller group)
    diff: float          # points
    ci_low: float        # the interval, simultaneous at ``level`` over the table
    ci_high: float
    p: float             # Bonferroni-adjusted over the whole table; nan when it cannot be tested
    p_raw: float = math.nan
    level: float = 1 - ALPHA
    sd: float = math.nan   # sd of one seed's difference
    df: float = math.nan
    decided_in: str = ""   # "claim 4": the row is that claim's part, decided there at the claim's level
    decided: bool | None = None   # for such a row: whether the claim's test showed a difference

    @property
    def shown(self) -> bool | None:
        if self.decided_in:
            return self.decided
        return None if not np.isfinite(self.p) else bool(self.p < ALPHA)


def compare_norms(groups: dict[int, dict[str, dict[int, float]]], res: float = 0.0,
                  decided: dict[tuple[int, frozenset], Comparison] | None = None) -> list[Comparison]:
    """``groups``: batch size -> norm -> seed -> test accuracy (completed runs only). Every pair of norms
    with 2+ runs each at every batch size, decided over the table at ``ALPHA`` (Bonferroni), except the rows
    ``decided`` elsewhere (a claim's parts), which are taken as they were decided there."""
    decided = decided or {}
    rows = pairs_table(groups, res, skip=set(decided))
    m = sum(e.testable for bs, a, b, e in rows if (bs, frozenset((a, b))) not in decided)
    out = []
    for bs, a, b, e in rows:
        key = (bs, frozenset((a, b)))
        out.append(decided[key] if key in decided else
                   Comparison(bs, a, b, f"{e.method}; Bonferroni over the table's {m} rows", e.n, e.diff, e.low, e.high,
                              e.p_adj, e.p, e.level, e.sd, e.df))
    return out
