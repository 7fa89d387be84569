"""What a number of seeds can show: the smallest difference a two-sided test finds with 80 % power (vocab.POWER) at the
observed spread, and the fewest seeds that would find a given difference (t quantiles, as the tests use)."""
from __future__ import annotations

import math

from scipy import stats

from ...vocab import ALPHA, POWER
from ...vocab import SEED_LIMIT as MAX_SEEDS


def detectable(sd: float, n: int, units_per_seed: int = 1, df: float | None = None, alpha: float = ALPHA,
               power: float = POWER, paired: bool = True) -> float:
    """The smallest difference (points) a two-sided test at ``alpha`` shows with ``power``, given the sd of
    one unit, n seeds and units_per_seed units per seed (batch sizes averaged over). Unpaired: two groups
    of n."""
    if not (sd == sd) or n < 2:
        return math.nan
    units = n * units_per_seed
    df = df if df is not None else units_per_seed * (n - 1) * (1 if paired else 2)
    se = sd * math.sqrt((1 if paired else 2) / units)
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


def seeds_needed(sd: float, delta: float, units_per_seed: int = 1, alpha: float = ALPHA, power: float = POWER,
                 paired: bool = True) -> int | None:
    """The fewest seeds that show a difference of ``delta`` points with ``power`` (None above MAX_SEEDS or
    without a spread to go on)."""
    if not (sd == sd) or delta <= 0:
        return None
    if sd == 0:
        return 2
    if detectable(sd, MAX_SEEDS, units_per_seed, None, alpha, power, paired) > delta:
        return None
    lo, hi = 1, MAX_SEEDS   # detectable() falls as n grows: bisect for the first n that reaches delta
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if detectable(sd, mid, units_per_seed, None, alpha, power, paired) <= delta:
            hi = mid
        else:
            lo = mid
    return hi
