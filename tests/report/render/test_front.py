"""Page 1: the protocol beside the report's, and one row per claim with the report's numbers, ours for the same
cells and the verdict in words, flagged cells named."""
from alexlib.report.render import front as P1

from conftest import cell, study


def full_grid(tmp_path, bn8=80.0):
    for norm, acc in (("none", 60.0), ("bn", 82.0), ("ln", 81.0), ("gn", 81.5)):
        for bs in (8, 16, 32, 64):
            cell(tmp_path, norm, bs, bn8 if (norm, bs) == ("bn", 8) else acc)
    return study(tmp_path)


def test_every_claim_has_its_row_with_both_sides_numbers(tmp_path):
    s = full_grid(tmp_path)
    t = s.reproduced_table()
    assert len(t) == len(s.claims()) == 6
    assert list(t.columns) == ["the report", "here (means)", "verdict"]
    row2 = t.loc[[i for i in t.index if i.startswith("2.")][0]]
    assert "39.1" in row2["the report"] and "60.0" in row2["here (means)"]
    assert all(v.startswith("**") for v in t.verdict)


def test_a_claim_resting_on_a_cell_near_chance_says_so(tmp_path):
    s = full_grid(tmp_path, bn8=12.0)
    t = s.reproduced_table()
    row3 = t.loc[[i for i in t.index if i.startswith("3.")][0]]
    assert "rests on near chance BN 8" in row3.verdict


def test_the_protocol_table_sets_the_report_beside_this_study(tmp_path):
    s = full_grid(tmp_path)
    t = P1.protocol_table(s.runs)
    assert list(t.columns) == ["the report", "here"]
    assert "CIFAR-10" in t.loc["data", "the report"] and "8, 16, 32, 64" in t.loc["batch sizes", "here"]
