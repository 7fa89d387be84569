"""Seeds on demand through the pipeline: the budget's forms, a plan made from a first stage's records and printed
before anything trains (a dry run trains nothing), the plan written to stages.json before the stage's first run,
a second call that resumes the planned stage instead of planning a third look, a further stage only for cells no
stage grew; the executor that runs the stage
(named, else the grid file's block, else local) sizes it and is written into its grid file; and, against a real
SLURM (make slurm-up; skipped without one, except in CI), a study's second stage run as SLURM jobs."""
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from alexlib import decide as D
from alexlib.grid import command as G
from alexlib.grid import estimate as E
from alexlib.grid import slurm as S
from alexlib.grid.local import LocalExecutor, cpu_cores
from alexlib.grid.plan import GridError, load_grid
from alexlib.grid.sacct import job_states
from alexlib.stages import STAGES, SecondStage, read_stages, write_stages

from conftest import REPO, TINY, fake_run, records


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


def test_a_study_that_had_its_second_stage_says_what_it_ran_and_grows_none_of_its_cells_again(tmp_path):
    src = REPO / "reports" / "fashion" / "records"
    if not (src / STAGES).is_file():
        pytest.skip("the committed Fashion study has no second stage")
    lines = []
    assert D.run(REPO / "params" / "fashion.yaml", tmp_path / "runs" / "fashion", REPO / "reports" / "fashion",
                 D.parse_budget("1h"), dry_run=True, log=lines.append) == 0
    stage = json.loads((src / STAGES).read_text())["stages"][0]
    assert lines[0].startswith("second stage already run") and "its cells get no further stage" in lines[0]
    assert len([ln for ln in lines if re.match(r"  claim \S+: .*: \+\d+ seeds in ", ln)]) == len(stage["parts"])
    closed = {D.cell_name(tuple(c)) for c in stage["cells"]}
    planned = {c for ln in lines if (m := re.match(r"    .* seeds \d+ -> \d+ in (.*)$", ln)) for c in m[1].split(", ")}
    assert not planned & closed, planned & closed
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("metrics.json"))


def test_a_stage_for_claims_added_since_grows_only_cells_no_stage_grew(tmp_path, monkeypatch, priced):
    """A study whose stage grew BN at batch 64 (for the report's claims) gets a further stage for the paper's claim
    G3 (GN above BN at batch 2), in cells of its own: BN at 64 is never grown again, so G1 (BN at 2 against BN at
    64, here 5 points apart, at the margin: open) is judged on the seeds it has; the stage is appended to stages.json with a grid
    file of its own."""
    runs = tmp_path / "runs"
    wobble = (-0.3, 0.2, 0.1, -0.2, 0.3, 0.0)
    for norm in ("bn", "gn"):
        for bs in (2, 64):
            for s in range(3):
                fake_run(runs, norm=norm, batch_size=bs, seed=s, epochs=2,
                         acc=round(80.0 - 5.0 * (bs == 2) + 0.4 * ((norm, bs) == ("gn", 2))
                                   + wobble[s] * (1 + (norm == "gn")), 2))
    grown = [fake_run(runs, norm="bn", batch_size=64, seed=s, epochs=2, acc=80.0 + wobble[s]).name for s in (3, 4, 5)]
    write_stages(runs, [SecondStage(budget="6", cells=[["bn", 64]], runs=grown, claims=["3"], measured_seconds=60.0)])
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({"base": {"dataset": "digits", "image_size": 63, "width": 0.25, "epochs": 2},
                                    "grids": [{"norm": ["bn", "gn"], "batch_size": [2, 64], "seed": [0, 1, 2]}]}))
    seen = []

    def fake_grid(grid_file, out, **kw):
        seen.append((grid_file.name, kw.get("record")))
        return {"completed": [], "diverged": [], "failed": []}
    monkeypatch.setattr(G, "run", fake_grid)
    lines = []
    assert D.run(grid, runs, tmp_path / "reports", D.parse_budget("100"), log=lines.append) == 0
    text = "\n".join(lines)
    assert text.startswith("second stage already run") and "claim G3:" in text
    assert "a cell it reads had its second stage already" in text          # G1's parts read BN at 64
    stages = read_stages(runs)
    assert len(stages) == 2 and stages[0].runs == grown
    assert ["bn", 64] not in stages[1].cells and ["gn", 2] in stages[1].cells and "G3" in stages[1].claims
    assert seen == [("stage2.2.yaml", "grid.stage2.2.json")] and (runs / "stage2.2.yaml").is_file()


# ---------------------------------------------------------------------------------------------------
# The executor that runs the stage: named, else the grid file's block, else local
# ---------------------------------------------------------------------------------------------------
def fashion_with(tmp_path, executor: dict | None) -> Path:
    """params/fashion.yaml with an executor block (or none)."""
    doc = yaml.safe_load((REPO / "params" / "fashion.yaml").read_text())
    if executor is not None:
        doc["executor"] = executor
    p = tmp_path / "fashion.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


