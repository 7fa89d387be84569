"""The report's claims judged part by part on simulated studies whose truth is set: with no effect no claim is
called reproduced beyond α; a plain effect is; a true 40-point collapse is never "ruled out" at its 10-point
size, while no collapse rules it out about as often as the power computed for it; stability is shown, or
ruled out, as the truth has it; diverged seeds never count as support; open parts say what would decide them."""
import math

import numpy as np
import pytest
from scipy import stats

from alexlib.report.domain import claims as CL
from alexlib.report.inference import looks as DZ
from alexlib.report.inference import stats as ST
from alexlib.report.inference import verdicts as V

SIZES = (8, 16, 32, 64)
RES = 100 / 2000


def evidence(rng, means: dict[str, float], sd=2.0, seeds=3, sizes=SIZES, first=None, sweep=None, seed0=0, **kw):
    """Each (norm, batch) cell: the norm's mean (a float, or a dict per batch size) plus N(0, sd) per seed."""
    def cells(table):
        return {norm: {bs: {s: float(ST.rounded((m[bs] if isinstance(m, dict) else m) + rng.normal(0, sd), RES))
                            for s in range(seed0, seed0 + seeds)} for bs in sizes} for norm, m in table.items()}
    sweep_cells = {lr: {s: float(m + rng.normal(0, sd)) for s in range(seed0, seed0 + seeds)}
                   for lr, m in (sweep or {}).items()}
    return CL.Evidence(final=cells(means), first=cells(first or means), sweep=sweep_cells, res=RES, **kw)


def verdict(ev, cid, ev2=None, looks=None):
    """Claim ``cid`` on one stage (one look declared, unless ``looks`` says otherwise) or two (two looks)."""
    return CL.judge_claims(ev, ev2, ids=(cid,), looks=looks or (2 if ev2 is not None else 1))[0]


NULL = {"none": 80.0, "bn": 80.0, "ln": 80.0, "gn": 80.0}
FLAT_SWEEP = {0.001: 80.0, 0.005: 80.0, 0.01: 80.0}


def test_with_no_effect_no_claim_is_called_reproduced_beyond_alpha(simulated):
    rng = np.random.default_rng(0)
    studies = 1000
    reproduced = {c.id: 0 for c in CL.CLAIMS}   # the paper's too: none is testable without batch 2 and 4
    for _ in range(studies):
        for c in CL.judge_claims(evidence(rng, NULL, sweep=FLAT_SWEEP)):
            reproduced[c.id] += c.verdict == V.REPRODUCED
    mc = 3 * math.sqrt(0.05 * 0.95 / studies)
    assert all(n / studies <= 0.05 + mc for n in reproduced.values()), reproduced


def test_a_ten_point_effect_at_sd_2_and_3_seeds_reproduces_claim_1_at_the_first_look():
    rng = np.random.default_rng(1)
    studies = 100
    hits = sum(verdict(evidence(rng, {"none": 70.0, "bn": 80.0, "ln": 80.0, "gn": 80.0}), "1").verdict == V.REPRODUCED
               for _ in range(studies))
    assert hits / studies >= 0.9


def test_a_claim_contradicted_by_the_runs_is_not_reproduced():
    rng = np.random.default_rng(2)
    c = verdict(evidence(rng, {"none": 90.0, "bn": 70.0, "ln": 70.0, "gn": 70.0}, sd=1.0), "1")
    assert c.verdict == V.NOT_REPRODUCED and {p.outcome for p in c.parts} == {V.AGAINST}


def test_a_true_collapse_is_never_ruled_out_and_no_collapse_rules_it_out_at_the_power_computed():
    """Claim 2 (much worse: 10 points). A true 40-point collapse: never 'size ruled out' (and mostly shown). No
    collapse at all: 'size ruled out' for batch 8 − batch 64 about as often as the power of that one-sided test
    at the part's level (its only look, at its full share of α; Welch on the two cells' own 3 seeds each, df at
    most 4)."""
    rng = np.random.default_rng(3)
    studies, sd = 400, 2.5
    collapse = {"none": {8: 40.0, 16: 80.0, 32: 80.0, 64: 80.0}, "bn": 80.0, "ln": 80.0, "gn": 80.0}
    parts = [p for _ in range(studies) for p in verdict(evidence(rng, collapse, sd=sd), "2").parts]
    assert not any(p.outcome == V.RULED_OUT for p in parts)
    assert np.mean([p.outcome == V.SHOWN for p in parts]) > 0.9
    ruled = np.mean([verdict(evidence(rng, NULL, sd=sd), "2").parts[1].outcome == V.RULED_OUT for _ in range(studies)])
    alpha = 0.05 / (2 * 2)                                     # 2 parts, one-sided
    ref = np.random.default_rng(4)   # the same one-sided test by scipy's Welch (the truth 10 points inside it)
    power = np.mean([stats.ttest_ind(ref.normal(90.0, sd, 3), ref.normal(80.0, sd, 3), equal_var=False,
                                     alternative="greater").pvalue < alpha for _ in range(4000)])
    assert ruled == pytest.approx(power, abs=0.08), (ruled, power)
    assert 0.2 < power < 0.95                                  # the check can tell a wrong rate


