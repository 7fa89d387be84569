"""The runs a caption counts, and how it says them."""
import pandas as pd

from alexlib.report.render.captions import n_runs


def test_n_runs_counts_what_did_not_complete():
    d = pd.DataFrame({"status": ["completed", "diverged", "failed", "completed"]})
    assert n_runs(d) == "4 runs, 2 of them diverged or failed"
    assert n_runs(d.iloc[:1]) == "1 run"


def test_each_claims_table_counts_the_runs_of_its_own_cells(tmp_path):
    """Computed from the rows shown: the paper's table counts the runs its claims read (it said '0 runs' when it
    looked its claims up under the wrong source's name), the second stage's seeds included."""
    import re

    from conftest import cell, study
    for bs in (2, 4, 8, 64):
        for norm in ("bn", "gn"):
            cell(tmp_path, norm, bs, 80.0)
    s = study(tmp_path)
    text = s.caption("claims_paper")
    n = int(re.search(r"(\d+) runs", text).group(1))
    assert n == 21   # the cells G1-G3 read, three seeds each: BN at 2, 4, 64 and GN at 2, 4, 8, 64 (not BN at 8)


def test_the_paper_table_says_where_g1s_margin_exceeds_the_papers_own_step(tmp_path):
    """G1's batch-4 part asks BN to fall by the margin of every batch-size effect (5 points), more than the paper's
    own 3.7-point step: the caption says so where that part is judged, and not where it is not (no BN at 4)."""
    from conftest import cell, study

    from alexlib.report.render.captions import BN_FALL_NOTE
    for bs in (2, 4, 64):
        cell(tmp_path / "with4", "bn", bs, 80.0)
    assert BN_FALL_NOTE in study(tmp_path / "with4").caption("claims_paper")
    assert "3.7 points of error" in BN_FALL_NOTE and "(5 points" in BN_FALL_NOTE
    for bs in (2, 64):
        cell(tmp_path / "without4", "bn", bs, 80.0)
    assert BN_FALL_NOTE not in study(tmp_path / "without4").caption("claims_paper")