@pytest.fixture
def priced(monkeypatch):
    """The cost estimate replaced by one that notes how it was asked (runs at once, threads per run, device) and
    prices every run at a minute: no calibration at an unrecorded thread count."""
    asked = []

    def estimate(todo, at_once, threads, folders, device_name, calibrate_shape=None, device=None):
        asked.append((at_once, threads, device))
        return E.Cost(60.0 * len(todo) / at_once, 60.0 * len(todo), 1, 0, per_run={c.run_id(): 60.0 for c in todo})
    monkeypatch.setattr(E, "estimate", estimate)
    return asked


@pytest.mark.parametrize("block, executor, slurm, at_once, threads", [
    (None, None, None, None, 1),                                            # local: one run per core
    (None, "local", None, None, 1),
    ({"type": "slurm", "parallel": 5, "cpus": 3}, None, None, 5, 3),        # the grid file's block
    ({"type": "slurm", "parallel": 5}, None, {"parallel": "3", "cpus": "2"}, 3, 2),   # --slurm wins
    (None, "slurm", {"parallel": "4"}, 4, 1),                               # --executor slurm, no block
    ({"type": "slurm", "parallel": 5}, "local", None, None, 1),             # --executor wins over the block
])
def test_the_executor_sizes_the_stage(tmp_path, priced, block, executor, slurm, at_once, threads):
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    lines = []
    assert D.run(fashion_with(tmp_path, block), tmp_path / "runs" / "fashion", reports, D.parse_budget("1h"),
                 dry_run=True, log=lines.append, executor=executor, slurm=slurm) == 0
    local = at_once is None
    at_once = at_once or min(cpu_cores(), 19)   # jobs auto: a run per core, at most one per cell priced (19)
    assert priced and {a[:2] for a in priced} == {(at_once, threads)}, priced
    text = "\n".join(lines)
    if local:
        assert "second stage on local: --jobs auto: one run per core" in text and "on this machine" in text
    else:
        assert f"second stage on slurm: SLURM: one array task per run, 1 GPU, {threads} CPU{'s' if threads > 1 else ''}" in text
        assert f"at this machine's rates, {at_once} at once" in text
        assert "the runs go to the executor's machines, priced at this machine's rates" in text
        assert "on this machine" not in text


def test_jobs_size_a_local_stage(tmp_path, priced):
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    D.run(REPO / "params" / "fashion.yaml", tmp_path / "runs", reports, D.parse_budget("1h"), jobs="1",
          dry_run=True, log=lambda s: None)
    assert {a[:2] for a in priced} == {(1, cpu_cores())}   # one at once: every core to it


def test_the_stages_grid_file_carries_its_executor_and_a_second_call_resumes_there(tmp_path, monkeypatch, priced):
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    runs = tmp_path / "runs" / "fashion"
    seen = []

    def fake_grid(grid_file, out, **kw):
        seen.append(kw)
        return {"completed": [], "diverged": [], "failed": []}
    monkeypatch.setattr(G, "run", fake_grid)
    grid = fashion_with(tmp_path, {"type": "slurm", "partition": "debug", "time": 30})
    assert D.run(grid, runs, reports, D.parse_budget("25"), log=lambda s: None, slurm={"cpus": "2"}) == 0
    block = yaml.safe_load((runs / D.STAGE_GRID).read_text())["executor"]
    assert block == {"type": "slurm", "partition": "debug", "time": 30, "cpus": "2"}
    # what the grid makes of the stage's file alone, as a second call without --executor runs it
    ex = G.make_executor(load_grid(runs / D.STAGE_GRID).executor)
    assert isinstance(ex, S.SlurmExecutor)
    assert (ex.opts["partition"], ex.opts["time"], ex.opts["cpus"]) == ("debug", 30, 2)
    assert D.run(grid, runs, reports, D.parse_budget("25"), log=lambda s: None) == 0
    assert [(kw["executor"], kw["slurm"]) for kw in seen] == [(None, {"cpus": "2"}), (None, None)]


def test_an_executor_named_over_the_grid_files_block_is_the_one_written(tmp_path, monkeypatch, priced):
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    runs = tmp_path / "runs" / "fashion"
    monkeypatch.setattr(G, "run", lambda *a, **kw: {"completed": [], "diverged": [], "failed": []})
    D.run(fashion_with(tmp_path, {"type": "slurm", "partition": "gpu"}), runs, reports, D.parse_budget("25"),
          log=lambda s: None, executor="local")
    assert yaml.safe_load((runs / D.STAGE_GRID).read_text())["executor"] == {"type": "local"}
    assert isinstance(G.make_executor(load_grid(runs / D.STAGE_GRID).executor), LocalExecutor)