def test_stable_means_every_pair_within_the_margin_shown_or_ruled_out_as_the_truth_is():
    rng = np.random.default_rng(5)
    steady = evidence(rng, {"none": 70.0, "bn": {8: 86.0, 16: 86.5, 32: 87.0, 64: 88.0}, "ln": 80.0, "gn": 80.0},
                      sd=0.3, seeds=6)
    c3 = verdict(steady, "3")
    assert c3.verdict == V.REPRODUCED, [(p.what, p.outcome) for p in c3.parts]
    wild = evidence(rng, {"none": 70.0, "bn": {8: 60.0, 16: 80.0, 32: 85.0, 64: 88.0}, "ln": 80.0, "gn": 80.0}, sd=0.5)
    c = verdict(wild, "3")
    assert c.verdict == V.NOT_REPRODUCED
    assert [p.outcome for p in c.parts if p.what == "BN: batch 64 − batch 8"][0] == V.RULED_OUT


def test_a_batch_size_whose_seeds_all_diverged_never_counts_as_support():
    rng = np.random.default_rng(6)
    ev = evidence(rng, {"none": 70.0, "bn": {8: 86.0, 16: 86.5, 32: 87.0, 64: 88.0}, "ln": 80.0, "gn": 80.0},
                  sd=0.3, seeds=6)
    del ev.final["bn"][8]
    lost = CL.Evidence(final=ev.final, first=ev.first, diverged={"bn": {8: [0, 1, 2, 3, 4, 5]}}, res=RES)
    c = verdict(lost, "3")
    assert c.verdict != V.REPRODUCED
    assert "not reproduced" in c.sensitivity   # at chance, batch 8 is 76 points below


def test_open_parts_say_how_many_seeds_would_decide_them():
    rng = np.random.default_rng(4)
    c = verdict(evidence(rng, NULL, sd=2.0), "4")
    assert c.verdict == V.CLAIM_OPEN or c.verdict == V.NOT_REPRODUCED
    open_ = [p for p in c.parts if p.outcome == V.OPEN]
    assert open_ and all(p.distance() == 2.0 and (p.seeds_needed() or 10**6) >= 2 for p in open_)


def test_each_part_reports_its_interval_level_and_the_p_its_decision_used():
    rng = np.random.default_rng(7)
    c = verdict(evidence(rng, {"none": 70.0, "bn": 85.0, "ln": 85.0, "gn": 85.0}, sd=1.0), "1")
    for p in c.parts:
        d = p.as_dict()
        assert d["outcome"] == V.SHOWN and d["stage"] == 1 and d["p"] < d["p_needed"]
        assert d["alpha_one_sided"] == pytest.approx(0.05 / (2 * 6))
        assert d["level"] == 0.95 and d["looks"] == 1 and d["ci_low"] > 0   # one level printed: 95 % over the claim
        assert d["level_each"] == pytest.approx(1 - 2 * d["p_needed"]) == pytest.approx(1 - 0.05 / 6)


def test_seeds_lost_in_the_second_stage_block_support_and_say_so():
    rng = np.random.default_rng(8)
    ev1 = evidence(rng, {"none": 70.0, "bn": 80.0, "ln": 80.0, "gn": 80.0}, sd=2.0)
    ev2 = evidence(rng, {"none": 70.0, "bn": 80.0, "ln": 80.0, "gn": 80.0}, sd=2.0, seed0=3)
    lost = CL.Evidence(final=ev2.final, first=ev2.first, diverged={"bn": {8: [3]}}, res=RES)
    c = verdict(ev1, "1", lost)
    bn = [p for p in c.parts if p.what.startswith("BN")]
    assert all(p.blocked and p.outcome != V.SHOWN for p in bn) and c.sensitivity


def test_a_norm_whose_seeds_all_diverged_at_one_batch_size_cannot_support_claim_1():
    rng = np.random.default_rng(9)
    ev = evidence(rng, {"none": 70.0, "bn": 85.0, "ln": 85.0, "gn": 85.0}, sd=1.0)
    del ev.final["bn"][8]
    lost = CL.Evidence(final=ev.final, first=ev.first, diverged={"bn": {8: [0, 1, 2]}}, res=RES)
    c = verdict(lost, "1")
    assert all(p.blocked for p in c.parts if p.what.startswith("BN")) and c.verdict != V.REPRODUCED


