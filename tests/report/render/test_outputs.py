"""The report folder's files: every one written whole (a temporary file beside it, then a rename: no reader
sees half of a CSV, a figure or summary.json), and summary.json indexes what the report cites."""
import json

from matplotlib.figure import Figure

from alexlib import io as IO
from alexlib.report.render import export as O

from conftest import arms, study


def test_every_file_is_written_through_the_atomic_writer(tmp_path, monkeypatch):
    arms(tmp_path)
    s = study(tmp_path)
    written = []
    real = IO._atomic

    def spy(path, write, mode):
        written.append(path.name)
        return real(path, write, mode)
    monkeypatch.setattr(IO, "_atomic", spy)
    paths = s.write()
    assert sorted(p.name for p in paths) == sorted(written)
    assert {"results.csv", "cells.csv", "designs.csv", "summary.json", "accuracy_bars.png"} <= set(written)
    assert not list((tmp_path / "rep").glob(".*.tmp"))


def test_a_figure_that_fails_to_save_leaves_no_half_file(tmp_path):
    fig = Figure()
    fig.savefig = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("renderer died"))
    try:
        IO.save_figure(tmp_path / "f.png", fig)
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_summary_json_indexes_the_comparisons_and_claims(tmp_path):
    arms(tmp_path)
    s = study(tmp_path)
    s.write()
    index = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert {"findings", "comparisons", "claims", "batch_effects", "flags", "convergence", "stages", "protocol",
            "status"} <= set(index)
    assert index["runs"] == len(s.runs) and O.DPI == 120
    for c in index["claims"]:            # each part's outcome, its margin, the p used and the interval's level
        for p in c["parts"]:
            assert {"outcome", "margin", "p", "p_needed", "level", "ci_low", "ci_high", "stage"} <= set(p)
    assert index["stages"]["design"]["boundaries"] == "O'Brien-Fleming"
