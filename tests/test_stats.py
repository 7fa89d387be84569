"""The comparisons of norms: error rates checked on simulated studies whose truth is set; Welch's test
at its edges."""
import math

import numpy as np
import pytest

from alexlib import stats as ST

NORMS4 = ["none", "bn", "ln", "gn"]


def simulate(rng, effect: dict[str, float], seeds=3, sizes=(8, 64), seed_sd=2.0, noise_sd=1.0, shared=True):
    """batch -> norm -> seed -> accuracy: a per-seed effect shared by every norm (as a seed fixes init,
    order and dropout for all of them), the norm's effect, and noise."""
    out = {}
    for bs in sizes:
        seed_effect = rng.normal(0, seed_sd, seeds)
        out[bs] = {n: {(s if shared else 10 * i + s): 70 + effect.get(n, 0.0) + seed_effect[s] + rng.normal(0, noise_sd)
                       for s in range(seeds)} for i, n in enumerate(NORMS4)}
    return out


@pytest.mark.parametrize("shared", [True, False])
def test_identical_norms_are_called_different_at_about_the_nominal_rate(shared):
    rng = np.random.default_rng(1)
    studies = 400 if shared else 150  # Tukey's studentized-range integrals take ~0.2 s a batch size
    any_call = sum(any(c.shown for c in ST.compare_norms(simulate(rng, {}, shared=shared))) for _ in range(studies))
    # family-wise error at alpha 0.05 over 12 comparisons; the old uncorrected best-vs-runner-up
    # procedure, with its ANOVA, called far more often
    assert any_call / studies < 0.09


def test_a_table_mixing_paired_and_tukey_batch_sizes_holds_alpha_as_a_whole():
    rng = np.random.default_rng(4)
    studies, calls = 100, 0
    for _ in range(studies):
        paired = simulate(rng, {}, sizes=(8,))
        unpaired = simulate(rng, {}, sizes=(64,), shared=False)
        comps = ST.compare_norms({**paired, **unpaired})
        assert {c.method.split(",")[0].split(" (")[0] for c in comps} == {"paired t", "Tukey HSD"}
        assert all(c.method.endswith("Bonferroni over 2 batch sizes") for c in comps)
        calls += any(c.shown for c in comps)
    assert calls / studies < 0.09


def test_norms_far_apart_are_called_different():
    rng = np.random.default_rng(2)
    comps = ST.compare_norms(simulate(rng, {"bn": 15.0, "ln": 15.0, "gn": 30.0}))
    shown = {(c.batch_size, c.a, c.b): c.shown for c in comps}
    assert shown[(8, "gn", "none")] and shown[(64, "bn", "none")] and shown[(8, "gn", "bn")]
    assert shown[(8, "bn", "ln")] is False or shown[(8, "ln", "bn")] is False
    c = next(c for c in comps if (c.batch_size, c.a, c.b) == (8, "gn", "none"))
    assert c.ci_low < 30.0 < c.ci_high and c.ci_low > 0


def test_pairing_by_seed_is_used_when_seeds_are_shared():
    rng = np.random.default_rng(3)
    # a large seed effect hides a small consistent difference from an unpaired test, not from a paired one
    data = simulate(rng, {"bn": 2.0}, seeds=5, sizes=(8,), seed_sd=10.0, noise_sd=0.2)
    comps = {(c.a, c.b): c for c in ST.compare_norms(data)}
    assert comps[("bn", "none")].method.startswith("paired t (5 seeds)")
    assert comps[("bn", "none")].shown
    unpaired = {n: {10 * i + s: v for s, v in seeds.items()} for i, (n, seeds) in enumerate(data[8].items())}
    uc = {(c.a, c.b): c for c in ST.compare_norms({8: unpaired})}
    assert uc[("bn", "none")].method == "Tukey HSD" and not uc[("bn", "none")].shown


def test_holm_adjustment():
    r = ST.holm([0.01, 0.04, math.nan, 0.03])
    assert math.isnan(r[2]) and np.allclose([r[0], r[1], r[3]], [0.03, 0.06, 0.06])


def test_welch_handles_groups_without_spread():
    assert ST.welch([10.0, 10.0], [10.0, 10.0])[3] == 1.0
    assert ST.welch([10.0, 10.0], [12.0, 12.0])[3] == 0.0
    assert math.isnan(ST.welch([10.0], [12.0, 13.0])[3])
    d, lo, hi, p = ST.welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert d == -3.0 and lo < -3.0 < hi and 0 < p < 0.05
