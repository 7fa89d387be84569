"""The grid on a SLURM cluster through submitit: one array task per run that is not done, each running
notebooks/run.ipynb through papermill exactly as ``--jobs`` does on one machine.

    python -m alexlib.grid params/paper.yaml --out runs/paper --executor slurm --slurm partition=gpu [--no-wait]

The runs folder must be on a filesystem the submitting machine and the nodes share: the jobs write their
records there and the grid reads them back. What the grid promises on one machine holds here too: done
runs are skipped; a run preempted or stopped at its time limit is requeued (submitit's Checkpointable) and
resumes after its last finished epoch from its checkpoint.pt; a job that is cancelled or crashes ends as
``failed`` with its SLURM state and job id in metrics.json (written by the grid, which sees the state in
sacct); the rest of the array goes on. ``<out>/slurm.json`` remembers which job runs which run, so running
the same command again submits only what is missing or failed, never a run already queued or running.
``SlurmExecutor`` is the grid core's Executor (alexlib/grid/executor.py) for this path.
"""
from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import submitit

from ..io import check_writable, read_json, utc_now, write_json
from ..paths import RUN_NOTEBOOK
from ..train.config import RunConfig, check_known
from ..train.record import read_metrics, same_run
from ..vocab import FINISHED, counted
from .executor import Batch, Executor, Finished, Options, Slots
from .jobs import Jobs, SlurmJobs, gpus_per_run
from .runner import execute, thread_env, write_failure
from .sacct import ACTIVE, ENDED_BADLY, PREEMPTED_FINAL_S, SlurmError, sbatch_options
from .watchdog import stall_bound

LEDGER = "slurm.json"  # <out>/slurm.json: run id -> the SLURM job that runs it
LOGS = ".slurm"        # <out>/.slurm/<job id>/: submitit's pickles and each job's stdout/stderr

# The settings users need, from --slurm KEY=VALUE or the grid file's executor: block (the command line
# wins): name -> (type, default, what it is).
OPTIONS: dict[str, tuple[type, Any, str]] = {
    "partition": (str, None, "the partition (queue) to submit to; default: the cluster's default partition"),
    "gpus": (int, None, "GPUs per run; default: 1 when the runs' device is auto or cuda, 0 for device=cpu"),
    "cpus": (int, 1, "CPU cores per run (also its torch threads)"),
    "mem_gb": (int, None, "memory per run in GB; default: the partition's default"),
    "time": (int, 60, "time limit per run in minutes; a run that reaches it is requeued and resumes"),
    "parallel": (int, 0, "runs of the array running at once at most; 0: as many as SLURM allows"),
    "account": (str, None, "the account to charge"),
    "qos": (str, None, "the quality of service"),
    "sbatch": (str, "", "more sbatch options, e.g. '--constraint=h100 --exclude=node7'"),
    "requeues": (int, 3, "how many times a run may be requeued after reaching its time limit"),
}


