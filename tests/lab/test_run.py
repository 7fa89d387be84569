"""The run notebook's helpers: its parameters become one checked configuration (a misspelled name is an
error, relative paths are under the repository root), its result a table and a labeled plot."""
import pytest

from alexlib.lab.run import config_from_namespace, history_table, plot_curves, run_label
from alexlib.paths import REPO
from alexlib.train.config import ConfigError


def test_the_parameters_become_a_checked_config_with_paths_under_the_root():
    before = {"__name__", "train"}
    cfg = config_from_namespace({"__name__": "x", "train": None, "norm": "gn", "batch_size": 32,
                                 "out_dir": "runs/here"}, before)
    assert (cfg.norm, cfg.batch_size) == ("gn", 32)
    assert cfg.out_dir == str(REPO / "runs" / "here") and cfg.data_dir == str(REPO / "data")


def test_a_misspelled_parameter_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match="unknown parameter.s. 'batchsize'; known parameters: norm"):
        config_from_namespace({"batchsize": 32}, set())


def test_the_result_as_a_table_and_a_plot_labeled_with_what_it_ran_on():
    h = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 50.0 + e, "test_loss": 1.1 / e, "test_acc": 49.0 + e,
          "seconds": 2.0, "images_per_s": 100.0} for e in (1, 2)]
    rec = {"config": {"dataset": "digits", "image_size": 63, "width": 0.25, "norm": "bn", "batch_size": 8,
                      "lr": 0.005, "seed": 0}, "env": {"device_name": "CPU x", "precision": "fp32"},
           "status": "completed", "history": h, "dataset": {"synthetic": True}}
    t = history_table(rec)
    assert list(t.index) == [1, 2] and t.loc[2, "test_acc"] == 51.0
    assert "SYNTHETIC DATA: NOT A RESULT" in run_label(rec)
    fig = plot_curves(rec)
    assert len(fig.axes) == 2 and run_label(rec) in fig._suptitle.get_text()
