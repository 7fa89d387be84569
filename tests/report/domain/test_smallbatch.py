"""The small-batch section's numbers (alexlib.report.domain.smallbatch) on runs whose answers are known: where
BatchNorm's accuracy is lost, how many values a statistic averages, and the image-size arm."""
import math

from alexlib.report.domain import smallbatch as SB

from conftest import fake_run, study


def test_recomputed_statistics_that_recover_the_accuracy_are_shown_and_those_that_do_not_are_not(tmp_path):
    """At batch 2 the running averages lost 30 points (recomputing recovers them on every seed); at batch 64 nothing
    is lost (the three accuracies agree within noise)."""
    for s, j in enumerate((0.2, -0.1, 0.0, 0.3, -0.2)):
        fake_run(tmp_path / "runs", norm="bn", batch_size=2, seed=s, acc=40.0 + j, checks=(70.0 + 2 * j, 41.0 - j))
        fake_run(tmp_path / "runs", norm="bn", batch_size=64, seed=s, acc=85.0 + j, checks=(85.0 - j, 85.0 + j / 2))
    fake_run(tmp_path / "runs", norm="gn", batch_size=2, acc=80.0)   # other norms record no checks
    t = study(tmp_path).small.checks.set_index("batch_size")
    assert list(t.index) == [2, 64] and t.loc[2, "seeds"] == 5
    assert math.isclose(t.loc[2, "rec_gain"], 30.0, abs_tol=0.1) and t.loc[2, "rec_shown"]
    assert t.loc[2, "rec_low"] > 25 and t.loc[2, "rec_level"] < 1
    assert not t.loc[64, "rec_shown"] and not t.loc[64, "own_shown"]


def test_a_statistic_averages_batch_times_its_stages_map():
    v = SB.values_per_statistic([63, 95], [2, 64]).set_index(["image_size", "stage"])
    assert v.loc[(63, "conv5"), "map"] == "1×1" and v.loc[(63, "conv5"), 2] == 2     # two numbers: always −1 and +1
    assert v.loc[(95, "conv5"), "map"] == "2×2" and v.loc[(95, "conv5"), 2] == 8
    assert v.loc[(63, "conv1"), 64] == 64 * 7 * 7


def test_the_image_size_arm_is_compared_with_the_studys_cell_of_the_same_norm_and_batch(tmp_path):
    for s in range(3):
        fake_run(tmp_path / "runs", norm="bn", batch_size=2, seed=s, acc=12.0 + s / 10)
        fake_run(tmp_path / "runs", norm="bn", batch_size=2, seed=s, image_size=95, acc=60.0 + s / 10)
        fake_run(tmp_path / "runs", norm="gn", batch_size=2, seed=s, acc=80.0 + s / 10)
        fake_run(tmp_path / "runs", norm="gn", batch_size=2, seed=s, image_size=95, acc=80.1 - s / 10)
    a = study(tmp_path).small.arm.set_index("norm")
    assert a.loc["bn", "main_values"] == 2 and a.loc["bn", "arm_values"] == 8
    assert math.isclose(a.loc["bn", "diff"], 48.0) and a.loc["bn", "shown"]
    assert not a.loc["gn", "shown"]
    assert study(tmp_path).small.present


