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
