"""The whole pipeline for `make report` / `make demo`: grid -> runs/<grid> -> summary -> reports/<grid>.

    python -m alexlib.pipeline --grid auto|paper|quick|cifar10_jpeg|fashion|demo|path/to/grid.yaml [--jobs auto|N]
        [--executor local|slurm --slurm KEY=VALUE] [--decide BUDGET]

``auto`` runs the study (paper) on a machine with CUDA, and without one the best real-data CPU grid this
machine can feed: quick on CIFAR-10 when CIFAR-10 is there or downloads, else the study on the CIFAR-10 JPEG copy
(cifar10_jpeg) when the copy is found, else the Fashion-MNIST grid when
its files are there or download, else the digits demo (embedded in scikit-learn, no files). It says which
and why before it starts, and the report's first lines say it too.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

from . import decide
from .grid import command
from .grid.plan import parse_pairs
from .paths import PARAMS, from_repo
from .report.inference import planner
from .report.render.export import build_report
from .train.config import Help
from .train.inputs.datasets import check_available, title
from .train.inputs.splits import DataError

# Without CUDA, in order of preference: (grid, the dataset it needs)
CPU_GRIDS = (("quick", "cifar10"), ("cifar10_jpeg", "cifar10_jpeg"), ("fashion", "fashion_mnist"), ("demo", None))
GRID_NAMES = "paper|paper_steps|quick|cifar10_jpeg|fashion|demo"


def _have_cuda() -> str | None:
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def choose_grid(name: str, cuda: Callable[[], str | None] = _have_cuda,
                available: Callable[[str, Path], None] = check_available) -> tuple[Path, str]:
    """(the grid file, why it was chosen). ``cuda`` and ``available`` are seams for the tests."""
    why = ""
    if name == "auto":
        gpu = cuda()
        if gpu:
            name, why = "paper", (f"GRID=auto: CUDA device found ({gpu}): running the paper grid (CIFAR-10, 224 px). "
                                  f"Set GRID={GRID_NAMES} to choose.")
        else:
            missing = []
            for grid, dataset in CPU_GRIDS:
                if dataset is None:
                    name = grid
                    break
                try:
                    available(dataset, from_repo("data"))
                    name = grid
                    break
                except DataError as e:
                    # the reason without the machine's paths: it goes into the report
                    missing.append(f"{title(dataset)} was not found (data/, $ALEXLIB_CIFAR10_JPEG, ../shared/data)"
                                   if dataset == "cifar10_jpeg" else
                                   f"{title(dataset)} is not in data/ and could not be downloaded")
                    print(f"  {dataset}: {str(e).splitlines()[0][:300]}", flush=True)
            chose = {"quick": "the quick CPU grid on CIFAR-10", "fashion": "the Fashion-MNIST CPU grid",
                     "cifar10_jpeg": "the CPU study on CIFAR-10's images (JPEG q75 copy)",
                     "demo": "the digits demo (scikit-learn's embedded digits)"}[name]
            why = (f"GRID=auto: no CUDA device: running {chose}"
                   + (f", because {'; '.join(missing)}" if missing else "")
                   + f". Set GRID={GRID_NAMES} to choose.")
    p = PARAMS / f"{name}.yaml"
    return (p if p.exists() else from_repo(name)), why


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.pipeline", description=__doc__.splitlines()[0],
                                formatter_class=Help)
    p.add_argument("--grid", metavar="auto|paper|paper_steps|quick|cifar10_jpeg|fashion|demo|FILE", default="auto",
                   help="the grid; auto: paper with CUDA, else quick, cifar10_jpeg, fashion or demo by the data this machine has")
    p.add_argument("--jobs", metavar="auto|N", default="auto", help="runs at once (see python -m alexlib.grid --help)")
    p.add_argument("--gpus", metavar="I,J,...", default="", help="CUDA device indices to spread runs over")
    command.add_executor_args(p, "both stages (the second is sized by it)")
    p.add_argument("--dry-run", action="store_true",
                   help="say which grid, its runs per block and the estimated time; train nothing, build no report")
    p.add_argument("--decide", metavar="BUDGET", default="",
                   help="then add the seeds that decide the report's open claims, within BUDGET of this machine's "
                        "time (45m, 2h) or a number of runs, as a second stage (alexlib/decide.py)")
    p.add_argument("--cap", metavar="N", type=int, default=planner.CAP,
                   help="with --decide: seeds per cell at most, the first stage's included")
    p.add_argument("--against", metavar="auto|none|FOLDER", default="auto",
                   help="check the report against a committed one, cell by cell; auto: reports/<grid> when it holds "
                        "records")
    a = p.parse_args(argv)
    try:
        budget = decide.parse_budget(a.decide) if a.decide else None
        where = dict(executor=a.executor, slurm=parse_pairs(a.slurm, "--slurm", str.strip))
    except (decide.BudgetError, command.GridError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    grid_file, why = choose_grid(a.grid)
    if why:
        print(why, flush=True)
    name = grid_file.stem
    runs, reports = from_repo(f"runs/{name}"), from_repo(f"reports/{name}")
    t0 = time.monotonic()
    if a.dry_run:
        try:
            command.run(grid_file, runs, jobs=a.jobs, gpus=a.gpus or None, dry_run=True, **where)
        except command.REFUSED as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if budget is not None:
            try:
                decide.run(grid_file, runs, reports, budget, a.cap, a.jobs, a.gpus or None, dry_run=True, **where)
            except FileNotFoundError as e:
                print(f"second stage: not planned yet ({e})")
        print(f"then: the report into {reports}")
        return 0
    try:
        code = command.exit_code(command.run(grid_file, runs, jobs=a.jobs, gpus=a.gpus or None, **where))
    except command.REFUSED as e:
        print(f"error: {e}", file=sys.stderr)
        return 2  # bad grid or locked folder: nothing ran
    except KeyboardInterrupt:
        command.stop_at_once()
    if budget is not None and code == 0:
        try:
            code = decide.run(grid_file, runs, reports, budget, a.cap, a.jobs, a.gpus or None, **where)
        except command.REFUSED as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            command.stop_at_once()
    try:
        committed = (reports / "records").is_dir() and (reports / "report.html").is_file()   # not a study in progress
        against = (reports if committed else None) if a.against == "auto" else \
            None if a.against == "none" else from_repo(a.against)
        made = build_report(runs, reports, note=why.replace("GRID=auto: ", "Grid chosen automatically: ", 1) if why else "",
                            only_if_changed=True, against=against)
    except Exception as e:
        print(f"error: the report could not be built: {getattr(e, 'ename', type(e).__name__)}: "
              f"{getattr(e, 'evalue', e)}", file=sys.stderr)
        return 1
    print(f"pipeline {name}: {time.monotonic() - t0:.0f} s; report: " + ", ".join(str(v) for v in made.values()))
    return code


if __name__ == "__main__":
    sys.exit(main())
