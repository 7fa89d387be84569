"""Grid files: axes crossed, zip blocks paired element by element, every value checked before a run starts."""
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexlib.grid import plan as P

from conftest import REPO


def test_a_grid_sweeping_momentum_runs_every_value(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"base": {"dataset": "synthetic", "image_size": 63},
                                    "grids": [{"momentum": [0.9, 0.0], "train_size": [100, 200], "dropout": [0.5, 0.0]}]}))
    plan = P.load_grid(path, tmp_path / "out")
    assert len(plan.runs) == 8
    assert len({c.out_dir for c in plan.runs}) == 8
    assert len({c.run_id() for c in plan.runs}) == 8
    assert plan.runs[0].run_id().startswith("synthetic-none-bs64-lr0.005-s0-px63-")


def grid_file(tmp_path, entry, base=None):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"base": base or {"dataset": "synthetic", "image_size": 63},
                                    "grids": [entry]}))
    return path


def test_zip_pairs_values_element_by_element_and_crosses_the_other_axes(tmp_path):
    path = grid_file(tmp_path, {"name": "steps", "norm": ["none", "bn"],
                                "zip": {"batch_size": [8, 16, 64], "epochs": [1, 2, 8]}})
    runs = P.load_grid(path, tmp_path / "out").runs
    assert sorted((c.norm, c.batch_size, c.epochs) for c in runs) == sorted(
        (n, b, e) for n in ("none", "bn") for b, e in ((8, 1), (16, 2), (64, 8)))


def test_the_fashion_and_paper_steps_grids_pair_what_they_say():
    fashion = P.load_grid(REPO / "params" / "fashion.yaml").runs
    assert len(fashion) == 180   # 5 norms x 6 batch sizes x 3 seeds, the arms, the image-size arm, the sweep, the
    # Group Normalization paper's design (BN, LN, GN at 4, 16, 32 and LN at 2, lr scaled: 30) and BN's two one-change
    # arms at batch 2 and 32 (12)
    assert {c.norm for c in fashion if c.norm.startswith("bn_")} == {"bn_gn5", "bn_pre5"}
    bs8 = {(c.epochs, c.lr) for c in fashion if c.batch_size == 8 and c.norm == "bn"}
    assert bs8 == {(8, 0.005), (1, 0.005), (8, 0.000625)}
    bs2 = {(c.lr, c.image_size) for c in fashion if c.batch_size == 2 and c.norm == "bn"}
    assert bs2 == {(0.005, 63), (0.005, 95), (0.00015625, 63)}   # the report's lr, the 95 px arm, linear scaling
    paper = P.load_grid(REPO / "params" / "paper_steps.yaml").runs
    steps = {(c.batch_size, c.epochs) for c in paper if c.lr == 0.005}
    assert {(8, 1), (16, 2), (32, 4), (64, 8)} <= steps and {(b, 10) for b in (8, 16, 32, 64)} <= steps
    assert {(c.batch_size, c.lr) for c in paper if c.lr != 0.005 and c.batch_size != 64} == {
        (8, 0.000625), (16, 0.00125), (32, 0.0025)}


@pytest.mark.parametrize("zip_block, message", [
    ({"batch_size": [8, 16], "epochs": [1]}, "equal lengths .*batch_size 2, epochs 1"),
    ({"batch_size": [8, 16], "epochs": 2}, "epochs must be a list"),
    ({"batch_size": [8, 16]}, "two or more parameters"),
    ({"batch_size": [], "epochs": []}, "zip lists are empty"),
    ([8, 16], "zip must be a mapping"),
    ({}, "zip must be a mapping"),
    ({"batch_size": [8], "epoch": [1]}, "unknown parameter.*epoch"),
    ({"batch_size": [8], "lr": ["fast"]}, "lr must be a number"),
])
def test_bad_zip_blocks_are_refused_with_the_reason(tmp_path, zip_block, message):
    with pytest.raises(P.GridError, match=message):
        P.load_grid(grid_file(tmp_path, {"norm": "bn", "zip": zip_block}))


def test_a_parameter_both_crossed_and_zipped_is_refused(tmp_path):
    with pytest.raises(P.GridError, match="batch_size is both an axis and in zip"):
        P.load_grid(grid_file(tmp_path, {"batch_size": [8], "zip": {"batch_size": [8, 16], "epochs": [1, 2]}}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_fuzzed_grid_bytes_give_a_grid_error_or_a_valid_plan(tmp_path, raw):
    path = tmp_path / "fuzz grid ü.yaml"
    path.write_bytes(raw)
    try:
        plan = P.load_grid(path, tmp_path / "never")
    except P.GridError as e:
        assert str(path) in str(e)
    else:
        assert plan.runs
    assert not (tmp_path / "never").exists()
