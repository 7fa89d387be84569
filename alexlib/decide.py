"""Seeds on demand: after a grid's first stage, add the seeds that decide the report's open claims within a
budget, as the study's second stage, then rebuild the report (``make report DECIDE=45m``).

    python -m alexlib.pipeline --grid fashion --decide 1h [--cap 10] [--dry-run]

The first stage's verdicts (``alexlib.report``) say which parts are open and how many seeds each needs; this
machine's cost estimate (``alexlib.grid.estimate``) prices a run of each cell; ``alexlib.report.inference.planner`` chooses
within the budget. The plan is printed before anything trains and written to <runs>/stages.json (with the
stage's own grid file, <runs>/stage2.yaml) before its first run: the design's second look needs the plan fixed
before its data. Its runs go through the grid like any other (resumable, interrupt-safe; an added seed is just
another run), and a second call resumes the planned stage rather than plan a third look.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .grid import command, estimate
from .grid.local import parallelism
from .grid.plan import load_grid
from .io import read_json, utc_now, write_json, write_text
from .report.domain.runs import STAGES, read_study_runs
from .report.inference import planner
from .report.study import Study
from .train.config import RunConfig
from .train.norms import SHORT_NAMES
from .train.record import record_paths
from .vocab import ANCHOR_BATCH, REFERENCE_LR, fmt_time

STAGE_GRID = "stage2.yaml"


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class Budget:
    text: str
    seconds: float | None = None
    runs: int | None = None


def parse_budget(text: str) -> Budget:
    """``45m``, ``2h``, ``1h30m``, ``90s`` (wall time on this machine) or a plain number of runs."""
    t = str(text).strip().lower()
    if re.fullmatch(r"\d+", t):
        return Budget(text, runs=int(t))
    m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)s)?", t)
    if not t or not m or not any(m.groups()):
        raise BudgetError(f"--decide takes a time such as 45m, 2h or 1h30m, or a number of runs; got {text!r}")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return Budget(text, seconds=h * 3600 + mi * 60 + s)


def first_stage_folder(runs_dir: Path, reports_dir: Path) -> Path:
    """Where the first stage's records are: the runs folder when it holds records, else the committed report's
    (a fresh clone plans from the committed study)."""
    if record_paths(runs_dir):
        return runs_dir
    if record_paths(reports_dir / "records"):
        return reports_dir / "records"
    raise FileNotFoundError(f"no records in {runs_dir} or {reports_dir / 'records'}: run the grid first")


def cell_config(cell: tuple, grid_runs: list[RunConfig], fixed_epochs: int) -> RunConfig | None:
    """A configuration of ``cell`` in the grid as written: (norm, batch) of the report's design, or ("lr", lr)."""
    for c in grid_runs:
        if cell[0] == "lr":
            hit = c.norm == "none" and c.batch_size == ANCHOR_BATCH and abs(c.lr - cell[1]) < 1e-12
        else:
            hit = c.norm == cell[0] and c.batch_size == cell[1] and abs(c.lr - REFERENCE_LR) < 1e-12
        if hit and c.epochs == fixed_epochs:
            return c
    return None


def cell_name(cell: tuple) -> str:
    return f"none lr {cell[1]:g}" if cell[0] == "lr" else f"{SHORT_NAMES[cell[0]]} batch {cell[1]}"


