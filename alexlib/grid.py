"""The grid runner: expands params/<grid>.yaml and executes notebooks/run.ipynb once per configuration
with papermill, into <out>/<run-id>/run.ipynb with metrics.json beside it.

Resumable (completed runs are skipped, interrupted ones resume from their checkpoint), keeps going past
failed and diverged runs, locks the output folder, runs ``--jobs`` at once and pins runs to ``--gpus``.

    python -m alexlib.grid params/paper.yaml --out runs/paper [--jobs auto|N] [--threads N] [--gpus 0,1] [--dry-run]

On a CPU, runs at once share the cores: each gets cores // jobs threads (set before its kernel starts
torch), so --jobs N speeds a grid up instead of oversubscribing the CPU. ``--jobs auto`` (the default)
runs as many at once as there are cores, one thread each, on a CPU (measured fastest for the CPU grids:
docs/PERFORMANCE.md), and one run per GPU on CUDA.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError, RunConfig
from .data import DataError, check_available
from .io import FolderLock, check_writable, write_json
from .notebook import execute as run_notebook
from .paths import RUN_NOTEBOOK, from_repo
from .device import resolved_precision_here
from .records import CHECKPOINT, METRICS, read_metrics, same_run

GRID_KEYS = ("description", "base", "grids", "executor")  # executor: read by alexlib.slurm
KERNEL_START_TRIES = 3  # papermill kernel starts can race when several runs start at once
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # read once, when a kernel's torch starts


class GridError(ValueError):
    """A grid file that cannot be used; the message names the file, the key and what is allowed."""


@dataclass
class Plan:
    name: str
    description: str
    runs: list[RunConfig]


def load_grid(path: str | Path, out: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Plan:
    """Read and check a grid file; every run's config is validated before anything runs."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GridError(f"grid file {where} does not exist (grids live in params/: "
                        f"{', '.join(sorted(p.name for p in from_repo('params').glob('*.yaml')))})") from None
    except UnicodeDecodeError as e:
        raise GridError(f"{where} is not UTF-8 text ({e})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GridError(f"{where} is not valid YAML: {e}") from None
    if doc is None:
        raise GridError(f"{where} is empty; it needs 'base' and 'grids' (see params/paper.yaml)")
    if not isinstance(doc, dict):
        raise GridError(f"{where} must be a mapping with keys {', '.join(GRID_KEYS)}, got {type(doc).__name__}")
    unknown = sorted(set(map(str, doc)) - set(GRID_KEYS))
    if unknown:
        raise GridError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(GRID_KEYS)}")
    base = doc.get("base") or {}
    grids = doc.get("grids")
    if not isinstance(base, dict):
        raise GridError(f"{where}: 'base' must be a mapping of run parameters")
    if not grids or not isinstance(grids, list):
        raise GridError(f"{where}: 'grids' must be a non-empty list of mappings (the grid is empty)")
    fields = set(RunConfig.field_names())
    runs: dict[str, RunConfig] = {}
    for i, g in enumerate(grids):
        if not isinstance(g, dict):
            raise GridError(f"{where}: grids[{i}] must be a mapping of parameter: value or [values]")
        label = f"{where}: grids[{i}]" + (f" ({g['name']})" if "name" in g else "")
        axes = {k: v for k, v in g.items() if k not in ("name", "zip")}
        paired = _zip_axes(g.get("zip"), label) if "zip" in g else {}
        both = sorted(set(axes) & set(paired))
        if both:
            raise GridError(f"{label}: {', '.join(both)} is both an axis and in zip; give it in one place")
        bad = sorted(set(map(str, axes)) - fields) + sorted(set(map(str, paired)) - fields) + \
            sorted(set(map(str, base)) - fields)
        if bad:
            raise GridError(f"{label}: unknown parameter(s) {', '.join(bad)}; known: {', '.join(sorted(fields))}")
        lists = {k: (v if isinstance(v, list) else [v]) for k, v in axes.items()}
        empty = [k for k, v in lists.items() if not v]
        if empty:
            raise GridError(f"{label}: {', '.join(empty)} has an empty list (the grid is empty)")
        # the zip block is one more axis whose values are tuples: its lists are read element by element
        zipped = [dict(zip(paired, vals)) for vals in zip(*paired.values())] if paired else [{}]
        for combo in itertools.product(*lists.values(), zipped):
            values = {**base, **dict(zip(lists, combo[:-1])), **combo[-1], **(overrides or {})}
            try:
                cfg = RunConfig.from_dict(values)
            except ConfigError as e:
                raise GridError(f"{label}: {e}") from None
            if out is not None:
                cfg = cfg.replace(out_dir=str(Path(out) / cfg.run_id()))
            runs.setdefault(cfg.run_id(), cfg)  # a config shared by two grids runs once (the id names its key)
    return Plan(path.stem, str(doc.get("description") or ""), list(runs.values()))


