"""The facade the summary notebook calls: ``Study.load`` and ``write``, which leaves a complete report
folder whichever notebook cells ran before it."""
import json

import pandas as pd

from conftest import arms, cell, study

FIGURES = ["accuracy_bars.png", "differences.png", "learning_curves.png"]
DATA = ["cells.csv", "designs.csv", "results.csv", "summary.json"]


def test_write_on_a_fresh_study_draws_every_figure_and_writes_every_file(tmp_path):
    arms(tmp_path)
    s = study(tmp_path)
    assert not s.figures
    written = s.write()
    rep = tmp_path / "rep"
    assert sorted(p.name for p in written) == sorted(FIGURES + DATA)
    assert sorted(p.name for p in rep.iterdir()) == sorted(FIGURES + DATA)
    assert all((rep / f).stat().st_size > 0 for f in FIGURES + DATA)
    assert len(pd.read_csv(rep / "results.csv")) == len(s.runs)
    assert json.loads((rep / "summary.json").read_text())["designs"].keys() == {"fixed", "equal_steps", "lr_scaled"}


def test_a_figure_the_notebook_drew_is_written_as_it_was_shown(tmp_path):
    arms(tmp_path)
    s = study(tmp_path)
    shown = s.learning_curves()
    s.write()
    assert s.figures["learning_curves"] is shown and sorted(s.figures) == sorted(f[:-4] for f in FIGURES)


def test_accuracy_against_batch_size_is_drawn_where_the_study_ran_below_the_reports_sizes(tmp_path):
    arms(tmp_path)
    cell(tmp_path, "bn", 2, 30.0, epochs=8)
    s = study(tmp_path)
    assert s.small.present
    s.write()
    assert (tmp_path / "rep" / "accuracy_vs_batch.png").stat().st_size > 0