def test_layer_signals_set_the_smallest_batch_beside_batch_32_per_norm_and_layer(tmp_path):
    """Per norm at the smallest batch size and at 32: the last epoch's gradient norm and weight distance per
    layer, the mean over seeds; runs whose records carry no signals (older schemas) are left out, and a study
    without batch 32 or without signals gets no table. The words set each norm's small batch against its 32."""
    from alexlib.report.domain.smallbatch import layer_signals
    for s in range(2):
        fake_run(tmp_path / "runs", norm="bn", batch_size=2, seed=s, layers={"conv1": (0.02 + 0.02 * s, 30.0),
                                                                           "fc6": (1.0, 1.0)})
        fake_run(tmp_path / "runs", norm="bn", batch_size=32, seed=s, layers={"conv1": (1.0, 1.5), "fc6": (1.0, 0.2)})
        fake_run(tmp_path / "runs", norm="gn", batch_size=2, seed=s)   # an older record: no signals
    fake_run(tmp_path / "runs", norm="gn", batch_size=32, seed=0, layers={"conv1": (1.0, 1.0), "fc6": (1.0, 0.2)})
    t = layer_signals(study(tmp_path).runs)
    assert [(r.norm, r.batch_size, r.seeds) for r in t.itertuples()] == [("bn", 2, 2), ("bn", 32, 2), ("gn", 32, 1)]
    bn2 = t.iloc[0]
    assert abs(bn2["grad:conv1"] - 0.03) < 1e-9 and bn2["dist:conv1"] == 30.0 and list(t.columns)[3:] == [
        "grad:conv1", "grad:fc6", "dist:conv1", "dist:fc6"]
    from alexlib.report.render.why import lead
    assert lead(study(tmp_path).small) == (
        "- **Where learning stops** (the per-layer signals, means of the seeds, no interval): BN's conv gradients at "
        "batch 2 are 0.03 × batch 32's and its conv weights moved 30 × their starting norm, most at conv1 (batch 32: "
        "1.5). A layer followed by BN computes the same whatever its weights' scale, so such growth shrinks its "
        "effective step; that this is why BN does not learn is not tested here by an intervention, and the smallest "
        "batch also takes more steps than batch 32.")   # GN has no batch-2 signals: no words
    assert layer_signals(study(tmp_path).runs[lambda d: d.batch_size != 32]).empty


def test_a_study_whose_records_carry_no_signals_has_no_signals_table(tmp_path):
    from alexlib.report.domain.smallbatch import layer_signals
    for bs in (2, 32):
        fake_run(tmp_path / "runs", norm="bn", batch_size=bs, seed=0)
    assert layer_signals(study(tmp_path).runs).empty


def test_each_arm_of_bn_is_set_beside_bns_and_gns_cells_and_never_among_the_studys_norms(tmp_path):
    """GN at the fifth stage recovers BN's batch-2 loss (12 -> 79, GN 80); the fifth norm before its pool
    recovers part (50); at batch 32 neither differs from BN. The arms are not cells of the report's design."""
    for s in range(3):
        j = s / 10
        for norm, at2, at32 in (("bn", 12.0, 85.0), ("gn", 80.0, 85.5), ("bn_gn5", 79.0, 85.1),
                                ("bn_pre5", 50.0, 84.9)):
            fake_run(tmp_path / "runs", norm=norm, batch_size=2, seed=s, acc=at2 + j)
            fake_run(tmp_path / "runs", norm=norm, batch_size=32, seed=s, acc=at32 - j * (s % 2))
    st = study(tmp_path)
    a = st.small.arms.set_index(["arm", "batch_size"])
    assert list(a.index) == [("bn_gn5", 2), ("bn_gn5", 32), ("bn_pre5", 2), ("bn_pre5", 32)]
    assert math.isclose(a.loc[("bn_gn5", 2), "vs_bn_diff"], 67.0) and a.loc[("bn_gn5", 2), "vs_bn_shown"]
    assert a.loc[("bn_pre5", 2), "vs_bn_shown"] and a.loc[("bn_pre5", 2), "vs_gn_shown"]   # part of the gap
    assert not a.loc[("bn_gn5", 32), "vs_bn_shown"] and a.loc[("bn_gn5", 2), "bn_n"] == 3
    assert set(st.cells.reset_index().norm) == {"bn", "gn"}        # not a norm of the report's design
    c = st.small.costs.set_index("what")
    assert list(c.index) == ["bn_gn5", "bn_pre5"] and c.loc["bn_gn5", "small"] == 2
    assert math.isclose(c.loc["bn_gn5", "diff"], 85.1 - 0.1 / 3 - 79.1, abs_tol=1e-9) and c.loc["bn_gn5", "shown"]
    md = st.small_batch_markdown()
    assert "What one change to BN recovers" in md and "BatchNorm, GroupNorm at conv5" in md
    assert md.startswith("- **What one change to BN recovers** (exploratory arms")     # the answer first
    assert "- **What the batch costs beyond the fifth stage's statistic**" in md and "Where learning stops" not in md
    assert any("One change to BN at a time" in f["text"] for f in st.findings())
