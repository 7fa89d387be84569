"""A rerun checked against the committed study: cells paired on the seed agree within what numerical noise can
move them, or differ; a rerun of another protocol is refused as not comparable, never called different; the
environments side by side; records written by older code still load."""
import json

import pytest

from alexlib.report.domain import against as AG
from alexlib.report.domain.records import read_study_runs
from alexlib.report.render.texts import change_words, summary_line
from alexlib.report.study import Study

from conftest import REF, cell, fake_run

SIZES = (8, 64)


def study_at(root, shift=0.0, lr=0.005, device="CPU test", **kw):
    for norm, acc in (("none", 60.0), ("bn", 80.0)):
        for bs in SIZES:
            cell(root, norm, bs, acc + shift, lr=lr, device_name=device, **kw)


def test_a_rerun_within_the_noise_agrees_and_one_shifted_far_differs(tmp_path):
    study_at(tmp_path / "then")
    study_at(tmp_path / "now", shift=0.3, device="CPU other")
    now = Study.load(str(tmp_path / "now" / "runs"), REF, str(tmp_path / "rep"), against=str(tmp_path / "then" / "runs"))
    ag = now.against
    assert set(ag.cells.decision) == {"agrees"} and ag.cells["diff"].round(2).tolist() == [0.3] * 4
    assert ag.summary()["verdicts_same"] and "4 of 4 cells agree" in summary_line(ag.summary(), "the committed study")
    env = ag.environments
    assert env.loc["device", "here"] == "CPU other" and env.loc["device", "committed"] == "CPU test"
    study_at(tmp_path / "far", shift=8.0)
    far = Study.load(str(tmp_path / "far" / "runs"), REF, str(tmp_path / "rep2"), against=str(tmp_path / "then" / "runs"))
    assert set(far.against.cells.decision) == {"differs"}
    # the margin is the committed seed spread's: z * sigma * sqrt(2 / n), Bonferroni over the 4 cells
    assert far.against.cells.margin.iloc[0] == pytest.approx(far.against.z * far.against.sigma * (2 / 3) ** 0.5)


def test_a_rerun_of_another_protocol_is_not_comparable_not_different(tmp_path):
    study_at(tmp_path / "then")
    study_at(tmp_path / "now", lr=0.01)
    then, now = read_study_runs(tmp_path / "then" / "runs"), read_study_runs(tmp_path / "now" / "runs")
    with pytest.raises(AG.AgainstError, match="shares no configuration.*lr 0.01 here, 0.005 there.*not comparable"):
        AG.compare(now.runs, then.runs, [], [])


def test_records_written_by_older_code_still_load(tmp_path):
    """Absolute paths of another machine, no kernel fields: they load, and the tables say 'not recorded'."""
    folder = fake_run(tmp_path / "runs", norm="bn", seed=0)
    m = json.loads((folder / "metrics.json").read_text())
    m["config"] |= {"data_dir": "/home/someone/alexnet/data", "out_dir": f"/home/someone/alexnet/runs/{folder.name}"}
    (folder / "metrics.json").write_text(json.dumps(m))
    fake_run(tmp_path / "runs", norm="bn", seed=1)
    s = Study.load(str(tmp_path / "runs"), REF, str(tmp_path / "rep"))
    assert len(s.runs) == 2 and set(s.runs.cpu_capability) == {"?"}
    assert s.environment_table().loc["CPU kernels", "value (runs)"] == "not recorded"


def test_a_verdict_left_open_by_fewer_seeds_is_a_change_but_no_contradiction():
    """Decided in one study and open in the other is power, not disagreement; found and found-against contradict."""
    from types import SimpleNamespace as NS

    def claim(verdict, *outcomes):
        return NS(id="6", verdict=verdict, parts=[NS(key=f"p{i}", what=f"part {i}", outcome=o)
                                                  for i, o in enumerate(outcomes)])

    committed = claim("not reproduced", "shown", "shown against")
    for here, contradicts, words in ((claim("open", "shown", "open"), False, "open here, decided in the committed"),
                                     (claim("open", "open", "shown against"), False, "open here"),
                                     (claim("not reproduced", "shown", "size ruled out"), False, "direction"),
                                     (claim("reproduced", "shown", "shown"), True, "a contradiction")):
        [v] = AG.verdict_changes([here], [committed])
        assert v["contradicts"] is contradicts and words in change_words(v)
    assert AG.verdict_changes([committed], [committed]) == []
    [v] = AG.verdict_changes([committed], [claim("open", "shown", "open")])
    assert "decided here, open in the committed study" in change_words(v)
    s = {"claims_compared": ["6"], "verdicts_same": False, "verdict_changes": [v], "verdicts_contradict": ["6"],
         "agree": 1, "cells": 1, "differ": 0, "largest_difference": 0.1, "z": 2.0, "sigma": 1.0, "not_comparable": []}
    assert "a contradiction in claim 6" in summary_line(s, "x")
    assert "no contradiction" in summary_line({**s, "verdicts_contradict": []}, "x")
