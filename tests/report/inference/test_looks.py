"""The two-stage design against references: O'Brien–Fleming's published boundaries, the level of the two looks
under the null (simulated), intervals that agree with the tests they invert, and the second stage's size from
conditional power."""
import math

import numpy as np
import pytest
from scipy import stats

from alexlib.report.inference import looks as DZ


def test_the_boundaries_are_obrien_flemings_for_two_looks():
    c1, c2 = DZ.boundaries(0.025)
    assert (c1, c2) == (pytest.approx(2.797, abs=2e-3), pytest.approx(1.977, abs=2e-3))   # Jennison & Turnbull
    assert DZ.first_look_alpha(0.025) == pytest.approx(0.0026, abs=1e-4)
    assert DZ.boundaries(0.005)[0] > c1   # a smaller share of alpha: stricter at both looks


@pytest.mark.parametrize("alpha", [0.025, 0.0042])
def test_two_looks_keep_the_level_under_the_null(alpha):
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((2, 400_000))
    c1, c2 = DZ.boundaries(alpha)
    w1, w2 = DZ.WEIGHTS
    rejected = (z1 > c1) | (w1 * z1 + w2 * z2 > c2)
    se = math.sqrt(alpha * (1 - alpha) / len(z1))
    assert abs(rejected.mean() - alpha) < 4 * se
    naive = (z1 > stats.norm.isf(alpha)) | (w1 * z1 + w2 * z2 > stats.norm.isf(alpha))   # two looks, no price
    assert naive.mean() > alpha + 10 * se


def test_the_first_looks_interval_is_the_set_its_test_does_not_reject():
    rng = np.random.default_rng(1)
    for _ in range(50):
        t = DZ.StageTest(rng.normal(0, 5), rng.uniform(0.2, 3), float(rng.integers(2, 12)), 3, 1.0, "t")
        iv = DZ.first_look_interval(t, 0.01)
        pc = DZ.p_of(DZ.boundaries(0.01)[0])
        assert t.p_above(iv.low) == pytest.approx(pc, rel=1e-6) and t.p_below(iv.high) == pytest.approx(pc, rel=1e-6)
        assert t.p_above(iv.low - 0.01) < pc < t.p_above(iv.low + 0.01)


def test_the_combined_interval_inverts_the_combination_test():
    t1 = DZ.StageTest(2.0, 1.0, 8, 3, 1.5, "t")
    t2 = DZ.StageTest(3.0, 0.8, 10, 4, 1.5, "t")
    iv = DZ.combined_interval(t1, t2, 0.025)
    c2 = DZ.boundaries(0.025)[1]
    assert DZ.combined_z(t1, t2, iv.low, above=True) == pytest.approx(c2, abs=1e-4)
    assert DZ.combined_z(t1, t2, iv.high, above=False) == pytest.approx(c2, abs=1e-4)
    assert iv.low < iv.estimate < iv.high and 2.0 < iv.estimate < 3.0


def test_no_spread_leaves_only_the_exact_sign_flip_bound():
    t = DZ.StageTest(1.5, 0.0, math.nan, 3, 0.0, "no spread", units=(1.5,) * 3)
    assert t.p_above(0.0) == pytest.approx(0.125) and t.p_above(2.0) == 1.0
    iv = DZ.first_look_interval(t, 0.025)
    assert iv.unbounded and (iv.low, iv.high) == (-100.0, 100.0)   # 3 units never reach the boundary: only the bounds


def test_the_second_stage_needs_fewer_seeds_the_more_the_first_showed_and_the_larger_the_size():
    t1 = DZ.StageTest(1.0, 0.8, 8, 3, 1.4, "t")
    few = DZ.seeds_for_second_stage(t1, 2.0, z1=2.0, alpha=0.0125)
    many = DZ.seeds_for_second_stage(t1, 2.0, z1=0.0, alpha=0.0125)
    bigger = DZ.seeds_for_second_stage(t1, 5.0, z1=0.0, alpha=0.0125)
    assert few < many and bigger < many
    # the plan keeps its promise: with the truth 2 points beyond the boundary and the spread at the bound it was
    # planned with (the observed sd raised to its upper 70 % bound), the combination clears c2 in about 80 % of
    # second stages of that size; at the observed sd itself, more often
    rng = np.random.default_rng(2)
    n, c2 = many, DZ.boundaries(0.0125)[1]
    sd = DZ.hedged_sd(1.4, 8)
    assert 1.4 < sd < 1.4 * 1.5
    hits = 0
    for _ in range(2000):
        x = rng.normal(2.0, sd, n)
        t2 = DZ.StageTest(x.mean(), x.std(ddof=1) / math.sqrt(n), n - 1, n, x.std(ddof=1), "t")
        hits += DZ.combined_z(DZ.StageTest(0.0, 0.8, 8, 3, 1.4, "t"), t2, 0.0) > c2
    assert hits / 2000 == pytest.approx(0.8, abs=0.06)
