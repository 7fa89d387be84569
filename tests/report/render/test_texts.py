"""The report's prose: labels that say what the runs were."""
from alexlib.report.render import texts as X

from conftest import fake_run, study


def test_labels_say_the_subset_sizes(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", train_size=5000, test_size=0, train_images=5000, test_images=10000)
    s = study(tmp_path)
    assert "5,000 train / 10,000 test images" in X.label(s.runs)
    assert "full" not in X.label(s.runs) and "500" not in X.label(s.runs).replace("5,000", "")
    assert "5,000 train / 10,000 test images" in X.short_label(s.runs)
    assert "digits (scikit-learn)" in X.label(s.runs)   # one name for the dataset, as every table gives it


def test_the_stages_text_says_what_a_stage_was_planned_at_and_took_and_which_claims_it_decided(tmp_path):
    """Appendix A's stage line: its plan and the wall time it took (stages.json's measured seconds), and each part
    decided at the second look named with its claim."""
    import pandas as pd

    from alexlib.report.inference.verdicts import Claim, Part
    from alexlib.stages import SecondStage
    st = SecondStage(planned_at="2026-12-07T21:08:55Z", budget="1h", cap=20, rule="r", claims=["2"],
                     cells=[["none", 8], ["none", 64]], seeds="3–9", runs=["a", "b"], planned_seconds=2824.0,
                     measured_seconds=2063.0)
    runs = pd.DataFrame({"stage": [1, 1], "norm": ["none", "none"], "batch_size": [8, 64], "lr": [0.005] * 2,
                         "epochs": [10, 10], "seed": [0, 0]})
    part = Part("none 8-64", "none: batch 8 − batch 64", None, stage=2)
    claim = Claim("2", "words", "statement", [part])
    text = X.stages_markdown(runs, [st], [claim])
    assert "planned 47 min, took 34 min" in text
    assert "Decided at stage 2: claim 2 (none: batch 8 − batch 64)." in text
    later = SecondStage(**{**st.__dict__, "measured_seconds": 0.0, "claims": ["G1"]})
    text = X.stages_markdown(runs, [st, later], [claim])
    assert "**Stage 2**: 2 runs added" in text and "**Stage 2.2**: 2 runs added" in text   # as their grid files
    assert text.count("took") == 1   # a stage not yet run says no time
