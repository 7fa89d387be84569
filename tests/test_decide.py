"""Seeds on demand through the pipeline: the budget's forms, a plan made from a first stage's records and printed
before anything trains (a dry run trains nothing), the plan written to stages.json before the stage's first run,
and a second call that resumes the planned stage instead of planning a third look."""
import json
import shutil

import pytest

from alexlib import decide as D
from alexlib.grid import command as G
from alexlib.report.domain.runs import STAGES

from conftest import REPO


def test_a_budget_is_a_time_or_a_number_of_runs():
    assert D.parse_budget("45m").seconds == 2700 and D.parse_budget("2h").seconds == 7200
    assert D.parse_budget("1h30m").seconds == 5400 and D.parse_budget("30").runs == 30
    with pytest.raises(D.BudgetError, match="45m, 2h or 1h30m, or a number of runs"):
        D.parse_budget("soon")


def first_stage_of_the_committed_fashion_study(tmp_path):
    """reports/fashion's records without the seeds a second stage added: the study as its first stage left it."""
    src = REPO / "reports" / "fashion" / "records"
    added = set()
    if (src / STAGES).is_file():
        added = {r for st in json.loads((src / STAGES).read_text())["stages"] for r in st["runs"]}
    dst = tmp_path / "reports" / "fashion" / "records"
    for p in src.glob("*/metrics.json"):
        if p.parent.name not in added:
            (dst / p.parent.name).mkdir(parents=True)
            shutil.copy(p, dst / p.parent.name / "metrics.json")
    return dst.parent


def test_a_dry_run_plans_from_the_committed_first_stage_and_trains_nothing(tmp_path):
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    runs = tmp_path / "runs" / "fashion"
    lines = []
    code = D.run(REPO / "params" / "fashion.yaml", runs, reports, D.parse_budget("1h"), dry_run=True,
                 log=lines.append)
    text = "\n".join(lines)
    assert code == 0 and "second stage, budget 1h, at most 20 seeds per cell:" in text
    assert "claim 1 at the first look: reproduced" in text and "in all: " in text and "estimate: about" in text
    assert "dry run: nothing trained" in text
    assert not runs.exists() or not list(runs.rglob("metrics.json"))


def test_the_plan_is_written_before_the_stage_runs_and_a_second_call_resumes_it(tmp_path, monkeypatch):
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    runs = tmp_path / "runs" / "fashion"
    shutil.copytree(reports / "records", runs)
    seen = []

    def fake_grid(grid_file, out, **kw):
        stages = json.loads((out / STAGES).read_text())["stages"]   # the plan is on disk before any run
        seen.append((grid_file.name, len(stages[0]["runs"]), kw.get("record")))
        return {"completed": stages[0]["runs"], "diverged": [], "failed": []}
    monkeypatch.setattr(G, "run", fake_grid)
    assert D.run(REPO / "params" / "fashion.yaml", runs, reports, D.parse_budget("25"), log=lambda s: None) == 0
    stage = json.loads((runs / STAGES).read_text())["stages"][0]
    assert seen == [("stage2.yaml", len(stage["runs"]), "grid.stage2.json")] and 0 < len(stage["runs"]) <= 25
    assert stage["budget"] == "25" and stage["claims"] and "measured_seconds" in stage
    lines = []
    assert D.run(REPO / "params" / "fashion.yaml", runs, reports, D.parse_budget("2h"), log=lines.append) == 0
    assert "already planned" in lines[0] and len(seen) == 2 and seen[1][1] == len(stage["runs"])


def test_a_study_that_had_its_second_stage_says_what_it_ran_and_plans_no_third(tmp_path):
    src = REPO / "reports" / "fashion" / "records"
    if not (src / STAGES).is_file():
        pytest.skip("the committed Fashion study has no second stage")
    lines = []
    assert D.run(REPO / "params" / "fashion.yaml", tmp_path / "runs" / "fashion", REPO / "reports" / "fashion",
                 D.parse_budget("1h"), dry_run=True, log=lines.append) == 0
    stage = json.loads((src / STAGES).read_text())["stages"][0]
    assert lines[0].startswith("second stage already run") and "no further stage is planned" in lines[0]
    assert len([ln for ln in lines if ln.startswith("  claim ")]) == len(stage["parts"])
    assert not (tmp_path / "runs").exists()