def test_an_unknown_executor_or_setting_names_the_allowed_ones(tmp_path):
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    runs = tmp_path / "runs" / "fashion"
    with pytest.raises(GridError, match="unknown executor 'kubernetes'; allowed: local, slurm"):
        D.run(REPO / "params" / "fashion.yaml", runs, reports, D.parse_budget("1h"), executor="kubernetes")
    with pytest.raises(GridError, match="unknown executor 'ray'; allowed: local, slurm"):
        D.run(fashion_with(tmp_path, {"type": "ray"}), runs, reports, D.parse_budget("1h"))
    with pytest.raises(S.SlurmError, match="--slurm: unknown SLURM option.s. 'partion'; known SLURM options: part"):
        D.run(REPO / "params" / "fashion.yaml", runs, reports, D.parse_budget("1h"), executor="slurm",
              slurm={"partion": "gpu"})
    with pytest.raises(GridError, match="--slurm and --no-wait need --executor slurm"):
        D.run(REPO / "params" / "fashion.yaml", runs, reports, D.parse_budget("1h"), slurm={"partition": "gpu"})
    assert not runs.exists()


# ---------------------------------------------------------------------------------------------------
# Against a real SLURM
# ---------------------------------------------------------------------------------------------------
def tiny_study_grid(tmp_path, executor: dict) -> Path:
    """The Fashion study's BN and GN cells at the report's lr and 8 epochs, shrunk to seconds per run (synthetic
    data, 63 px, width 0.125), with an executor block: a second stage of the committed study that trains fast."""
    doc = {"base": {**{k: v for k, v in TINY.items() if k != "progress"}, "epochs": 8, "lr": 0.005},
           "grids": [{"norm": ["bn", "gn"], "batch_size": [8, 16, 32, 64], "seed": [0]}], "executor": executor}
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def test_a_slurm_studys_second_stage_runs_as_slurm_jobs(slurm, tmp_path):
    """The grid file names SLURM and nothing else does: the stage is planned here, sized by SLURM's description,
    submitted as one SLURM array whose tasks write the records (sacct: COMPLETED); with a run lost, a second call
    resumes it on SLURM from the stage's own grid file and submits that run only; once finished, a call with no
    budget says so and submits nothing."""
    reports = first_stage_of_the_committed_fashion_study(tmp_path)
    runs = tmp_path / "runs" / "fashion"
    grid = tiny_study_grid(tmp_path, {"type": "slurm", "gpus": 0, "cpus": 1})
    lines = []
    code = D.run(grid, runs, reports, D.parse_budget("8"), cap=5, log=lines.append)   # at most 8 runs
    text = "\n".join(lines)
    assert code == 0, text[-3000:]
    stage = json.loads((runs / STAGES).read_text())["stages"][0]
    n = len(stage["runs"])   # the planner sizes the stage (within the budget); the test follows what it planned
    assert 0 < n <= 8, stage
    assert "second stage on slurm: SLURM: one array task per run, 0 GPUs, 1 CPU, 60 min each" in text
    assert f"submitted {n} runs as job array" in text and f"all {n} runs done" in text
    assert yaml.safe_load((runs / D.STAGE_GRID).read_text())["executor"] == {"type": "slurm", "gpus": 0, "cpus": 1}
    ledger = json.loads((runs / S.LEDGER).read_text())
    assert sorted(ledger) == sorted(stage["runs"]) and len(ledger) == n
    recs = records(runs)
    assert sorted(recs) == sorted(stage["runs"]) and {m["status"] for m in recs.values()} == {"completed"}
    assert {r: m["env"]["slurm"]["job_id"] for r, m in recs.items()} == {r: j["job_id"] for r, j in ledger.items()}
    assert len({j["job_id"].split("_")[0] for j in ledger.values()}) == 1   # one array
    states = job_states([j["job_id"] for j in ledger.values()])
    assert {states[j["job_id"]]["State"] for j in ledger.values()} == {"COMPLETED"}, states
    (runs / stage["runs"][0] / "metrics.json").unlink()   # a run lost: the stage is not finished, so it resumes
    again = []
    assert D.run(grid, runs, reports, D.parse_budget("2h"), log=again.append) == 0
    text = "\n".join(again)
    assert "already planned" in again[0] and f"{n - 1} already done, 0 queued or running on SLURM, 1 to submit" in text
    assert "submitted 1 run as job array" in text and (runs / stage["runs"][0] / "metrics.json").is_file()
    done = []   # finished: said, and with no budget nothing further is planned or submitted
    assert D.run(grid, runs, reports, D.parse_budget("0"), log=done.append) == 0
    assert done[0].startswith("second stage already run") and "no further stage is planned" in "\n".join(done)
    assert "submitted" not in "\n".join(done)
