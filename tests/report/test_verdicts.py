"""The report's claims judged on simulated studies whose truth is set: no effect is rarely called supported,
a plain effect is, contradicted claims are not supported before anything else, diverged seeds never count
as support, and undecided verdicts say how many seeds would decide them."""
import numpy as np
import pytest

from alexlib.report import stats as ST
from alexlib.report import verdicts as V

SIZES = (8, 16, 32, 64)
RES = 100 / 2000


def evidence(rng, means: dict[str, float], sd=2.0, seeds=3, sizes=SIZES, first=None, sweep=None, **kw):
    """Each (norm, batch) cell: the norm's mean (a float, or a dict per batch size) plus N(0, sd) per seed."""
    def cells(table):
        out = {}
        for norm, m in table.items():
            out[norm] = {bs: {s: float(ST.rounded((m[bs] if isinstance(m, dict) else m) + rng.normal(0, sd), RES))
                              for s in range(seeds)} for bs in sizes}
        return out
    sweep_cells = {lr: {s: float(m + rng.normal(0, sd)) for s in range(seeds)} for lr, m in (sweep or {}).items()}
    return V.Evidence(final=cells(means), first=cells(first or means), sweep=sweep_cells, res=RES, **kw)


def verdict(ev, cid):
    return next(c for c in V.report_claims(ev) if c.id == cid)


NULL = {"none": 80.0, "bn": 80.0, "ln": 80.0, "gn": 80.0}


def test_with_no_effect_no_claim_is_called_supported_more_than_about_alpha():
    rng = np.random.default_rng(0)
    studies = 150
    supported = {str(i): 0 for i in range(1, 7)}
    for _ in range(studies):
        ev = evidence(rng, NULL, sweep={0.001: 80.0, 0.005: 80.0, 0.01: 80.0})
        for c in V.report_claims(ev):
            supported[c.id] += c.verdict == V.SUPPORTED
    # claims 3 and 5 contain a stability (equivalence) part that no effect satisfies; their other parts
    # (a difference that is not there) keep them from being supported
    assert all(n / studies <= 0.07 for n in supported.values()), supported


def test_a_five_point_effect_at_sd_2_and_3_seeds_makes_claim_1_supported():
    rng = np.random.default_rng(1)
    studies = 120
    hits = sum(verdict(evidence(rng, {"none": 75.0, "bn": 80.0, "ln": 80.0, "gn": 80.0}), "1").verdict == V.SUPPORTED
               for _ in range(studies))
    assert hits / studies >= 0.9


def test_a_claim_contradicted_by_the_runs_is_not_supported():
    rng = np.random.default_rng(2)
    ev = evidence(rng, {"none": 90.0, "bn": 70.0, "ln": 70.0, "gn": 70.0}, sd=1.0)
    assert verdict(ev, "1").verdict == V.NOT_SUPPORTED


def test_not_supported_is_checked_before_not_testable():
    """Claim 4 with batch 16 missing but LN far below BN at batch 64: the part that went against it shows."""
    rng = np.random.default_rng(3)
    ev = evidence(rng, {"none": 70.0, "bn": 90.0, "ln": 70.0, "gn": 80.0}, sd=1.0, sizes=(8, 64))
    assert verdict(ev, "4").verdict == V.NOT_SUPPORTED


def test_undecided_verdicts_say_what_would_decide_them():
    rng = np.random.default_rng(4)
    ev = evidence(rng, {"none": 79.0, "bn": 80.0, "ln": 80.0, "gn": 80.0}, sd=2.0)
    c = verdict(ev, "1")
    assert c.verdict == "inconclusive at 3 seeds per cell"
    assert c.power["detectable"] > 1.0 and c.power["seeds_for_2"] > 3 and c.power["seeds_for_1"] > c.power["seeds_for_2"]
    rows = V.power_rows(V.report_claims(ev))
    assert any(r["claim"] == "1" for r in rows)


def test_stable_means_every_pair_of_batch_sizes_within_the_margin():
    rng = np.random.default_rng(5)
    flat = evidence(rng, {"none": 70.0, "bn": {8: 85.0, 16: 85.0, 32: 85.0, 64: 90.0}, "ln": 80.0, "gn": 80.0}, sd=0.5)
    c3 = verdict(flat, "3")   # BN within 5 points everywhere (84.9 to 90) but 64 - 8 is 5 points: not inside
    assert c3.verdict != V.SUPPORTED
    steady = evidence(rng, {"none": 70.0, "bn": {8: 86.0, 16: 86.5, 32: 87.0, 64: 88.0}, "ln": 80.0, "gn": 80.0},
                      sd=0.3, seeds=5)
    assert verdict(steady, "3").verdict == V.SUPPORTED
    wild = evidence(rng, {"none": 70.0, "bn": {8: 60.0, 16: 80.0, 32: 85.0, 64: 88.0}, "ln": 80.0, "gn": 80.0}, sd=0.5)
    assert verdict(wild, "3").verdict == V.NOT_SUPPORTED


def test_a_batch_size_whose_seeds_all_diverged_never_counts_as_support():
    rng = np.random.default_rng(6)
    ev = evidence(rng, {"none": 70.0, "bn": {8: 86.0, 16: 86.5, 32: 87.0, 64: 88.0}, "ln": 80.0, "gn": 80.0},
                  sd=0.3, seeds=5)
    del ev.final["bn"][8]
    lost = V.Evidence(final=ev.final, first=ev.first, diverged={"bn": {8: [0, 1, 2, 3, 4]}}, res=RES)
    c = verdict(lost, "3")
    assert c.verdict != V.SUPPORTED
    assert "not supported" in c.sensitivity   # at chance, batch 8 is 76 points below


def test_a_batch_effect_that_is_the_step_count_changes_when_steps_are_equal():
    spread = (-0.5, 0.0, 0.5)
    fixed = {"bn": {8: {s: 85.0 + j for s, j in enumerate(spread)}, 64: {s: 85.0 - j for s, j in enumerate(spread)}}}
    steps = {"bn": {8: {s: 75.0 + j for s, j in enumerate(spread)}, 64: fixed["bn"][64]}}
    rows = {r["design"]: r for r in V.batch_effects({"fixed": fixed, "equal_steps": steps}, RES)}
    assert not rows["fixed"]["shown"] and rows["equal_steps"]["shown"]
    assert rows["equal_steps"]["verdict"] == "larger when equalized"
    assert rows["equal_steps"]["change"] == pytest.approx(10.0, abs=1.5)
