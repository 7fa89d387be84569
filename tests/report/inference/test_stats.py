"""The tests behind every verdict, checked on simulated studies whose truth is set: error rates with no
effect, power with a plain one, no p below what n seeds allow, intervals that agree with decisions."""
import math

import numpy as np
import pytest

from alexlib.report.inference import stats as ST

NORMS4 = ["none", "bn", "ln", "gn"]
RES = 100 / 2000   # a 2,000-image test split: one image is 0.05 points


def simulate(rng, effect: dict[str, float], seeds=3, sizes=(8, 64), seed_sd=2.0, noise_sd=1.0, shared=True,
             norms=NORMS4):
    """batch -> norm -> seed -> accuracy: a per-seed effect shared by every norm (as a seed fixes init,
    order and dropout for all of them), the norm's effect, and noise, rounded to the test set's resolution."""
    out = {}
    for bs in sizes:
        seed_effect = rng.normal(0, seed_sd, seeds)
        out[bs] = {n: {(s if shared else 10 * i + s): float(ST.rounded(
            70 + effect.get(n, 0.0) + seed_effect[s] + rng.normal(0, noise_sd), RES))
            for s in range(seeds)} for i, n in enumerate(norms)}
    return out


def by_norm(data, norm):
    return {bs: norms[norm] for bs, norms in data.items() if norm in norms}


# --------------------------------------------------------------------------------------------------
# the significance table
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shared", [True, False])
def test_identical_norms_are_called_different_at_about_the_nominal_rate(shared, simulated):
    rng = np.random.default_rng(1)
    studies = 400
    any_call = sum(any(c.shown for c in ST.compare_norms(simulate(rng, {}, sizes=(8, 16, 32, 64), shared=shared), RES))
                   for _ in range(studies))
    # family-wise error at alpha 0.05 over 24 comparisons (Holm over the whole table)
    assert any_call / studies < 0.08


def test_each_pair_is_called_different_at_about_alpha_alone():
    """One pair (e.g. LRN vs none) tested alone with pooled variance: false positives at about alpha."""
    rng = np.random.default_rng(5)
    calls, tests = 0, 0
    for _ in range(500):
        data = simulate(rng, {}, sizes=(8, 16, 32, 64), norms=["none", "lrn"])
        for e in ST.paired_by_batch(by_norm(data, "lrn"), by_norm(data, "none"), RES).values():
            calls += e.p < 0.05
            tests += 1
    assert 0.025 < calls / tests < 0.075


def test_norms_far_apart_are_called_different():
    rng = np.random.default_rng(2)
    comps = ST.compare_norms(simulate(rng, {"bn": 15.0, "ln": 15.0, "gn": 30.0}), RES)
    shown = {(c.batch_size, c.a, c.b): c.shown for c in comps}
    assert shown[(8, "gn", "none")] and shown[(64, "bn", "none")] and shown[(8, "gn", "bn")]
    assert shown[(8, "bn", "ln")] is False or shown[(8, "ln", "bn")] is False
    c = next(c for c in comps if (c.batch_size, c.a, c.b) == (8, "gn", "none"))
    assert c.ci_low < 30.0 < c.ci_high and c.ci_low > 0


def test_each_batch_size_is_tested_on_its_own_seeds_and_holds_alpha_where_it_is_noisier(simulated):
    """No variance is borrowed across batch sizes: one batch size three times as noisy as the others, no true
    difference, 3 seeds: its own paired test rejects at about alpha (pooling over batch sizes, the old rule,
    would reject there far more often)."""
    noisy = 0
    trials = 2000
    for _ in range(trials):
        a = {bs: {s: 80.0 + simulated.normal(0, 6.0 if bs == 4 else 2.0) for s in range(3)} for bs in (4, 8, 16, 32)}
        b = {bs: {s: 80.0 + simulated.normal(0, 6.0 if bs == 4 else 2.0) for s in range(3)} for bs in (4, 8, 16, 32)}
        e = ST.paired_by_batch(a, b)[4]
        assert e.df == 2 and e.method == "paired t (3 seeds)"
        noisy += e.p < 0.05
    assert noisy / trials < 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)


def test_pairing_by_seed_is_used_when_seeds_are_shared():
    rng = np.random.default_rng(3)
    # a large seed effect hides a small consistent difference from an unpaired test, not from a paired one
    data = simulate(rng, {"bn": 2.0}, seeds=5, sizes=(8,), seed_sd=10.0, noise_sd=0.2)
    comps = {(c.a, c.b): c for c in ST.compare_norms(data, RES)}
    assert comps[("bn", "none")].method.startswith("paired t (5 seeds)")
    assert comps[("bn", "none")].shown
    unpaired = {n: {10 * i + s: v for s, v in seeds.items()} for i, (n, seeds) in enumerate(data[8].items())}
    uc = {(c.a, c.b): c for c in ST.compare_norms({8: unpaired}, RES)}
    assert uc[("bn", "none")].method.startswith("Welch t") and not uc[("bn", "none")].shown


def test_a_pair_without_shared_seeds_falls_back_alone():
    """LRN ran other seeds at batch 64: only its own pairs go unpaired; LN - BN keeps its paired interval."""
    rng = np.random.default_rng(8)
    data = simulate(rng, {"bn": 10, "ln": 10, "gn": 10}, norms=NORMS4 + ["lrn"], sizes=(64,), seeds=3)
    before = {(c.a, c.b): c for c in ST.compare_norms({64: {n: v for n, v in data[64].items() if n != "lrn"}}, RES)}
    data[64]["lrn"] = {10 + s: v - 40 + rng.normal(0, 15) for s, v in data[64]["lrn"].items()}
    after = {(c.a, c.b): c for c in ST.compare_norms(data, RES)}
    ln_bn = next(k for k in after if set(k) == {"ln", "bn"})
    assert after[ln_bn].method.startswith("paired t") and after[ln_bn].diff == before[ln_bn].diff
    assert all(c.method.startswith("Welch") for k, c in after.items() if "lrn" in k)