def make_plan(study: Study, grid_file: Path, runs_dir: Path, budget: Budget, cap: int, jobs: str | int = "auto",
              log: Callable[[str], None] = print) -> tuple[planner.StagePlan, list[RunConfig], dict[str, Any]]:
    """The second stage for ``study`` (its first stage judged) within ``budget``: the plan, the runs it adds
    (configs into ``runs_dir``), and what the estimate rests on."""
    grid_runs = load_grid(grid_file, runs_dir).runs
    first = study.runs[(study.runs.stage == 1) & (study.runs.status == "completed")]
    seeds_now: dict[tuple, int] = {}
    for r in first.itertuples():
        if r.design == "fixed":
            seeds_now[(r.norm, int(r.batch_size))] = seeds_now.get((r.norm, int(r.batch_size)), 0) + 1
        if r.norm == "none" and r.batch_size == ANCHOR_BATCH and r.design in ("fixed", "lr_sweep"):
            seeds_now[("lr", float(r.lr))] = seeds_now.get(("lr", float(r.lr)), 0) + 1
    cells = {cell for c in study.claims() for p in c.parts for cell in p.cells}
    cells |= {planner.run_cell(cell) for cell in cells}   # the cells whose runs the seeds are
    templates = {cell: cfg for cell in cells if (cfg := cell_config(cell, grid_runs, study.fixed_epochs))}
    at_once, threads, _ = parallelism(jobs if jobs == "auto" else int(jobs), list(templates.values()))
    folders = [runs_dir, *sorted(Path(runs_dir).parent.parent.glob("reports/*/records"))]
    sample = list(templates.values())
    cost = estimate.estimate(sample, at_once, threads, folders, estimate.device_name_here(sample[0].device)) if sample else None
    per_cell = {cell: cost.per_run[cfg.run_id()] / at_once for cell, cfg in templates.items()} if cost else {}
    untrained = {cell: "near chance" for cell, f in study.flags.items() if "near chance" in f}
    untrained |= {("lr", lr): "near chance" for lr, f in study.lr_flags.items() if "near chance" in f}
    plan = planner.plan_second_stage(study.claims(), seeds_now, lambda cell: per_cell.get(cell, float("inf")),
                                budget.seconds, budget.runs, cap, untrained)
    start = int(study.runs.seed.max()) + 1
    by_id: dict[str, RunConfig] = {}   # run id -> config: the sweep's lr 0.005 cell is batch 64's none cell
    for cell, seeds in plan.new_seeds(start).items():
        base = templates[cell]
        for s in seeds:
            c = base.replace(seed=s)
            by_id.setdefault(c.run_id(), c.replace(out_dir=str(Path(runs_dir) / c.run_id())))
    added = list(by_id.values())
    line = estimate.estimate(added, at_once, threads, folders, estimate.device_name_here(added[0].device)).line(len(added), at_once) \
        if added else ""
    info = {"at_once": at_once, "threads": threads, "estimate": line,
            "seeds_now": seeds_now, "first_seed": start}
    return plan, added, info


def plan_lines(plan: planner.StagePlan, seeds_now: dict[tuple, int], budget: Budget, cap: int) -> list[str]:
    """The plan as the console prints it: per claim and part, seeds now -> planned, cells, runs, time."""
    lines = [f"second stage, budget {budget.text}, at most {cap} seeds per cell:"]
    if not plan.chosen:
        lines.append("  nothing planned: " + ("no open part" if not (plan.unreached or plan.unplannable) else
                                              "the budget covers no claim's open parts"))
    for cp in plan.chosen:
        lines.append(f"  claim {cp.claim}: {cp.runs} runs, {fmt_time(cp.seconds)}")
        for nd in cp.needs:
            now = min(seeds_now.get(c, 0) for c in nd.cells)
            lines.append(f"    {nd.part.what} {nd.part.claimed()}: seeds {now} -> {now + nd.add} in "
                         f"{', '.join(map(cell_name, nd.cells))}")
    for cp in plan.unreached:
        lines.append(f"  not reached: claim {cp.claim} would add {cp.runs} runs, about {fmt_time(cp.seconds)}")
    for nd in plan.unplannable:
        lines.append(f"  cannot be planned: claim {nd.claim}, {nd.part.what} {nd.part.claimed()}: {nd.why_not}")
    lines.append(f"  in all: {plan.runs} runs in {len(plan.cells)} cells, about {fmt_time(plan.seconds)} on this machine")
    return lines