def _zip_axes(block: Any, label: str) -> dict[str, list]:
    """A grid's ``zip:`` block: parameters whose lists vary together, element by element, instead of being
    crossed (``batch_size: [8, 64]`` with ``epochs: [1, 8]`` gives two runs, not four)."""
    if not isinstance(block, dict) or not block:
        raise GridError(f"{label}: zip must be a mapping of two or more parameters to lists of equal length, "
                        f"e.g. zip: {{batch_size: [8, 64], epochs: [1, 8]}}")
    scalars = [str(k) for k, v in block.items() if not isinstance(v, list)]
    if scalars:
        raise GridError(f"{label}: zip: {', '.join(scalars)} must be a list (a single value belongs outside zip)")
    if len(block) < 2:
        raise GridError(f"{label}: zip pairs two or more parameters; with only {next(iter(block))}, "
                        f"give it as an ordinary axis")
    lengths = {str(k): len(v) for k, v in block.items()}
    if len(set(lengths.values())) != 1:
        raise GridError(f"{label}: zip lists must have equal lengths (they are read element by element), got "
                        + ", ".join(f"{k} {n}" for k, n in lengths.items()))
    if not next(iter(lengths.values())):
        raise GridError(f"{label}: zip lists are empty (the grid is empty)")
    return {str(k): v for k, v in block.items()}


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set key=value`` pairs, values parsed as YAML scalars (so 0.01 is a number)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise GridError(f"--set takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def status_of(cfg: RunConfig) -> str:
    """done (completed or diverged, same config), resume (checkpoint there), or new."""
    out = Path(cfg.out_dir)
    m = read_metrics(out)
    if (m is not None and m.get("status") in ("completed", "diverged")
            and same_run(m, cfg, resolved_precision_here(cfg))[0]):
        return "done"
    if (out / CHECKPOINT).exists():
        return "resume"
    return "new"


def _kernel_start_failure(e: BaseException) -> bool:
    text = f"{type(e).__name__}: {e}"
    return any(s in text for s in ("Kernel didn't respond", "Kernel died before replying", "kernel_info",
                                   "TimeoutError", "ZMQ"))


def execute(cfg: RunConfig, notebook: Path = RUN_NOTEBOOK, log=print) -> dict[str, Any]:
    """Run the notebook for one config; returns its metrics record (``failed`` written here if the
    notebook died before train() could record anything)."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = cfg.replace(progress=True).to_dict()
    err: BaseException | None = None
    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            run_notebook(notebook, out / "run.ipynb", params)
            err = None
            break
        except Exception as e:  # PapermillExecutionError, kernel death, start timeouts
            err = e
            if _kernel_start_failure(e) and attempt < KERNEL_START_TRIES:
                log(f"  {cfg.run_id()}: kernel did not start ({type(e).__name__}); retry {attempt + 1}/{KERNEL_START_TRIES}")
                time.sleep(2 * attempt)
                continue
            break
    m = read_metrics(out)
    if m is not None and not same_run(m, cfg, resolved_precision_here(cfg))[0]:
        # the folder holds another run's record (another config, or this one run elsewhere at another
        # precision): never overwrite it; this run's failure is reported, not written there
        return {"status": "failed", "error": _short_error(err) if err else f"{out} holds another run's record"}
    if err is not None and "is in use by" in _short_error(err):  # another process owns this run: leave its files
        return {"status": "failed", "error": _short_error(err)}
    if err is not None and m is not None and m.get("status") in ("completed", "diverged"):
        # train() finished and recorded its result; a later cell (table, plot) failed: keep the result
        log(f"  {cfg.run_id()}: {m['status']}, but the notebook failed after training: {_short_error(err)[:300]}")
        return m
    # a record of our own, for a failure train() could not record (the kernel did not start or died)
    own = {"run_id": cfg.run_id(), "config": cfg.to_dict(), "history": [], "final": None,
           "env": {"precision": resolved_precision_here(cfg)}}
    if err is not None and (m is None or m.get("status") != "failed"):
        m = (m or own) | {"status": "failed", "error": _short_error(err)}
        write_json(out / METRICS, m)
    if m is None:
        m = own | {"status": "failed", "error": "the notebook finished without writing metrics.json"}
        write_json(out / METRICS, m)
    return m


def _short_error(e: BaseException) -> str:
    name = getattr(e, "ename", type(e).__name__)
    value = getattr(e, "evalue", str(e))
    return f"{name}: {value}"[:2000]


def _fmt_time(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _on_cuda(cfg: RunConfig) -> bool:
    import torch
    return cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())


def parallelism(jobs: int | str, todo: list[RunConfig], gpus: list[int] | None = None,
                threads: int = 0, cores: int | None = None) -> tuple[int, int, str]:
    """(runs at once, CPU threads per run, a line saying why)."""
    cores = cores or cpu_cores()
    cuda = any(_on_cuda(c) for c in todo)
    if jobs == "auto":
        jobs = (len(gpus) if gpus else 1) if cuda else max(1, min(cores, len(todo)))
        why = "--jobs auto: " + ("one run per GPU" if cuda else "one run per core (fastest measured on the CPU)")
    else:
        why = f"--jobs {jobs}"
    per_run = threads or max(1, cores // jobs)
    return jobs, per_run, f"{why}: {jobs} run(s) at once, {per_run} CPU thread(s) each ({cores} cores)"


def run_grid(plan: Plan, out: Path, jobs: int | str = 1, gpus: list[int] | None = None, dry_run: bool = False,
             notebook: Path = RUN_NOTEBOOK, wait: bool = False, threads: int = 0) -> dict[str, list[str]]:
    """Run every configuration of ``plan`` not yet done; returns run ids by outcome."""
    states = [(cfg, status_of(cfg)) for cfg in plan.runs]
    todo = [c for c, s in states if s != "done"]
    done_before = len(states) - len(todo)
    print(f"grid {plan.name}: {len(states)} runs, {done_before} already done, {len(todo)} to run "
          f"({sum(s == 'resume' for _, s in states)} resuming) -> {out}", flush=True)
    jobs, per_run, why = parallelism(jobs, todo, gpus, threads)
    if todo:
        print(why, flush=True)
    if dry_run:
        for cfg, s in states:
            print(f"  {s:<7} {cfg.run_id()}")
        return {"planned": [c.run_id() for c in todo]}

    check_writable(out)
    for dataset, data_dir in sorted({(c.dataset, c.data_dir) for c in todo}):
        check_available(dataset, from_repo(data_dir))  # missing data stops the grid here, not in every run
    with FolderLock(out, "alexlib.grid").acquire(wait=wait):
        write_json(out / "grid.json", {"grid": plan.name, "description": plan.description,
                                       "runs": [c.to_dict() for c in plan.runs]})
        if gpus:
            todo = [c.replace(device=f"cuda:{gpus[i % len(gpus)]}") for i, c in enumerate(todo)]
        # each run's share of the cores: in its config (torch.set_num_threads in train) and in the
        # kernel's environment, so OpenMP starts with that many threads, not one per core
        todo = [c if c.threads else c.replace(threads=per_run) for c in todo]
        saved_env = {v: os.environ.get(v) for v in THREAD_VARS}
        os.environ.update({v: str(per_run) for v in THREAD_VARS})
        outcome: dict[str, list[str]] = {"completed": [], "diverged": [], "failed": []}
        t0 = time.monotonic()

        def one(cfg: RunConfig):
            t = time.monotonic()
            m = execute(cfg, notebook)
            return cfg, m, time.monotonic() - t

        finished = 0
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            futures = [pool.submit(one, c) for c in todo]
            for fut in as_completed(futures):
                cfg, m, secs = fut.result()
                finished += 1
                status = m.get("status", "failed")
                outcome.setdefault(status, []).append(cfg.run_id())
                acc = (m.get("final") or {}).get("test_acc")
                elapsed = time.monotonic() - t0
                eta = elapsed / finished * (len(todo) - finished)
                what = f"test {acc:.2f}%" if acc is not None and status == "completed" else \
                    (m.get("error", "")[:80] if status == "failed" else status)
                print(f"[{done_before + finished:>3}/{len(states)}] {status:<9} {cfg.run_id():<44} "
                      f"{what:<14} {secs:6.0f} s | elapsed {_fmt_time(elapsed)}, ETA {_fmt_time(eta)}", flush=True)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            print("\ninterrupted: finished runs are kept, interrupted ones resume from their last epoch; "
                  "rerun the same command", flush=True)
            raise
        finally:
            for v, old in saved_env.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        pool.shutdown()
    bad = outcome["failed"]
    if outcome["diverged"]:
        print(f"diverged ({len(outcome['diverged'])}): {', '.join(outcome['diverged'])}")
    if bad:
        print(f"FAILED ({len(bad)}): " + ", ".join(bad) + f"\n  see <run>/metrics.json 'error' and <run>/run.ipynb in {out}")
    else:
        print(f"grid {plan.name}: all {len(states)} runs done ({len(outcome['diverged'])} diverged)")
    return outcome


def _positive_int(flag: str, text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise GridError(f"{flag} takes auto or a whole number of at least 1, got {text!r}")
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.grid", description=__doc__.splitlines()[0])
    p.add_argument("grid", help="a grid file, e.g. params/paper.yaml")
    p.add_argument("--out", help="output folder (default: runs/<grid name>)")
    p.add_argument("--jobs", default="auto", help="runs at once: auto (default: one per core on a CPU, one per "
                                                  "GPU on CUDA) or a number")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per run (default: the cores divided among the runs at once)")
    p.add_argument("--gpus", default="", help="comma-separated CUDA device indices to spread runs over")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their state, run nothing")
    p.add_argument("--wait", action="store_true", help="wait for another runner on the folder instead of exiting")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter for every run (e.g. --set device=cpu)")
    p.add_argument("--executor", choices=("local", "slurm"), default=None,
                   help="local: this machine (default); slurm: one SLURM array task per run (alexlib/slurm.py)")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="a SLURM setting (partition, gpus, cpus, mem_gb, time, parallel, account, qos, sbatch, "
                        "requeues); wins over the grid file's executor: block")
    p.add_argument("--no-wait", action="store_true", help="with --executor slurm: submit, print the job id, exit")
    a = p.parse_args(argv)
    try:
        jobs = a.jobs if a.jobs == "auto" else _positive_int("--jobs", a.jobs)
        if a.threads < 0:
            raise GridError(f"--threads must be at least 0 (0: divide the cores), got {a.threads}")
        gpus = [int(g) for g in a.gpus.split(",") if g.strip()] if a.gpus else None
        grid_path = from_repo(a.grid) if not Path(a.grid).exists() else Path(a.grid)
        out = from_repo(a.out or f"runs/{Path(a.grid).stem}")
        plan = load_grid(grid_path, out, parse_overrides(a.set))
        from . import slurm  # above this module: the cluster path, only when asked for
        block = slurm.executor_block(grid_path)
        executor = a.executor or block.get("type", "local")
        if executor == "local" and (a.slurm or a.no_wait):
            raise GridError("--slurm and --no-wait need --executor slurm (or type: slurm in the grid's executor block)")
        if executor == "local":
            outcome = run_grid(plan, out, jobs, gpus, a.dry_run, wait=a.wait, threads=a.threads)
        else:
            outcome = slurm.run_on_cluster(plan, out, slurm.parse_options(block, a.slurm), executor,
                                           wait=not a.no_wait, dry_run=a.dry_run)
    except (GridError, ConfigError, DataError, RuntimeError, PermissionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # e.g. --gpus not integers
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # do not wait for the notebooks in flight: their kernels exit with this process, and every file
        # they write is atomic, so the next run resumes from the last finished epoch
        sys.stdout.flush()
        os._exit(130)
    return 1 if outcome.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
