"""Seeds on demand: after a grid's first stage, add the seeds that decide the report's open claims within a
budget, as the study's second stage, then rebuild the report (``make report DECIDE=45m``).

    python -m alexlib.pipeline --grid fashion --decide 1h [--cap 10] [--dry-run] [--executor slurm --slurm KEY=VALUE]

The first stage's verdicts (``alexlib.report``) say which parts are open and how many seeds each needs; this
machine's cost estimate (``alexlib.grid.estimate``), at the runs at once and threads per run of the executor that
will run the stage (its own ``describe``), prices a run of each cell; ``alexlib.report.inference.planner`` chooses
within the budget. The plan is printed before anything trains and written to <runs>/stages.json (with the
stage's own grid file, <runs>/stage2.yaml, which carries that executor's block) before its first run: the design's
second look needs the plan fixed before its data. Its runs go through the grid like any other (resumable,
interrupt-safe; an added seed is just another run), and a second call resumes the planned stage, on the same
executor, rather than plan a third look. A cell is grown by one stage at most: once a stage has run, a later call
plans only for open parts whose cells no stage grew (claims added since, on cells of their own), as a stage of
its own (stage2.2.yaml, its entry appended to stages.json).
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .grid import command, estimate
from .grid.executor import Executor
from .grid.plan import load_grid
from .io import utc_now, write_text
from .report.domain.learning import NEAR_CHANCE
from .report.domain.records import read_study_runs
from .report.domain.runs import cells_of
from .report.inference import planner
from .report.study import Study
from .stages import STAGES, SecondStage, grown_cells, read_stages, stage_name, write_stages
from .train.config import RunConfig
from .train.net.norms import SHORT_NAMES
from .train.record import read_metrics, record_paths
from .vocab import FINISHED, POWER_TEXT, REFERENCE_LR, fmt_time, nouned

STAGE_GRID = f"stage{stage_name(0)}.yaml"   # the first second stage's grid file; a later one's: stage_grid(i)


def stage_grid(i: int) -> str:
    """The grid file of the i-th stage that seeds on demand added (0: stage2.yaml, 1: stage2.2.yaml, ...)."""
    return f"stage{stage_name(i)}.yaml"


def stage_record(i: int) -> str:
    return f"grid.stage{stage_name(i)}.json"




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
        design = "fixed" if abs(c.lr - REFERENCE_LR) < 1e-12 else "lr_sweep"   # at the report's epochs
        if c.epochs == fixed_epochs and any(cell[0] == x[0] and abs(cell[1] - x[1]) < 1e-12
                                            for x in cells_of(c.norm, c.batch_size, c.lr, design)):
            return c
    return None


def cell_name(cell: tuple) -> str:
    return f"none lr {cell[1]:g}" if cell[0] == "lr" else f"{SHORT_NAMES[cell[0]]} batch {cell[1]}"


def make_plan(study: Study, grid_file: Path, runs_dir: Path, budget: Budget, cap: int,
              executor: Executor | None = None, log: Callable[[str], None] = print,
              closed: set[tuple] | None = None) -> tuple[planner.StagePlan, list[RunConfig], dict[str, Any]]:
    """The second stage for ``study`` (its first stage judged) within ``budget``: the plan, the runs it adds
    (configs into ``runs_dir``), and what the estimate rests on. ``executor``: what will run the stage (default:
    the grid file's executor block, else this machine); its own description sizes the stage: runs at once and
    CPU threads per run, which price each cell's runs."""
    grid = load_grid(grid_file, runs_dir)
    grid_runs = grid.runs
    executor = executor or command.make_executor(grid.executor)
    first = study.runs[(study.runs.stage == 1) & (study.runs.status == "completed")]
    seeds_now: dict[tuple, int] = {}
    for r in first.itertuples():
        for cell in cells_of(r.norm, r.batch_size, r.lr, r.design):
            seeds_now[cell] = seeds_now.get(cell, 0) + 1
    cells = {cell for c in study.claims() for p in c.parts for cell in p.cells}
    cells |= {planner.run_cell(cell) for cell in cells}   # the cells whose runs the seeds are
    templates = {cell: cfg for cell in cells if (cfg := cell_config(cell, grid_runs, study.fixed_epochs))}
    sample = list(templates.values())
    slots = executor.describe(sample)
    at_once, threads = slots.at_once, slots.threads
    folders = estimate.rate_folders(runs_dir)
    device = executor.estimate_device(sample) if sample else "cpu"
    name = estimate.device_name_here(device) if sample else ""
    cost = estimate.estimate(sample, at_once, threads, folders, name, device=device) if sample else None
    per_cell = {cell: cost.per_run[cfg.run_id()] / at_once for cell, cfg in templates.items()} if cost else {}
    untrained = {cell: NEAR_CHANCE for cell in study.near_chance()}
    plan = planner.plan_second_stage(study.claims(), seeds_now, lambda cell: per_cell.get(cell, float("inf")),
                                budget.seconds, budget.runs, cap, untrained, closed or set())
    start = int(study.runs.seed.max()) + 1
    by_id: dict[str, RunConfig] = {}   # run id -> config: the sweep's lr 0.005 cell is batch 64's none cell
    for cell, seeds in plan.new_seeds(start).items():
        base = templates[cell]
        for s in seeds:
            c = base.replace(seed=s)
            by_id.setdefault(c.run_id(), c.replace(out_dir=str(Path(runs_dir) / c.run_id())))
    added = list(by_id.values())
    line = estimate.estimate(added, at_once, threads, folders, name, device=device).line(len(added), at_once) \
        if added else ""
    if line and not executor.estimates:   # the runs go elsewhere (SLURM's nodes), never timed from here
        line = line.replace(" at once on this machine", " at once") + \
            "; the runs go to the executor's machines, priced at this machine's rates"
    info = {"at_once": at_once, "threads": threads, "slots": slots.line, "estimate": line,
            "where": "on this machine" if executor.estimates else f"at this machine's rates, {at_once} at once",
            "seeds_now": seeds_now, "first_seed": start}
    return plan, added, info


def plan_lines(plan: planner.StagePlan, seeds_now: dict[tuple, int], budget: Budget, cap: int,
               where: str = "on this machine") -> list[str]:
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
        cost = (f"about {fmt_time(cp.seconds)}" if math.isfinite(cp.seconds) else
                "at a cost unknown here (cells the grid file does not run)")
        lines.append(f"  not reached: claim {cp.claim} would add {cp.runs} runs, {cost}")
    for nd in plan.unplannable:
        lines.append(f"  cannot be planned: claim {nd.claim}, {nd.part.what} {nd.part.claimed()}: {nd.why_not}")
    lines.append(f"  in all: {plan.runs} runs in {len(plan.cells)} cells, about {fmt_time(plan.seconds)} {where}")
    return lines


def write_stage(runs_dir: Path, plan: planner.StagePlan, added: list[RunConfig], budget: Budget, cap: int,
                info: dict[str, Any], executor: Mapping[str, Any] | None = None, stall_timeout: Any = None,
                earlier: list[SecondStage] | None = None) -> Path:
    """The stage's grid file (with the ``executor`` block that runs it and the first stage's ``stall_timeout``,
    so that a second call resumes it there, watched alike) and its entry in stages.json after the ``earlier``
    stages' entries, both before its first run."""
    earlier = list(earlier or [])
    doc = {"description": f"second stage (seeds on demand, budget {budget.text})",
           "grids": [{"name": f"{c.norm} bs{c.batch_size} lr{c.lr:g} s{c.seed}",
                      **{k: v for k, v in c.to_dict().items() if k not in ("out_dir",)}} for c in added],
           **({"executor": dict(executor)} if executor else {}),
           **({"stall_timeout": stall_timeout} if stall_timeout is not None else {})}
    grid = Path(runs_dir) / stage_grid(len(earlier))
    grid.parent.mkdir(parents=True, exist_ok=True)   # a fresh clone plans from the committed records: no runs yet
    write_text(grid, yaml.safe_dump(doc, sort_keys=False))
    seeds = sorted({c.seed for c in added})
    entry = SecondStage(
        planned_at=utc_now(), budget=budget.text, cap=cap,
        rule=f"open parts' seeds for {POWER_TEXT} conditional power at the size that matters; claims cheapest first",
        claims=[cp.claim for cp in plan.chosen], unreached=[cp.claim for cp in plan.unreached],
        cells=[list(c) for c in plan.cells], seeds=f"{seeds[0]}–{seeds[-1]}" if seeds else "",
        runs=[c.run_id() for c in added], planned_seconds=plan.seconds, estimate=info["estimate"],
        parts=[{"claim": nd.claim, "part": nd.part.what, "add": nd.add, "cells": [list(c) for c in nd.cells]}
               for cp in plan.chosen for nd in cp.needs],
        executor=dict(executor) if executor else None)
    write_stages(Path(runs_dir), earlier + [entry])
    return grid


def run(grid_file: Path, runs_dir: Path, reports_dir: Path, budget: Budget, cap: int = planner.CAP,
        jobs: str | int = "auto", gpus: str | None = None, dry_run: bool = False,
        log: Callable[[str], None] = print, executor: str | None = None,
        slurm: Mapping[str, Any] | None = None) -> int:
    """Plan the second stage (or resume the one planned), print it, then (unless ``dry_run``) run it through the
    grid into ``runs_dir``. Returns the grid's exit code (0 for a dry run or an empty plan). ``executor`` and
    ``slurm`` as the grid takes them (``--executor``, ``--slurm KEY=VALUE``); none named: the grid file's executor
    block, else local, and on resuming, the block the stage's own grid file carries."""
    stages_file = Path(runs_dir) / STAGES
    run_stage = dict(jobs=jobs, gpus=gpus, executor=executor, slurm=slurm, log=log)
    if stages_file.is_file() and not dry_run:
        planned = read_stages(Path(runs_dir))
        i, entry = len(planned) - 1, planned[-1]
        if not _stage_done(Path(runs_dir), entry):
            log(f"second stage already planned {entry.planned_at} (budget {entry.budget}, {len(entry.runs)} runs): "
                "resuming it; the test has two looks, so its cells get no further stage")
            return _run_grid(Path(runs_dir) / stage_grid(i), runs_dir, stages_file, i, **run_stage)
    first = load_grid(grid_file)
    first_block = first.executor
    runner = command.make_executor(first_block, executor, jobs, 0, gpus, slurm)   # a bad name or setting stops here
    block = command.executor_block(first_block, executor, slurm)
    source = first_stage_folder(Path(runs_dir), Path(reports_dir))
    found = read_study_runs(source)
    unfinished = [st for st in found.stages if not _stage_done(source, st)]
    for st in unfinished:
        log(f"second stage planned {st.planned_at} (budget {st.budget}, {len(st.runs)} runs) and not finished: a run "
            "without --dry-run resumes it before anything else is planned")
    if unfinished:
        return 0
    for st in found.stages:
        log(f"second stage already run (planned {st.planned_at}, budget {st.budget}): "
            f"{len(st.runs)} runs for {nouned(st.claims, 'claim')}, planned "
            f"{fmt_time(st.planned_seconds)}, measured {fmt_time(st.measured_seconds)}; "
            "the test has two looks, so its cells get no further stage")
        for part in st.parts:
            log(f"  claim {part['claim']}: {part['part']}: +{part['add']} seeds in "
                f"{', '.join(cell_name(tuple(c)) for c in part['cells'])}")
        if st.unreached:
            log(f"  not reached: {nouned(st.unreached, 'claim')}")
    closed = grown_cells(found.stages)
    study = Study(found.runs, {"table": {}, "sweep": {}}, Path(reports_dir), found.problems, found.duplicates,
                  fixed_epochs=found.fixed_epochs, stages=found.stages)
    look = "its looks so far" if found.stages else "the first look"
    for c in study.claims():
        log(f"claim {c.id} at {look}: {c.verdict} ({sum(p.outcome == 'open' for p in c.parts)} open parts)")
    plan, added, info = make_plan(study, grid_file, runs_dir, budget, cap, runner, log, closed)
    if found.stages and not added:
        for line in plan_lines(plan, info["seeds_now"], budget, cap, info["where"]):
            log(line)
        log("no further stage is planned")
        return 0
    log(f"second stage on {block['type']}: {info['slots']}"
        + (f" (for the cells no earlier stage grew; {len(closed)} cells closed)" if found.stages else ""))
    for line in plan_lines(plan, info["seeds_now"], budget, cap, info["where"]):
        log(line)
    if info["estimate"]:
        log(info["estimate"])
    if dry_run or not added:
        log("dry run: nothing trained" if dry_run else "nothing to add")
        return 0
    grid = write_stage(Path(runs_dir), plan, added, budget, cap, info, block, first.stall_timeout, found.stages)
    return _run_grid(grid, runs_dir, stages_file, len(found.stages), **run_stage)


def _stage_done(runs_dir: Path, entry: SecondStage) -> bool:
    """Whether every run of a planned stage has finished (completed or diverged) in ``runs_dir``."""
    return all((read_metrics(runs_dir / rid) or {}).get("status") in FINISHED for rid in entry.runs)


def _run_grid(grid_file: Path, runs_dir: Path, stages_file: Path, i: int = 0, **grid: Any) -> int:
    """The i-th stage through the grid (``grid``: command.run's jobs, gpus, executor, slurm and log), its wall
    time added to its entry in stages.json."""
    t0 = time.monotonic()
    code = command.exit_code(command.run(grid_file, runs_dir, record=stage_record(i), **grid))
    stages = read_stages(Path(runs_dir))
    stages[i].measured_seconds += time.monotonic() - t0
    write_stages(Path(runs_dir), stages)
    return code
