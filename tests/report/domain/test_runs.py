"""The runs table: each run counted once, one protocol per study, and each run's design told from how its
epochs and lr follow its batch size."""
import shutil

import pytest

from alexlib.report.domain import runs as R
from alexlib.report.domain.cells import design_cells
from alexlib.report.domain.runs import ProtocolError

from conftest import arms, cell, fake_run, study


# --------------------------------------------------------------------------------------------------
# one protocol, each run once
# --------------------------------------------------------------------------------------------------
def test_runs_of_two_protocols_are_not_averaged_together(tmp_path):
    for seed in (0, 1):
        fake_run(tmp_path / "runs", norm="bn", seed=seed, acc=90.0)
        fake_run(tmp_path / "runs", norm="bn", seed=seed, acc=40.0, epochs=4)
    with pytest.raises(ProtocolError, match=r"2 protocols, which differ in epochs .*--select 'epochs=2'"):
        study(tmp_path)
    s = study(tmp_path, select="epochs=4")
    cells = s.cells
    assert len(cells) == 1 and cells["mean"][0] == 40.0 and cells.n_completed[0] == 2


def test_the_protocol_message_names_the_flag_its_form_and_the_biggest_protocol(tmp_path):
    for seed in (0, 1, 2):
        fake_run(tmp_path / "runs", norm="bn", seed=seed, width=0.125)
    fake_run(tmp_path / "runs", norm="bn", width=0.25)
    with pytest.raises(ProtocolError, match=r"--select FIELD=VALUE\[,FIELD=VALUE\].*--select 'width=0.125'"):
        study(tmp_path)


def test_runs_at_another_image_size_are_the_image_size_arm_never_a_cell(tmp_path):
    """The rest of their protocol the same, runs at another image size than most are their own design: the cells,
    the protocol and the claims read the study's size only."""
    for seed in (0, 1, 2):
        fake_run(tmp_path / "runs", norm="bn", seed=seed, image_size=63, acc=80.0 + seed)
    fake_run(tmp_path / "runs", norm="bn", image_size=95, acc=20.0)
    s = study(tmp_path)
    assert sorted(s.runs.design) == ["fixed"] * 3 + ["image_size"]
    assert s.protocol()["image_size"] == 63 and s.cells["mean"].tolist() == [81.0]
    fake_run(tmp_path / "runs", norm="gn", image_size=95)   # a cell the study does not have: a second protocol
    with pytest.raises(ProtocolError, match="image_size"):
        study(tmp_path)


def test_precision_and_subset_size_are_part_of_the_protocol(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", precision="bf16")
    fake_run(tmp_path / "runs", norm="gn", precision="fp32")
    with pytest.raises(ProtocolError, match="precision"):
        study(tmp_path)
    shutil.rmtree(tmp_path / "runs")
    fake_run(tmp_path / "runs", norm="bn", train_size=100)
    fake_run(tmp_path / "runs", norm="gn", train_size=200)
    with pytest.raises(ProtocolError, match="train_size"):
        study(tmp_path)


# --------------------------------------------------------------------------------------------------
# designs
# --------------------------------------------------------------------------------------------------
def test_runs_are_told_apart_by_how_epochs_and_lr_follow_the_batch_size(tmp_path):
    arms(tmp_path)
    s = study(tmp_path)
    assert s.fixed_epochs == 8 and s.designs() == ["fixed", "equal_steps", "lr_scaled"]
    got = {(r.norm, r.batch_size, r.epochs, r.lr): r.design for r in s.runs.itertuples()}
    assert got[("none", 8, 8, 0.005)] == "fixed" and got[("none", 64, 8, 0.005)] == "fixed"
    assert got[("none", 8, 1, 0.005)] == "equal_steps" and got[("bn", 8, 8, 0.000625)] == "lr_scaled"
    assert got[("none", 64, 8, 0.01)] == "lr_sweep" and got[("bn", 16, 8, 0.02)] == "other"
    # each arm holds its own batch-8 runs and the batch-64 runs it shares with the fixed design
    for design, epochs8, lr8 in (("equal_steps", 1, 0.005), ("lr_scaled", 8, 0.000625)):
        a = R.arm(s.runs, design)
        assert set(a.batch_size) == {8, 64} and len(a) == 12 and "lrn" not in set(a.norm)
        assert set(a[a.batch_size == 8].epochs) == {epochs8} and set(a[a.batch_size == 8].lr) == {lr8}
    assert len(R.main_grid(s.runs)) == 15 and set(R.main_grid(s.runs).epochs) == {8}
    cells = design_cells(s.runs)
    steps = {(r.design, r.batch_size): r.steps for r in cells.itertuples()}
    assert (steps[("fixed", 8)], steps[("equal_steps", 8)], steps[("fixed", 64)]) == (5000, 625, 632)  # 5,000 images
    means = {(r.design, r.norm, r.batch_size): r.mean for r in cells.itertuples()}
    assert means[("fixed", "none", 8)] == 30.0 and means[("equal_steps", "bn", 8)] == 80.0
    assert means[("lr_scaled", "bn", 8)] == 79.0 and means[("lr_scaled", "none", 64)] == 60.0


def test_an_equal_steps_family_with_its_own_batch_64_run(tmp_path):
    """paper_steps: fixed at 10 epochs; equal steps at batch 64's 8 epochs, so 8 -> 1 epoch, 64 -> 8."""
    for bs in (8, 64):
        cell(tmp_path, "bn", bs, 80.0, epochs=10)
    for bs, ep in ((8, 1), (16, 2), (64, 8)):
        cell(tmp_path, "bn", bs, 70.0, epochs=ep)
    s = study(tmp_path)
    assert s.fixed_epochs == 10
    a = R.arm(s.runs, "equal_steps")
    assert sorted(set(zip(a.batch_size, a.epochs))) == [(8, 1), (16, 2), (64, 8)]


def test_unrelated_epochs_at_the_same_lr_are_two_protocols(tmp_path):
    for bs, ep in ((8, 2), (64, 2), (8, 3), (64, 5)):
        fake_run(tmp_path / "runs", norm="bn", batch_size=bs, epochs=ep)
    with pytest.raises(ProtocolError, match=r"differ in epochs .*neither one fixed number of epochs nor one"):
        study(tmp_path)
    assert study(tmp_path, select="epochs=2").fixed_epochs == 2


def test_cell_identity_is_one_rule_the_sweep_sharing_its_anchor_with_the_design():
    from alexlib.report.domain.runs import cells_of
    assert cells_of("bn", 8, 0.005, "fixed") == [("bn", 8)]
    assert cells_of("none", 64, 0.005, "fixed") == [("none", 64), ("lr", 0.005)]
    assert cells_of("none", 64, 0.01, "lr_sweep") == [("lr", 0.01)]
    assert cells_of("bn", 8, 0.00125, "lr_scaled") == [] and cells_of("none", 8, 0.005, "equal_steps") == []
