"""The grid runner: expands params/<grid>.yaml and executes notebooks/run.ipynb once per configuration
with papermill, into <out>/<run-id>/run.ipynb with metrics.json beside it.

Resumable (completed runs are skipped, interrupted ones resume from their checkpoint), keeps going past
failed and diverged runs, locks the output folder, runs ``--jobs`` at once and pins runs to ``--gpus``
(grid/local.py), or submits one SLURM array task per run (``--executor slurm``: grid/slurm.py).

    python -m alexlib.grid params/paper.yaml --out runs/paper [--jobs auto|N] [--threads N] [--gpus 0,1] [--dry-run]

Before it starts it prints the number of runs and the estimated time on this machine (grid/estimate.py).

From Python: ``run(grid_file, out, ...)`` returns the run ids by outcome.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, NoReturn

from ..paths import from_repo
from ..train.config import ConfigError, Help
from ..train.inputs.splits import DataError
from ..train.record import LACKABLE
from .backends import EXECUTORS, executor_class
from .executor import Executor, Options, run_plan, say
from .plan import GridError, load_grid, parse_pairs
from .watchdog import STALL_FLOOR_S, STALL_MARGIN, parse_stall

# What stops a grid before anything runs (a bad grid or setting, missing data, a locked or unwritable
# folder): the command line exits 2 with the message
REFUSED = (GridError, ConfigError, DataError, RuntimeError, PermissionError, ValueError)


def run(grid_file: str | Path, out: str | Path | None = None, executor: str | None = None,
        jobs: int | str = "auto", threads: int = 0, gpus: list[int] | str | None = None, dry_run: bool = False,
        wait: bool = False, overrides: dict[str, Any] | None = None,
        slurm: Mapping[str, Any] | None = None, no_wait: bool = False,
        log: Callable[[str], None] = say, estimate: bool = True, record: str = "grid.json",
        stall_timeout: str | None = None, rerun_changed: bool = False,
        rerun_lacking: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Run every configuration of a grid file not yet done, into ``out`` (default runs/<grid name>);
    returns run ids by outcome (completed, diverged, failed; planned for a dry run; submitted, queued and
    done with ``no_wait``); before it starts it prints the estimated time (``estimate``); ``record``: the file in
    ``out`` that keeps the expanded grid (a second stage keeps its own beside the first's). ``executor``: a name
    in alexlib.grid.backends (default: the grid file's ``executor: {type: ...}``, else local). ``stall_timeout``:
    auto or a duration (``20m``) without progress that ends a run (grid/watchdog.py; default: the grid file's
    ``stall_timeout``, else auto). ``rerun_changed``: finished runs that other training code made are trained
    again (by default they are reused and counted); ``rerun_lacking``: so are those whose records lack one of these
    fields (``bn_checks``: BatchNorm runs recorded before it). Raises one of REFUSED when the grid cannot start."""
    check_jobs(jobs, threads)
    stall_s = parse_stall(stall_timeout) if stall_timeout is not None else None
    grid_path = grid_file_path(grid_file)
    out = runs_folder(grid_file, out)
    plan = load_grid(grid_path, out, overrides)
    if stall_timeout is None and plan.stall_timeout is not None:
        stall_s = parse_stall(plan.stall_timeout, f"{grid_path}: stall_timeout")
    ex = make_executor(plan.executor, executor, jobs, threads, gpus, slurm, no_wait, stall_s)
    return run_plan(plan, out, ex, dry_run=dry_run, wait=wait, log=log, estimate_cost=estimate, record=record,
                    rerun_changed=rerun_changed, rerun_lacking=tuple(rerun_lacking))


def runs_folder(grid: str | Path, out: str | Path | None = None) -> Path:
    """Where a grid's runs go: ``out``, else runs/<the grid file's stem>."""
    return from_repo(out or f"runs/{Path(grid).stem}")


def grid_file_path(grid: str | Path) -> Path:
    """A grid file named as a path (from here, else from the repository's root) or by its name in params/
    (``fashion``: params/fashion.yaml); a name that is none of these comes back as a path, for load_grid to
    refuse with the list of grids."""
    for p in (Path(grid), from_repo(grid), from_repo(f"params/{grid}.yaml")):
        if p.is_file():
            return p
    return Path(grid)


def executor_name(block: Mapping[str, Any], executor: str | None = None) -> str:
    """The executor a grid runs on: the one named (``--executor``), else its file's ``executor: {type: ...}``,
    else local. An unknown name is a GridError naming the allowed ones."""
    name = executor or block.get("type") or "local"
    executor_class(name)
    return name


def make_executor(block: Mapping[str, Any], executor: str | None = None, jobs: int | str = "auto",
                  threads: int = 0, gpus: list[int] | str | None = None, slurm: Mapping[str, Any] | None = None,
                  no_wait: bool = False, stall_s: float | None = None) -> Executor:
    """The executor ``executor_name`` chooses, built from the command line's options and the grid file's
    executor ``block`` (the command line wins); its ``describe`` says how it will run a list of runs. ``stall_s``:
    seconds without progress that end a run (None: from its estimate, grid/watchdog.py)."""
    jobs = check_jobs(jobs, threads)
    if isinstance(gpus, str):
        gpus = [int(g) for g in gpus.split(",") if g.strip()] or None
    return executor_class(executor_name(block, executor)).from_options(
        Options(jobs, threads, gpus, dict(block), dict(slurm or {}), no_wait, stall_s))