# ---------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------
def parse_options(block: dict[str, Any] | None = None, cli: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SLURM settings: defaults, then the grid file's block, then ``--slurm KEY=VALUE`` (``cli``, which
    wins). Unknown names, empty names (``partition=``) and bad numbers are errors that name the allowed values."""
    block = {k: v for k, v in (block or {}).items() if k != "type"}
    check_known(block, list(OPTIONS), "SLURM option", "the grid file's executor block", SlurmError)
    check_known(cli or {}, list(OPTIONS), "SLURM option", "--slurm", SlurmError)
    given: dict[str, tuple[Any, str]] = {k: (v, "the grid file's executor block") for k, v in block.items()}
    given.update({k: (v, "--slurm") for k, v in (cli or {}).items()})
    opts = {k: default for k, (_, default, _) in OPTIONS.items()}
    for k, (v, where) in given.items():
        kind = OPTIONS[k][0]
        if kind is int:
            try:
                n = int(v)
            except (TypeError, ValueError):
                raise SlurmError(f"SLURM option {k} takes a whole number, got {v!r} (from {where})") from None
            low = 1 if k in ("cpus", "time", "mem_gb") else 0
            if n < low:
                raise SlurmError(f"SLURM option {k} must be at least {low}, got {n} (from {where})")
            opts[k] = n
        else:
            text = "" if v is None else str(v).strip()
            if not text and k != "sbatch":
                raise SlurmError(f"SLURM option {k}= needs a {k} name (from {where})"
                                 + ("; `sinfo -s` lists the partitions" if k == "partition" else ""))
            opts[k] = text
    sbatch_options(opts["sbatch"])  # fail now on a malformed one
    return opts


# ---------------------------------------------------------------------------------------------------
# The job: one run of the notebook, requeued with itself on preemption or time limit
# ---------------------------------------------------------------------------------------------------
class NotebookRun(submitit.helpers.Checkpointable):
    """What each array task runs. On preemption or time limit submitit calls ``checkpoint`` (inherited:
    resubmit this same object) and requeues the job; the rerun's train() resumes from checkpoint.pt,
    so nothing else needs saving here."""

    def __init__(self, cfg: dict[str, Any], notebook: str, stall_s: float | None = None):
        self.cfg, self.notebook, self.stall_s = cfg, notebook, stall_s

    def __call__(self) -> dict[str, Any]:
        cfg = RunConfig.from_dict(self.cfg)
        out = Path(cfg.out_dir)
        try:
            check_writable(out)
        except PermissionError as e:
            raise PermissionError(f"{e} (from node {socket.gethostname()}): the runs folder must be on a "
                                  f"filesystem the nodes share") from None
        signalled: list[int] = []
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR2)}

        def note(signum, frame):  # then hand over to submitit's own handler (requeue, or ignore SIGTERM)
            signalled.append(signum)
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, frame)

        for s in previous:
            signal.signal(s, note)
        with thread_env(cfg.threads):
            # no estimate is made for the cluster's nodes: the setting, else the floor; a job pickled before
            # the setting existed has no stall_s
            m = execute(cfg, Path(self.notebook), stall_s=stall_bound(getattr(self, "stall_s", None), None, cfg.epochs))
        if m.get("status") in ("failed", "interrupted") and signalled:
            # SLURM signalled the whole job, so the kernel died with it and the notebook "failed": this job
            # is being preempted, requeued or cancelled; let SLURM finish that instead of ending as done
            # with a failure (the rerun resumes from the checkpoint; a failed record does not block it)
            time.sleep(300)
        return {"status": m.get("status"), "error": m.get("error"), "final": m.get("final")}


# ---------------------------------------------------------------------------------------------------
# The submitting side: the records and the ledger it writes, and the executor (submit, then follow the jobs)
# ---------------------------------------------------------------------------------------------------
def record_failure(cfg: RunConfig, job_id: str, state: dict[str, str], error: str = "") -> dict[str, Any] | None:
    """A job that ended without finishing its own record (cancelled, crashed, killed): metrics.json says
    ``failed`` with the SLURM state and job id, written whole. Never over a completed record or another
    run's; what the job recorded before it died (history, env) is kept."""
    m = read_metrics(Path(cfg.out_dir))
    if m is not None and not same_run(m, cfg)[0]:
        return None
    if m is not None and m.get("status") in FINISHED:
        return m
    slurm = {**(((m or {}).get("env") or {}).get("slurm") or {}), "job_id": job_id, "state": state["State"],
             "node": state.get("NodeList") or None, "exit_code": state.get("ExitCode"),
             "array_index": job_id.split("_")[1] if "_" in job_id else None}
    error = (f"SLURM job {job_id} ended {state['State']}"
             + (f" on {slurm['node']}" if slurm["node"] and slurm["node"] != "None assigned" else "")
             + (f" (exit code {slurm['exit_code']})" if slurm["exit_code"] else "")
             + (f" ({state['Note']})" if state.get("Note") else "")
             + (f": {error}" if error else ""))
    return write_failure(cfg, error, m, {"slurm": slurm})


def _read_ledger(out: Path) -> dict[str, dict[str, Any]]:
    try:
        led = read_json(out / LEDGER)
        return led if isinstance(led, dict) else {}
    except (OSError, ValueError):
        return {}