def test_intervals_are_drawn_at_the_level_of_each_decision():
    rng = np.random.default_rng(9)
    for effect in ({}, {"bn": 3.0}, {"bn": 6.0, "gn": 3.0}):
        for _ in range(30):
            for c in ST.compare_norms(simulate(rng, effect, sizes=(8, 16, 32, 64)), RES):
                if math.isnan(c.ci_low):
                    continue
                assert (c.ci_low > 0) == bool(c.shown), c   # the higher norm first: diff > 0


def test_every_seed_the_same_difference_gives_no_p_below_what_n_seeds_allow():
    for n in (2, 3, 4, 5):
        a = {8: {s: 80.0 for s in range(n)}}
        b = {8: {s: 70.0 for s in range(n)}}
        e = ST.paired_by_batch(a, b, RES)[8]
        assert e.p >= 2.0 ** (1 - n) - 1e-12 and e.method.startswith("exact sign flip")
        assert ST.welch([80.0] * n, [70.0] * n, RES).p >= 2 / math.comb(2 * n, n) - 1e-12
    # float noise is not a spread: values equal to the test set's resolution are equal
    e = ST.paired_by_batch({8: {0: 80.05, 1: 80.05 + 1e-12, 2: 80.05}}, {8: {0: 70.0, 1: 70.0, 2: 70.0}}, RES)[8]
    assert e.p == 0.25


def test_a_family_shares_one_level_by_bonferroni():
    es = [ST.Estimate(d, 1.0, 10, ST.t_p(d, 1.0, 10), 3, 1.0, "t") for d in (3.5, 1.0, 2.9)] + [ST.untestable()]
    ST.family(es)
    assert [e.family for e in es[:3]] == [3, 3, 3] and {e.level for e in es[:3]} == {0.95}
    assert np.allclose([e.p_adj for e in es[:3]], [min(1, 3 * e.p) for e in es[:3]])
    for e in es[:3]:   # each interval at 1 - 0.05 / 3; it excludes 0 exactly when its row is shown
        assert e.each_level == pytest.approx(1 - 0.05 / 3)
        assert (e.low > 0) == e.shown()


# --------------------------------------------------------------------------------------------------
# aggregates, contrasts (equivalence: tests/report/inference/test_verdicts.py, where the claims use it)
# --------------------------------------------------------------------------------------------------
def test_the_blocked_mean_holds_alpha_and_shows_a_plain_effect():
    rng = np.random.default_rng(11)
    null = plain = 0
    for _ in range(300):
        data = simulate(rng, {}, sizes=(8, 16, 32, 64), seed_sd=0.0, noise_sd=2.0, norms=["none", "bn"])
        null += ST.blocked_mean(by_norm(data, "bn"), by_norm(data, "none"), RES).p < 0.05
        data = simulate(rng, {"bn": 5.0}, sizes=(8, 16, 32, 64), seed_sd=0.0, noise_sd=2.0, norms=["none", "bn"])
        plain += ST.blocked_mean(by_norm(data, "bn"), by_norm(data, "none"), RES).p < 0.05
    assert null / 300 < 0.075 and plain / 300 > 0.95


def test_sign_flip_and_permutation_are_exact():
    assert ST.sign_flip_p([1.0, 2.0, 3.0]) == 0.25
    assert ST.sign_flip_p([0.0, 0.0]) == 1.0
    assert ST.sign_flip_p([1.0, -1.0, 1.0, 1.0]) == pytest.approx(10 / 16)
    assert ST.permutation_p([1.0, 1.0, 1.0], [0.0, 0.0, 0.0]) == pytest.approx(0.1)


def test_a_contrast_is_welch_on_its_two_cells_and_plans_with_the_spread_of_all():
    cells = {8: [70.0, 72.0, 71.0], 16: [75.0, 79.0, 77.0], 32: [76.0, 78.0, 77.0], 64: [80.0, 82.0, 81.0]}
    e = ST.contrast(cells, 64, 8, RES)
    assert e.diff == pytest.approx(10.0) and e.df == pytest.approx(4.0) and e.method == "Welch t"
    assert e.p < 0.001
    assert e.sd == pytest.approx(ST.planning_sd([np.array(v) for v in cells.values()]))   # for planning only


def test_an_interval_never_reaches_past_what_accuracy_allows():
    e = ST.Estimate(60.0, 30.0, 2, ST.t_p(60.0, 30.0, 2), 3, 40.0, "t")
    assert e.high == 100.0 and ST.unbounded(e.low, e.high)   # a t interval would reach 60 + 4.3 x 30


# --------------------------------------------------------------------------------------------------
# against a reference
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_welch_is_scipys_welch_test(seed):
    from scipy import stats
    rng = np.random.default_rng(seed)
    a, b = rng.normal(80, 1.5, 3 + seed), rng.normal(79, 3.0, 4)
    e = ST.welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert e.diff == pytest.approx(a.mean() - b.mean())
    assert e.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert e.df == pytest.approx(ref.df, rel=1e-9)
    lo, hi = ref.confidence_interval(0.95)
    assert (e.low, e.high) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
