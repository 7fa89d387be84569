"""The batch-size effect under each design: an effect that is the step count, one that equal steps leave
unchanged, one that reverses; the change tested as a change."""
import pytest

from alexlib.report.domain.analysis import batch_effects

from conftest import arms, fake_run, study


def effects(s):
    return {(r["norm"], r["design"]): r for r in batch_effects(s.runs)}


def test_an_effect_that_is_the_step_count_and_one_that_survives(tmp_path):
    # none: batch 8 far better in the fixed design (8x the steps), equal to batch 64 with equal steps;
    # bn: batch 64 better by 5 points in every design
    arms(tmp_path, none8=(75.0, 60.0, 60.2), bn8=(80.0, 80.0, 80.0), none64=60.0, bn64=85.0)
    e = effects(study(tmp_path))
    fixed, steps = e[("none", "fixed")], e[("none", "equal_steps")]
    assert fixed["shown"] and fixed["effect"] == pytest.approx(-15.0)
    # the change of the effect is tested as such (the interaction), not read off two significance calls
    assert steps["shown"] is False and steps["verdict"] == "smaller when equalized"
    assert e[("none", "lr_scaled")]["verdict"] == "smaller when equalized"
    assert steps["change"] == pytest.approx(15.0) and steps["change_p"] < 0.05
    # bn's 5 points are the same in every design: the change is tested and not shown
    assert e[("bn", "equal_steps")]["verdict"] == "no change shown" and e[("bn", "lr_scaled")]["verdict"] == "no change shown"
    assert e[("bn", "fixed")]["effect"] == pytest.approx(5.0) and e[("bn", "fixed")]["verdict"] == ""


def test_an_effect_that_reverses_when_steps_are_equal(tmp_path):
    arms(tmp_path, none8=(75.0, 45.0, 60.0), none64=60.0)
    e = effects(study(tmp_path))
    assert e[("none", "equal_steps")]["verdict"] == "reverses"
    assert e[("none", "equal_steps")]["effect"] == pytest.approx(15.0)


def test_a_design_without_two_seeds_on_a_side_is_not_tested(tmp_path):
    arms(tmp_path)
    runs = study(tmp_path).runs
    one_seed = runs[~((runs.design == "equal_steps") & (runs.norm == "bn") & (runs.seed > 0))]
    e = {(r["norm"], r["design"]): r for r in batch_effects(one_seed)}
    untested = e[("bn", "equal_steps")]
    assert untested["shown"] is None and untested["n_small"] == 1 and untested["verdict"] == "not testable"
    assert untested["effect"] != untested["effect"]  # nan: no number for a test that was not run
    assert e[("none", "equal_steps")]["shown"] is not None


def test_the_papers_claims_are_judged_in_its_own_design_too(tmp_path):
    """The Group Normalization paper scales the lr with the batch: its claims are judged on those cells (lr 0.005 x
    batch / 64, with the report's batch-64 cells of the same norms) beside the report's design, and each verdict is
    labeled with its design on page 1. Here BN collapses at batch 2 in the report's design and holds 10 points
    lower with the lr scaled (G1 shown in both); GN holds in both."""
    from alexlib.report.domain.analysis import paper_design_runs
    from alexlib.report.render.front import DESIGN_VERDICT, REPORT_VERDICT
    for s, j in enumerate((-0.4, 0.1, 0.3)):
        for norm, accs in (("bn", {2: 15.0, 8: 84.0, 64: 86.0}), ("gn", {2: 84.0, 8: 84.5, 64: 85.0})):
            for bs, acc in accs.items():
                fake_run(tmp_path / "runs", norm=norm, batch_size=bs, seed=s, acc=acc + j)
        fake_run(tmp_path / "runs", norm="bn", batch_size=2, seed=s, lr=0.005 * 2 / 64, acc=76.0 + j)
        fake_run(tmp_path / "runs", norm="gn", batch_size=2, seed=s, lr=0.005 * 2 / 64, acc=84.8 + j)
    s = study(tmp_path)
    view = paper_design_runs(s.runs)
    assert sorted(set(zip(view.norm, view.batch_size))) == [("bn", 2), ("bn", 64), ("gn", 2), ("gn", 64)]
    assert set(view.design) == {"fixed"} and len(view) == 12
    design = {c.id: c for c in s.analysis.paper_design}
    assert sorted(design) == ["G1", "G2", "G3"]
    g1 = design["G1"].parts[0]
    assert g1.outcome == "shown" and abs(g1.interval.estimate + 10.0) < 0.01   # BN 2 - 64 in the paper's design
    assert next(c for c in s.claims() if c.id == "G1").parts[0].interval.estimate < -70   # the report's design
    t = s.reproduced_table(source="gn_paper")
    assert list(t.columns)[-2:] == [REPORT_VERDICT, DESIGN_VERDICT]
    assert t[DESIGN_VERDICT].iloc[0].removeprefix("*demo:* ").startswith("**") and "76.0" in t[DESIGN_VERDICT].iloc[0]
    assert list(s.reproduced_table().columns) == ["the report", "here (means)", "verdict"]   # the report's: one design


def test_no_lr_scaled_cell_below_batch_8_means_no_paper_design(tmp_path):
    from alexlib.report.domain.analysis import paper_design_runs
    for s in range(2):
        fake_run(tmp_path / "runs", norm="bn", batch_size=8, seed=s, lr=0.005 * 8 / 64, acc=80.0)
        for bs in (2, 64):
            fake_run(tmp_path / "runs", norm="bn", batch_size=bs, seed=s, acc=80.0)
    st = study(tmp_path)
    assert paper_design_runs(st.runs).empty and st.analysis.paper_design == []