def write_stage(runs_dir: Path, plan: planner.StagePlan, added: list[RunConfig], budget: Budget, cap: int,
                info: dict[str, Any]) -> Path:
    """The stage's grid file and its entry in stages.json, both before its first run."""
    doc = {"description": f"second stage (seeds on demand, budget {budget.text})",
           "grids": [{"name": f"{c.norm} bs{c.batch_size} lr{c.lr:g} s{c.seed}",
                      **{k: v for k, v in c.to_dict().items() if k not in ("out_dir",)}} for c in added]}
    grid = Path(runs_dir) / STAGE_GRID
    write_text(grid, yaml.safe_dump(doc, sort_keys=False))
    seeds = sorted({c.seed for c in added})
    entry = {"stage": 2, "planned_at": utc_now(), "budget": budget.text, "cap": cap,
             "rule": "open parts' seeds for 80 % conditional power at the size that matters; claims cheapest first",
             "claims": [cp.claim for cp in plan.chosen], "unreached": [cp.claim for cp in plan.unreached],
             "cells": [list(c) for c in plan.cells], "seeds": f"{seeds[0]}–{seeds[-1]}" if seeds else "",
             "runs": [c.run_id() for c in added], "planned_seconds": plan.seconds, "estimate": info["estimate"],
             "parts": [{"claim": nd.claim, "part": nd.part.what, "add": nd.add, "cells": [list(c) for c in nd.cells]}
                       for cp in plan.chosen for nd in cp.needs]}
    write_json(Path(runs_dir) / STAGES, {"stages": [entry]})
    return grid


def run(grid_file: Path, runs_dir: Path, reports_dir: Path, budget: Budget, cap: int = planner.CAP,
        jobs: str | int = "auto", gpus: str | None = None, dry_run: bool = False,
        log: Callable[[str], None] = print) -> int:
    """Plan the second stage (or resume the one planned), print it, then (unless ``dry_run``) run it through the
    grid into ``runs_dir``. Returns the grid's exit code (0 for a dry run or an empty plan)."""
    stages_file = Path(runs_dir) / STAGES
    if stages_file.is_file() and not dry_run:
        entry = read_json(stages_file)["stages"][0]
        log(f"second stage already planned {entry['planned_at']} (budget {entry['budget']}, {len(entry['runs'])} runs): "
            "resuming it; the design has two looks, so no further stage is planned")
        return _run_grid(Path(runs_dir) / STAGE_GRID, runs_dir, jobs, gpus, stages_file)
    source = first_stage_folder(Path(runs_dir), Path(reports_dir))
    found = read_study_runs(source)
    if found.stages:
        st = found.stages[0]
        log(f"second stage already run (planned {st.get('planned_at')}, budget {st.get('budget')}): "
            f"{len(st.get('runs', []))} runs for claim(s) {', '.join(st.get('claims', []))}, planned "
            f"{fmt_time(st.get('planned_seconds', 0))}, measured {fmt_time(st.get('measured_seconds', 0))}; "
            "the design has two looks, so no further stage is planned")
        for part in st.get("parts", []):
            log(f"  claim {part['claim']}: {part['part']}: +{part['add']} seeds in "
                f"{', '.join(cell_name(tuple(c)) for c in part['cells'])}")
        if st.get("unreached"):
            log(f"  not reached: claim(s) {', '.join(st['unreached'])}")
        return 0
    study = Study(found.runs, {"table": {}, "sweep": {}}, Path(reports_dir), found.problems, found.duplicates,
                  fixed_epochs=found.fixed_epochs, stages=found.stages)
    for c in study.claims():
        log(f"claim {c.id} at the first look: {c.verdict} ({sum(p.outcome == 'open' for p in c.parts)} open parts)")
    plan, added, info = make_plan(study, grid_file, runs_dir, budget, cap, jobs, log)
    for line in plan_lines(plan, info["seeds_now"], budget, cap):
        log(line)
    if info["estimate"]:
        log(info["estimate"])
    if dry_run or not added:
        log("dry run: nothing trained" if dry_run else "nothing to add")
        return 0
    stage_grid = write_stage(Path(runs_dir), plan, added, budget, cap, info)
    return _run_grid(stage_grid, runs_dir, jobs, gpus, stages_file)


def _run_grid(stage_grid: Path, runs_dir: Path, jobs, gpus, stages_file: Path) -> int:
    t0 = time.monotonic()
    code = command.exit_code(command.run(stage_grid, runs_dir, jobs=jobs, gpus=gpus, record="grid.stage2.json"))
    doc = read_json(stages_file)
    doc["stages"][0]["measured_seconds"] = doc["stages"][0].get("measured_seconds", 0.0) + (time.monotonic() - t0)
    write_json(stages_file, doc)
    return code