class SlurmExecutor(Executor):
    """One SLURM array task per run through submitit, on ``jobs`` (the cluster; ``LocalJobs()``, its stand-in
    on this machine, for tests)."""
    to = "to submit"
    in_flight_as = "queued or running on SLURM"
    estimates = False   # the runs go to the cluster's nodes: this machine's rates say nothing of them
    logs = LOGS
    on_interrupt = ("interrupted: the jobs go on; run the same command again to follow them (it submits "
                    "nothing queued or running)")

    def __init__(self, opts: dict[str, Any] | None = None, jobs: Jobs | None = None, wait: bool = True,
                 notebook: Path = RUN_NOTEBOOK, poll_s: float = 2.0, stall_s: float | None = None):
        self.jobs = jobs or SlurmJobs()
        if not self.jobs.remembers and not wait:
            raise SlurmError(f"--no-wait needs SLURM: jobs {self.jobs.where} end with this process")
        self.opts, self.waits = opts or parse_options(), wait
        self.notebook, self.poll_s, self.stall_s = notebook, poll_s, stall_s
        self.holder = f"alexlib.grid --executor {self.jobs.name}"
        self._ledger: dict[str, dict[str, Any]] = {}
        self._ended: dict[str, tuple[str, dict[str, str]]] = {}  # run id -> (job id, state): ended unwatched
        self._queued = 0

    @classmethod
    def from_options(cls, options: Options) -> "SlurmExecutor":
        return cls(parse_options(options.block, options.settings), wait=not options.no_wait, stall_s=options.stall_s)

    def in_flight(self, runs: list[RunConfig], out: Path) -> dict[str, str]:
        """The runs whose job (slurm.json) SLURM still holds; those whose job ended badly while no grid
        watched are remembered, for their records to say so before they are submitted again."""
        if not self.jobs.remembers:
            return {}
        self.jobs.check(self.opts)
        self._ledger = _read_ledger(out)
        known = {c.run_id(): self._ledger[c.run_id()]["job_id"] for c in runs if c.run_id() in self._ledger}
        states = self.jobs.states(known, {}) if known else {}
        for _ in range(5):  # PREEMPTED for a moment before SLURM requeues it: ask again before resubmitting
            if not any(v["State"] == "PREEMPTED" for v in states.values()):
                break
            time.sleep(2)
            states = self.jobs.states(known, {})
        queued = {}
        for rid, jid in known.items():
            st = states.get(jid, {}).get("State")
            if st in ACTIVE and st != "PREEMPTED":
                queued[rid] = jid
            elif st in ENDED_BADLY:
                self._ended[rid] = (jid, states[jid])
        self._queued = len(queued)
        return queued

    def describe(self, todo: list[RunConfig]) -> Slots:
        o = self.opts
        line = (f"{self.jobs.where}: one array task per run, "
                f"{counted(gpus_per_run(o, todo), 'GPU')}, {counted(o['cpus'], 'CPU')}, {o['time']} min each"
                + (f", partition {o['partition']}" if o["partition"] else "")
                + (f", at most {o['parallel']} at once" if o["parallel"] else ""))
        return Slots(o["parallel"] or max(1, len(todo) + self._queued), o["cpus"], line)

    def launch(self, batch: Batch) -> Iterator[Finished]:
        logs = batch.out / LOGS
        for cfg in batch.todo:
            if cfg.run_id() in self._ended:
                jid, state = self._ended[cfg.run_id()]
                record_failure(cfg, jid, state, self.jobs.error(logs, jid, None))
        jobs: dict[str, Any] = {}
        if batch.todo:
            ex = self.jobs.executor(self.opts, logs, batch.plan.name, batch.todo)
            with ex.batch():
                subs = [(c.run_id(), ex.submit(NotebookRun(c.to_dict(), str(self.notebook), self.stall_s)))
                        for c in batch.todo]
            jobs = dict(subs)
            if self.jobs.remembers:
                for rid, job in jobs.items():
                    self._ledger[rid] = {"job_id": job.job_id, "submitted_at": utc_now()}
                write_json(batch.out / LEDGER, self._ledger)
            array = sorted({j.job_id.split("_")[0] for j in jobs.values()})
            batch.log(f"submitted {counted(len(jobs), 'run')} as job array {', '.join(array)}; logs in {logs}")
        ids = {rid: job.job_id for rid, job in jobs.items()} | batch.in_flight
        if not self.waits:
            if ids:
                batch.log(f"not waiting. Follow with: squeue -j {','.join(sorted({j.split('_')[0] for j in ids.values()}))}"
                          f"; run the same command again to see what is done (it submits nothing queued or running)")
            return
        yield from self._follow(batch, ids, jobs)

    def _follow(self, batch: Batch, ids: dict[str, str], jobs: dict[str, Any]) -> Iterator[Finished]:
        """Until every job has ended: each run as it ends, from SLURM's state, asked afresh every poll."""
        by_id = {c.run_id(): c for c in batch.plan.runs}
        pending = dict(ids)
        preempted_since: dict[str, float] = {}
        started: dict[str, float] = {}  # job id -> when it was first seen running
        last = time.monotonic()
        while pending:
            states = self.jobs.states(pending, jobs)
            now = time.monotonic()
            for rid, jid in list(pending.items()):
                st = states.get(jid, {}).get("State", "PENDING")
                if st == "RUNNING":
                    started.setdefault(jid, now)
                if st == "PREEMPTED" and now - preempted_since.setdefault(jid, now) < PREEMPTED_FINAL_S:
                    continue
                if st in ACTIVE - {"PREEMPTED"} or st == "UNKNOWN":
                    preempted_since.pop(jid, None)
                    continue
                del pending[rid]
                yield self._ended_run(batch.out, by_id[rid], jid, states.get(jid, {"State": st}), jobs.get(rid),
                                      now - started.get(jid, last))
            last = now
            if pending:
                time.sleep(self.poll_s)

    def _ended_run(self, out: Path, cfg: RunConfig, jid: str, state: dict[str, str], job, seconds: float) -> Finished:
        m = read_metrics(Path(cfg.out_dir)) if state["State"] == "COMPLETED" else None
        if m is None or not same_run(m, cfg)[0] or m.get("status") == "running":  # no finished record of its own
            err = self.jobs.error(out / LOGS, jid, job)
            m = record_failure(cfg, jid, state, err) or {"status": "failed", "error": err}
        node = ((m.get("env") or {}).get("slurm") or {}).get("node") or state.get("NodeList", "")
        return Finished(cfg, m, seconds, f"job {jid} on {node}")