def executor_block(block: Mapping[str, Any], executor: str | None = None,
                   slurm: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``executor:`` block that runs a grid file as ``make_executor`` runs it: the named executor, the
    file's settings when they are that executor's, then the command line's (a second stage's grid file carries
    it, so that resuming the stage runs it where it started)."""
    name = executor_name(block, executor)
    inherited = {k: v for k, v in block.items() if k != "type"} if block.get("type", name) == name else {}
    return {"type": name, **inherited, **dict(slurm or {})}


def check_jobs(jobs: int | str, threads: int = 0) -> int | str:
    """``--jobs`` as auto or a whole number of at least 1, ``--threads`` at least 0; a GridError says which."""
    if threads < 0:
        raise GridError(f"--threads must be at least 0 (0: divide the cores), got {threads}")
    return jobs if jobs == "auto" else _positive_int("--jobs", str(jobs))


def exit_code(outcome: dict[str, list[str]]) -> int:
    """1 when a run failed or was interrupted (not done), else 0."""
    return 1 if outcome.get("failed") or outcome.get("interrupted") else 0


def stop_at_once() -> NoReturn:
    """After Ctrl-C: exit 130 without waiting for the notebooks in flight. Their kernels exit with this
    process, and every file they write is atomic, so the next run resumes from the last finished epoch."""
    sys.stdout.flush()
    os._exit(130)


def _positive_int(flag: str, text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise GridError(f"{flag} takes auto or a whole number of at least 1, got {text!r}")
    return n


def add_executor_args(p: argparse.ArgumentParser, what: str = "the runs") -> None:
    """--executor and --slurm, as the grid and the pipeline take them."""
    p.add_argument("--executor", choices=tuple(EXECUTORS), default=None,
                   help=f"where {what} run: local, this machine; slurm, one SLURM array task per run; none: the "
                        "grid file's executor: block, else local")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="a SLURM setting, repeatable (partition, gpus, cpus, mem_gb, time, parallel, account, qos, "
                        "sbatch, requeues); wins over the grid file's executor: block")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.grid", description=__doc__.splitlines()[0],
                                formatter_class=Help)
    p.add_argument("grid", help="a grid file (path, or a name in params/: paper, paper_steps, quick, fashion, "
                                "demo, smoke)")
    p.add_argument("--out", metavar="FOLDER", default=None, help="output folder; none: runs/<grid name>")
    p.add_argument("--jobs", metavar="auto|N", default="auto",
                   help="runs at once: auto is one per core on a CPU (1 thread each), one per GPU on CUDA")
    p.add_argument("--threads", metavar="N", type=int, default=0,
                   help="CPU threads per run, a whole number; 0 divides the cores among the runs at once")
    p.add_argument("--gpus", metavar="I,J,...", default="", help="CUDA device indices to spread runs over")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs per block with their state and the estimate; train nothing")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the cost estimate (recorded rates, else a few seconds of calibration)")
    p.add_argument("--wait", action="store_true", help="wait for another runner on the folder instead of exiting")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter for every run, repeatable (e.g. --set device=cpu; keys: "
                        "python -m alexlib.train --help)")
    add_executor_args(p)
    p.add_argument("--no-wait", action="store_true", help="with --executor slurm: submit, print the job id, exit")
    p.add_argument("--stall-timeout", metavar="auto|DURATION", default=None,
                   help="a run that shows no progress (no output, nothing written in its folder) this long is "
                        "ended, recorded failed and resumable, and the grid goes on: a duration with its unit "
                        f"(90s, 20m, 2h), or auto: {STALL_MARGIN} x the run's estimated epoch, at least "
                        f"{STALL_FLOOR_S // 60} min; none: the grid file's stall_timeout, else auto")
    p.add_argument("--rerun-changed", action="store_true",
                   help="train again the finished runs whose records name other training code than this (their "
                        "records kept aside as metrics.code-<digest>.json); by default they are reused and counted")
    p.add_argument("--rerun-lacking", action="append", default=[], metavar="FIELD", choices=LACKABLE,
                   help="train again the finished runs whose records lack FIELD, written before it was recorded "
                        "(bn_checks: BatchNorm's accuracy with recomputed and with per-batch statistics; layers: "
                        "per-layer gradient norms and weight distances per epoch); their "
                        "records kept aside as metrics.lacks-FIELD.json; repeatable")
    a = p.parse_args(argv)
    try:
        outcome = run(a.grid, a.out, a.executor, a.jobs, a.threads, a.gpus or None, a.dry_run, a.wait,
                      parse_pairs(a.set), parse_pairs(a.slurm, "--slurm", str.strip), a.no_wait,
                      estimate=not a.no_estimate, stall_timeout=a.stall_timeout, rerun_changed=a.rerun_changed,
                      rerun_lacking=a.rerun_lacking)
    except REFUSED as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        stop_at_once()
    return exit_code(outcome)

