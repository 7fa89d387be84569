"""The runs a caption counts, and how it says them."""
import pandas as pd

from alexlib.report.render.captions import n_runs


def test_n_runs_counts_what_did_not_complete():
    d = pd.DataFrame({"status": ["completed", "diverged", "failed", "completed"]})
    assert n_runs(d) == "4 runs, 2 of them diverged or failed"
    assert n_runs(d.iloc[:1]) == "1 run"
