"""The grid's core: what an executor (a backend that runs notebooks: this machine, SLURM) must provide, and
``run_plan``, every step the executors share, written once.

A backend subclasses ``Executor`` in its own module and imports this one; this module never imports a
backend (alexlib/grid/backends.py maps their names to them).
"""
from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from ..io import FolderLock, check_writable, write_json
from ..paths import PARAMS, from_repo
from ..train.config import RunConfig
from ..train.inputs.datasets import check_available
from ..train.record import training_code_digest
from ..vocab import counted, fmt_time
from .plan import GridError, Plan
from .runner import lacks_of, set_aside, status_of, trained_at, trained_by

GRID_RECORD = "grid.json"  # <out>/grid.json: the expanded grid


def say(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Options:
    """What the command line says about how to run a grid; each executor reads what it needs and refuses
    what it cannot use."""
    jobs: int | str = "auto"                          # runs at once on this machine: auto or a number
    threads: int = 0                                  # CPU threads per run; 0: the cores divided among the runs
    gpus: list[int] | None = None                     # CUDA devices to spread runs over
    block: dict[str, Any] = field(default_factory=dict)  # the grid file's executor: block
    settings: dict[str, Any] = field(default_factory=dict)   # the executor's own KEY=VALUE (--slurm), which only
    # that executor knows and checks (grid/slurm.py: parse_options); the local executor takes none
    no_wait: bool = False                             # launch, then return without following the runs
    stall_s: float | None = None                      # seconds without progress that end a run; None: auto


@dataclass(frozen=True)
class Slots:
    """How an executor will run the runs it is given."""
    at_once: int   # runs going at once (the ETA divides by it)
    threads: int   # CPU threads per run, for a run whose config does not set them
    line: str      # the line that says so


@dataclass
class Batch:
    """What an executor is handed to launch."""
    plan: Plan
    out: Path
    todo: list[RunConfig]        # to launch, each with its thread count
    in_flight: dict[str, str]    # launched before and not ended: run id -> its handle there (a SLURM job id)
    slots: Slots
    log: Callable[[str], None]
    estimates: dict[str, float] = field(default_factory=dict)   # run id -> its estimated seconds, if estimated


@dataclass
class Finished:
    """A run that ended: its record (metrics.json as read back, or the failure recorded for it)."""
    cfg: RunConfig
    record: dict[str, Any]
    seconds: float   # how long it ran
    where: str = ""  # where it ran, when the executor knows better than this machine ("job 12_3 on node7")


class Executor(ABC):
    """A way to run a grid's notebooks. A backend writes ``from_options``, ``describe`` and ``launch``, and
    ``in_flight`` when runs it launched can outlive the grid that launched them."""
    holder = "alexlib.grid"  # who holds the runs folder's lock, as a second runner's error names it
    to = "to run"            # the header's words for the runs it will launch
    in_flight_as = ""        # the header's words for runs it launched before that have not ended
    waits = True             # False: launch returns once the runs are launched (--no-wait)
    logs = ""                # the folder under <out> with the backend's own logs, if any
    estimates = True         # the cost is estimated from this machine's rates (False: runs go elsewhere)
    on_interrupt = ("interrupted: finished runs are kept, interrupted ones resume from their last epoch; "
                    "rerun the same command")

    @classmethod
    @abstractmethod
    def from_options(cls, options: Options) -> "Executor":
        """The executor the command line asks for; a GridError names an option it cannot use."""

    def in_flight(self, runs: list[RunConfig], out: Path) -> dict[str, str]:
        """Of ``runs`` (none of them done), those launched before and not yet ended: run id -> handle."""
        return {}

    def estimate_device(self, todo: list[RunConfig]) -> str:
        """The device the cost estimate times a shape on: where the runs will run."""
        return todo[0].device

    @abstractmethod
    def describe(self, todo: list[RunConfig]) -> Slots:
        """How it will run ``todo``: runs at once, threads per run, and the line that says so."""

    @abstractmethod
    def launch(self, batch: Batch) -> Iterator[Finished]:
        """Launch ``batch.todo``; yield each run (those in flight before too) as it ends, or, when the
        executor does not wait, return once they are launched."""


def run_plan(plan: Plan, out: Path, executor: Executor, dry_run: bool = False, wait: bool = False,
             log: Callable[[str], None] = say, estimate_cost: bool = True,
             record: str = GRID_RECORD, rerun_changed: bool = False,
             rerun_lacking: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Run every run of ``plan`` that is not done with ``executor``; returns run ids by outcome (by what
    was planned, for a dry run; by what was launched, for an executor that does not wait). A finished run is
    reused whatever code trained it (a comment change must not retrain a study); how many came from other
    training code is said, and ``rerun_changed`` trains those again (their records kept aside); ``rerun_lacking``
    trains again those whose records lack one of these fields (a field added since, like ``bn_checks``)."""
    with contextlib.nullcontext() if dry_run else _locked(out, executor.holder, wait):
        status = {c.run_id(): status_of(c) for c in plan.runs}
        changed = _other_code(plan, status, log)
        if not dry_run and not rerun_changed:
            _one_code_if_registered(plan, status, changed)
        again = {c.run_id(): (c, f"code-{trained_by(c)}") for c in changed} if rerun_changed else {}
        for c, field in _lacking(plan, status, rerun_lacking, log):
            again.setdefault(c.run_id(), (c, f"lacks-{field}"))
        for rid in again:
            status[rid] = "new"   # set aside just before launch, once nothing can refuse the grid
        open_runs = [c for c in plan.runs if status[c.run_id()] != "done"]
        in_flight = executor.in_flight(open_runs, out)
        todo = [c for c in open_runs if c.run_id() not in in_flight]
        done = [c.run_id() for c in plan.runs if status[c.run_id()] == "done"]
        log(f"grid {plan.name}: {len(plan.runs)} runs, {len(done)} already done, "
            + (f"{len(in_flight)} {executor.in_flight_as}, " if executor.in_flight_as else "")
            + f"{len(todo)} {executor.to} ({sum(status[c.run_id()] == 'resume' for c in todo)} resuming) -> {out}")
        slots = executor.describe(todo)
        estimates: dict[str, float] = {}
        if todo:
            log(slots.line)
            if executor.estimates and estimate_cost:
                line, estimates = _cost(todo, slots, out, executor.estimate_device(todo))
                log(line)
        if dry_run:
            what = {rid: f"queued {in_flight[rid]}" if rid in in_flight else s for rid, s in status.items()}
            width = max([7] + [len(w) for w in what.values()])
            for block, ids in (plan.blocks or {plan.name: list(what)}).items():
                left = sum(what[r] != "done" for r in ids)
                log(f"{block}: {len(ids)} runs, {len(ids) - left} done, {left} to run")
                for rid in ids:
                    log(f"  {what[rid]:<{width}} {rid}")
            return {"planned": [c.run_id() for c in todo]}
        for dataset, data_dir in sorted({(c.dataset, c.data_dir) for c in todo}):
            check_available(dataset, from_repo(data_dir))  # missing data stops the grid here, not in every run
        write_json(out / record, {"grid": plan.name, "description": plan.description,
                                       "runs": [c.to_dict() for c in plan.runs]})
        todo = [c if c.threads else c.replace(threads=slots.threads) for c in todo]
        for c, why in again.values():
            set_aside(c, why)
        runs = executor.launch(Batch(plan, out, todo, in_flight, slots, log, estimates))
        if not executor.waits:
            for _ in runs:
                pass
            return {"submitted": sorted(c.run_id() for c in todo), "queued": sorted(in_flight), "done": done}
        outcome = _follow(runs, executor, len(plan.runs), len(done), slots.at_once, log)
    _summary(plan, out, outcome, executor, log)
    return outcome


def _other_code(plan: Plan, status: dict[str, str], log: Callable[[str], None]) -> list[RunConfig]:
    """The finished runs whose records name other training code than this (``training_code_digest``), said in one
    line with those whose records name none (written before records carried it)."""
    here = training_code_digest()
    done = [c for c in plan.runs if status[c.run_id()] == "done"]
    code = {c.run_id(): trained_by(c) for c in done}
    other = [c for c in done if code[c.run_id()] not in (None, here)]
    unknown = sum(code[c.run_id()] is None for c in done)
    if other or unknown:
        log(f"of {len(done)} finished runs, {len(other)} came from other training code than this ({here})"
            + (f" ({', '.join(sorted({str(code[c.run_id()]) for c in other}))}; --rerun-changed trains them again)"
               if other else "")
            + (f", {unknown} from before records named their code" if unknown else ""))
    return other


def _one_code_if_registered(plan: Plan, status: dict[str, str], changed: list[RunConfig]) -> None:
    """A pre-registered study (``params/registered/<grid>.yaml``, pre_registered true) is trained by one training
    code: with runs left to train and finished runs that other code made, a GridError says which code made them
    and how to go on with it (a checkout of their commit), instead of mixing two codes in its cells."""
    reg = PARAMS / "registered" / f"{plan.name}.yaml"
    left = [c for c in plan.runs if status[c.run_id()] != "done"]
    if not changed or not left or not reg.is_file() or not (yaml.safe_load(reg.read_text()) or {}).get("pre_registered"):
        return
    codes = sorted({str(trained_by(c)) for c in changed})
    commits = sorted({str(trained_at(c)) for c in changed})
    raise GridError(
        f"grid {plan.name} is pre-registered ({reg.parent.name}/{reg.name} in params/) and "
        f"{counted(len(changed), 'finished run')} of it came from training code {', '.join(codes)} (commit "
        f"{', '.join(commits)}), not this checkout's {training_code_digest()}: training the other "
        f"{counted(len(left), 'run')} here would mix two codes in its cells. Go on with the study's code: "
        f"git worktree add ../{plan.name}-code {commits[0]} and run the grid from there with the same --out; or "
        "--rerun-changed to train every finished run again with this code.")


def _lacking(plan: Plan, status: dict[str, str], lacking: tuple[str, ...],
             log: Callable[[str], None]) -> list[tuple[RunConfig, str]]:
    """The finished runs whose records lack one of the ``lacking`` fields, each with the first it lacks; said
    in one line."""
    found = []
    for c in plan.runs:
        if status[c.run_id()] == "done" and lacking:
            missing = [f for f in lacking if f in lacks_of(c)]
            if missing:
                found.append((c, missing[0]))
    if lacking:
        log(f"{counted(len(found), 'finished run')} lack {' or '.join(lacking)}: trained again (--rerun-lacking)")
    return found


def _cost(todo: list[RunConfig], slots: Slots, out: Path, device: str) -> tuple[str, dict[str, float]]:
    """The estimate line for runs on ``device`` and each run's estimated seconds (by run id; none when it cannot
    be made: the line says why, and it never stops the grid). On a machine without a GPU, a grid whose device is
    auto also says where a GPU's figure would come from."""
    from . import estimate
    try:
        folders = estimate.rate_folders(out)
        cost = estimate.estimate(todo, slots.at_once, slots.threads, folders, estimate.device_name_here(device), device=device)
        line = cost.line(len(todo), slots.at_once)
        if device == "auto" and not estimate.on_cuda(device):
            line += f"; {estimate.GPU_NOTE}"
        return line, cost.per_run
    except Exception as e:  # noqa: BLE001 (an estimate is advice)
        return f"estimate: not available ({type(e).__name__}: {str(e)[:200]})", {}


@contextlib.contextmanager
def _locked(out: Path, holder: str, wait: bool) -> Iterator[None]:
    """The runs folder, proven writable and locked before the grid says anything of what it will do: a
    second grid refused by the lock prints only why."""
    check_writable(out)
    with FolderLock(out, holder).acquire(wait=wait):
        yield


def _follow(runs: Iterator[Finished], executor: Executor, total: int, done_before: int, at_once: int,
            log: Callable[[str], None]) -> dict[str, list[str]]:
    """One line per run as it ends, until the executor has no more."""
    outcome: dict[str, list[str]] = {"completed": [], "diverged": [], "failed": []}
    seconds: list[float] = []
    t0 = time.monotonic()
    runs = iter(runs)
    try:
        for f in runs:
            status = f.record.get("status", "failed")
            outcome.setdefault(status, []).append(f.cfg.run_id())
            seconds.append(f.seconds)
            n = done_before + len(seconds)
            log(progress_line(n, total, f, time.monotonic() - t0, eta(total - n, seconds, at_once)))
    except KeyboardInterrupt:
        log("\n" + executor.on_interrupt)
        raise
    finally:  # a Ctrl-C that lands here, not in the executor, still stops it (a generator's cleanup)
        getattr(runs, "close", lambda: None)()
    return outcome


def progress_line(n: int, total: int, f: Finished, elapsed: float, eta_s: float) -> str:
    """``[  3/9] completed <run id> test 52.10%  41 s | elapsed 2m03s, ETA 4m06s``"""
    status = f.record.get("status", "failed")
    acc = (f.record.get("final") or {}).get("test_acc")
    what = f"test {acc:.2f}%" if acc is not None and status == "completed" else \
        ((f.record.get("error") or "")[:80] if status == "failed" else status)
    return (f"[{n:>3}/{total}] {status:<9} {f.cfg.run_id():<44} {what:<14} {f.seconds:6.0f} s"
            + (f" {f.where}" if f.where else "") + f" | elapsed {fmt_time(elapsed)}, ETA {fmt_time(eta_s)}")


def eta(remaining: int, seconds: list[float], at_once: int) -> float:
    """Seconds until the grid ends: the runs left times the mean seconds a finished run took, shared among
    the runs going at once."""
    return remaining * (sum(seconds) / len(seconds)) / max(1, at_once) if seconds else 0.0


def _summary(plan: Plan, out: Path, outcome: dict[str, list[str]], executor: Executor, log) -> None:
    if outcome["diverged"]:
        log(f"diverged ({len(outcome['diverged'])}): {', '.join(outcome['diverged'])}")
    bad = outcome["failed"]
    stopped = outcome.get("interrupted", [])
    if stopped:   # interrupted inside its kernel: resumable, not done
        log(f"interrupted ({len(stopped)}): {', '.join(stopped)}\n  rerun the same command to resume them")
    if bad:
        log(f"FAILED ({len(bad)}): " + ", ".join(bad) + f"\n  see <run>/metrics.json 'error', <run>/run.log and "
            f"<run>/run.ipynb in {out}" + (f"; the executor's logs in {out / executor.logs}" if executor.logs else ""))
    elif not stopped:
        log(f"grid {plan.name}: all {len(plan.runs)} runs done ({len(outcome['diverged'])} diverged)")