def test_a_stage_without_spread_keeps_the_combined_interval_finite():
    t1 = DZ.StageTest(2.0, 0.0, math.nan, 3, 0.0, "no spread", units=(2.0,) * 3)
    t2 = DZ.StageTest(1.5, 0.5, 8, 3, 1.0, "t")
    iv = DZ.combined_interval(t1, t2, 0.025 / 6)
    assert -100 < iv.low < iv.estimate < iv.high < 100


def test_a_part_open_after_its_second_look_asks_for_a_new_study_not_for_more_seeds():
    from alexlib.report.render.tables import plan_table
    rng = np.random.default_rng(10)
    ev1, ev2 = evidence(rng, NULL, sd=2.0), evidence(rng, NULL, sd=2.0, seed0=3)
    first, final = verdict(ev1, "4"), verdict(ev1, "4", ev2)
    assert any(p.outcome == V.OPEN for p in final.parts)
    before = plan_table([first]).loc["4", "seeds per cell (each part)"]
    after = plan_table([final]).loc["4", "seeds per cell (each part)"]
    assert "second look" not in before and any(ch.isdigit() for ch in before)
    assert "after their second look (or on a cell a stage grew): a new study" in after and "more than 1,000" not in after


def test_a_37_point_fall_gets_one_verdict_under_one_margin():
    """The Group Normalization paper's own BN step (3.7 points from batch 32 to 4), measured tightly: one margin
    per kind of quantity, so "stable" (within it) and "falls" (beyond it) cannot both be shown of it."""
    t = DZ.StageTest(-3.7, 0.2, 20, 21, 0.9, "t")
    falls = V.Part("falls", "BN: batch 4 − batch 64", t, -1, CL.BN_FALL, quantity="q", looks=1).judge(0.0125)
    stable = V.Part("stable", "BN: batch 4 − batch 64", t, 0, CL.STABLE_POINTS, quantity="q", looks=1).judge(0.0125)
    assert CL.BN_FALL == CL.STABLE_POINTS == CL.BATCH_MARGIN and CL.MUCH_WORSE >= CL.BATCH_MARGIN
    assert stable.outcome == V.SHOWN and falls.outcome == V.RULED_OUT
    assert (stable.interval.low, stable.interval.high) == (falls.interval.low, falls.interval.high)


def test_a_part_declared_with_one_look_spends_its_whole_share_and_plans_no_seeds():
    t = DZ.StageTest(-7.0, 2.0, 4, 3, 2.4, "Welch t")
    one = V.Part("a", "BN: batch 4 − batch 64", t, -1, 0.0, quantity="q", looks=1).judge(0.0125)
    two = V.Part("a", "BN: batch 4 − batch 64", t, -1, 0.0, quantity="q", looks=2).judge(0.0125)
    assert one.needed == pytest.approx(0.0125) and two.needed < one.needed / 4   # O'Brien-Fleming's first look
    assert one.outcome == V.SHOWN and one.seeds_needed() is None
    assert two.interval.high > one.interval.high


def test_both_looks_keep_their_error_rate_and_a_single_look_its_own(simulated):
    """No effect, 3 seeds a cell: one look at the part's share, and two looks (a second stage of 6 seeds whatever
    the first showed), each call the difference shown at most at that share."""
    share, trials = 0.025, 4000
    hits = {1: 0, 2: 0}
    for _ in range(trials):
        a, b = simulated.normal(80, 2, 3), simulated.normal(80, 2, 3)
        t1 = ST.welch(a, b)
        s1 = DZ.StageTest(t1.diff, t1.se, t1.df, 3, t1.sd, "Welch t", paired=False)
        hits[1] += V.Part("k", "d", s1, +1, 0.0, quantity="q", looks=1).judge(share).outcome == V.SHOWN
        c, d = simulated.normal(80, 2, 6), simulated.normal(80, 2, 6)
        t2 = ST.welch(c, d)
        s2 = DZ.StageTest(t2.diff, t2.se, t2.df, 6, t2.sd, "Welch t", paired=False)
        hits[2] += V.Part("k", "d", s1, +1, 0.0, quantity="q", looks=2, stage2=s2).judge(share).outcome == V.SHOWN
    mc = 3 * math.sqrt(share * (1 - share) / trials)
    assert hits[1] / trials <= share + mc and hits[2] / trials <= share + mc, hits


def test_a_testable_part_names_its_quantity():
    """A part is decided once, as a quantity of the report: one without a name for it cannot be built."""
    with pytest.raises(ValueError, match="quantity"):
        V.Part("k", "d", DZ.StageTest(1.0, 0.5, 4, 3, 1.0, "t"))
    assert V.Part("k", "needs its cells", None).outcome == V.UNTESTABLE   # a placeholder for missing cells
