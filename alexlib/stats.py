"""Which differences between norms are larger than seed-to-seed noise: every pair of norms at every
batch size, with the family-wise error held at alpha across all of them, and each difference given
with its 95 % confidence interval.

Within a batch size:
- seeds shared by both norms of every pair (the grid runs every norm with the same seeds, and a seed
  fixes the initialization draw, the data order and dropout for all of them alike): paired t-tests on
  the per-seed differences, Holm-adjusted over the pairs; the 95 % interval of each is its own;
- otherwise: Tukey's HSD across the norms (it accounts for picking pairs among all), with its
  simultaneous 95 % intervals.
Across batch sizes: Bonferroni, every p multiplied by the number of batch sizes tested, so the whole
table holds alpha whichever method each batch size needed.

``welch`` is the two-sample test of the batch-size effects and the report's claims, where the groups
compared are different runs, not the same seeds.
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .vocab import ALPHA


@dataclass
class Comparison:
    batch_size: int
    a: str                 # the norm with the higher mean
    b: str
    method: str            # "paired t (n seeds), Holm" or "Tukey HSD, Bonferroni over k batch sizes"
    n: int                 # seeds behind the comparison (pairs, or the smaller group)
    diff: float            # mean accuracy of a minus b, points
    ci_low: float
    ci_high: float
    p: float               # adjusted for the whole family; nan when it cannot be tested

    @property
    def shown(self) -> bool | None:
        return None if math.isnan(self.p) else bool(self.p < ALPHA)


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjustment (nan entries stay nan and do not count)."""
    idx = [i for i, v in enumerate(p) if not math.isnan(v)]
    m = len(idx)
    out = [math.nan] * len(p)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _paired(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Mean of x - y, its 95 % CI and the two-sided paired t-test p (nan when the differences do not vary)."""
    d = x - y
    n = len(d)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return mean, mean, mean, (1.0 if mean == 0.0 else math.nan)
    half = stats.t.ppf(1 - ALPHA / 2, n - 1) * sd / math.sqrt(n)
    p = float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return mean, mean - half, mean + half, p


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


def compare_norms(groups: dict[int, dict[str, dict[int, float]]]) -> list[Comparison]:
    """``groups``: batch size -> norm -> seed -> test accuracy (completed runs only). Every pair of norms
    with at least two runs each, at every batch size; decisions at family-wise ``ALPHA``."""
    tested = {bs: sorted(n for n, seeds in by_norm.items() if len(seeds) >= 2) for bs, by_norm in groups.items()}
    tested = {bs: norms for bs, norms in sorted(tested.items()) if len(norms) >= 2}
    k = len(tested)
    out: list[Comparison] = []
    for bs, norms in tested.items():
        by_norm = groups[bs]
        pairs = list(itertools.combinations(norms, 2))
        shared = {pair: sorted(set(by_norm[pair[0]]) & set(by_norm[pair[1]])) for pair in pairs}
        found = (_paired_batch(bs, by_norm, shared) if all(len(s) >= 2 for s in shared.values())
                 else _tukey_batch(bs, by_norm, norms))
        for c in found:  # Bonferroni over the batch sizes
            c.p = min(1.0, c.p * k) if not math.isnan(c.p) else math.nan
            if k > 1:
                c.method += f", Bonferroni over {k} batch sizes"
        out += found
    return sorted(out, key=lambda c: (c.batch_size, -c.diff))


def _paired_batch(bs: int, by_norm: dict[str, dict[int, float]],
                  shared: dict[tuple[str, str], list[int]]) -> list[Comparison]:
    found = []
    for (u, v), s in shared.items():
        x = np.array([by_norm[u][k] for k in s])
        y = np.array([by_norm[v][k] for k in s])
        a, b, x, y = (u, v, x, y) if x.mean() >= y.mean() else (v, u, y, x)
        diff, lo, hi, p = _paired(x, y)
        found.append(Comparison(bs, a, b, f"paired t ({len(s)} seeds), Holm over {len(shared)} pair{'s' if len(shared) > 1 else ''}", len(s),
                                diff, float(lo), float(hi), p))
    for c, p in zip(found, holm([c.p for c in found])):
        c.p = p
    return found


def _tukey_batch(bs: int, by_norm: dict[str, dict[int, float]], norms: list[str]) -> list[Comparison]:
    samples = [np.array(list(by_norm[n].values())) for n in norms]
    with warnings.catch_warnings():  # groups without spread make the test degenerate: nan
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.tukey_hsd(*samples)
        ci = res.confidence_interval(confidence_level=1 - ALPHA)
    found = []
    for i, j in itertools.combinations(range(len(norms)), 2):
        a, b = (i, j) if samples[i].mean() >= samples[j].mean() else (j, i)
        found.append(Comparison(bs, norms[a], norms[b], "Tukey HSD", min(len(samples[a]), len(samples[b])),
                                float(samples[a].mean() - samples[b].mean()), float(ci.low[a, b]),
                                float(ci.high[a, b]), float(res.pvalue[a, b])))
    return found
