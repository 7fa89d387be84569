"""The batch-size effect under each design: an effect that is the step count, one that equal steps leave
unchanged, one that reverses; the change tested as a change."""
import pytest

from alexlib.report.domain.analysis import batch_effects

from conftest import arms, study


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
