"""The report's tables: a cell prints as mean ± sd with its seeds counted (lost seeds beside it, never averaged
in), n said once in the header when every cell has the same, the problems table lists what did not complete."""
import math

import pandas as pd

from alexlib.report.render import tables as T

from conftest import cell, fake_run, study


def row(mean=80.0, std=1.234, done=3, **lost):
    return {"mean": mean, "std": std, "n_completed": done, **{f"n_{k}": v for k, v in lost.items()}, "mixed": ""}


def test_a_cell_prints_its_mean_sd_and_what_it_lost():
    assert T.fmt_cell(row(), n=3) == f"80.00{T.NB}±{T.NB}1.23"
    assert T.fmt_cell(row(done=2, diverged=1), n=3) == f"80.00{T.NB}±{T.NB}1.23 (n=2; 1 diverged)"
    assert T.fmt_cell(row(mean=math.nan, std=math.nan, done=0, failed=3)) == f"—{T.NB}(n=0; 3 failed)"
    assert T.fmt_cell(row(std=math.nan, done=1), n=3) == "80.00 (n=1)"


def test_n_is_said_once_only_when_every_cell_has_the_same_and_lost_none():
    same = pd.DataFrame([row(), row()])
    assert T.common_n(same) == 3
    assert T.common_n(pd.DataFrame([row(), row(done=2)])) is None
    assert T.common_n(pd.DataFrame([row(), row(diverged=1)])) is None


def test_the_problems_table_lists_every_run_that_did_not_complete(tmp_path):
    cell(tmp_path, "bn", 8, 80.0)
    fake_run(tmp_path / "runs", status="diverged", norm="none", batch_size=8, seed=5)
    t = T.problems_table(study(tmp_path).runs, [{"file": "x/metrics.json", "problem": "unreadable"}])
    assert list(t.status) == ["diverged", "unreadable"]
    assert "epoch" in t.detail.iloc[0]


def test_a_claim_with_no_part_yet_gets_a_row_that_says_so():
    """A study in progress can hold none of a claim's cells (BN at batch 2 only: G1 forms no part): its table
    says so in a row instead of failing the report."""
    from alexlib.report.render.tables import part_rows
    t = part_rows([])
    assert len(t) == 1 and t.outcome.iloc[0] == "not testable" and t.index[0].startswith("none yet")


def test_an_estimate_the_seeds_cannot_bound_says_so_in_parentheses_and_the_sentence_reads_on():
    assert T.estimate(3.24, 1.0, 5.44, " points") == "+3.2 points [+1.0,\u00a0+5.4]"
    assert T.estimate(82.1, -100.0, 100.0, " points") == "+82.1 points (too few seeds to bound it)"
