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
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import submitit
import yaml

from .config import RunConfig
from .data import check_available
from .grid import GridError, Plan, execute, status_of
from .io import FolderLock, check_writable, read_json, write_json
from .paths import RUN_NOTEBOOK, from_repo
from .records import METRICS, read_metrics, same_run

EXECUTORS = ("local", "slurm")
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
# sacct states: still in SLURM's hands (PREEMPTED and REQUEUED come back as PENDING when requeued) ...
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
          "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "PREEMPTED"}
# ... and ended without the job finishing its own record
ENDED_BADLY = {"CANCELLED", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "BOOT_FAIL", "DEADLINE",
               "PREEMPTED", "REVOKED", "SPECIAL_EXIT"}
PREEMPTED_FINAL_S = 120  # a job still PREEMPTED this long was not requeued (a cluster that cancels on preemption)


class SlurmError(GridError):
    """SLURM settings or a cluster that cannot be used; the message names the setting and what is allowed."""


# ---------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------
def executor_block(grid_file: str | Path) -> dict[str, Any]:
    """The grid file's ``executor:`` block ({} if none): ``type: slurm|local`` and SLURM settings."""
    doc = yaml.safe_load(Path(grid_file).read_text(encoding="utf-8")) or {}
    block = doc.get("executor") if isinstance(doc, dict) else None
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise SlurmError(f"{grid_file}: 'executor' must be a mapping such as {{type: slurm, partition: gpu}}")
    return dict(block)


def parse_options(block: dict[str, Any] | None = None, cli: list[str] | None = None) -> dict[str, Any]:
    """The SLURM settings: defaults, then the grid file's block, then ``--slurm KEY=VALUE`` (which wins).
    Unknown names, empty names (``partition=``) and bad numbers are errors that name the allowed values."""
    given: dict[str, tuple[Any, str]] = {k: (v, "the grid file's executor block") for k, v in (block or {}).items()
                                         if k != "type"}
    for item in cli or []:
        if "=" not in item:
            raise SlurmError(f"--slurm takes KEY=VALUE, got {item!r}; keys: {', '.join(OPTIONS)}")
        k, v = item.split("=", 1)
        given[k.strip()] = (v.strip(), "--slurm")
    opts = {k: default for k, (_, default, _) in OPTIONS.items()}
    for k, (v, where) in given.items():
        if k not in OPTIONS:
            raise SlurmError(f"unknown SLURM option {k!r} (from {where}); allowed: {', '.join(OPTIONS)}")
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


def sbatch_options(text: str) -> dict[str, Any]:
    """'--constraint=h100 --exclusive' -> {'constraint': 'h100', 'exclusive': True} for submitit."""
    out: dict[str, Any] = {}
    for word in shlex.split(text or ""):
        if not word.startswith("--") or len(word) < 3:
            raise SlurmError(f"SLURM option sbatch takes long sbatch options such as --constraint=h100, got {word!r}")
        k, _, v = word[2:].partition("=")
        out[k] = v if v else True
    return out


def gpus_per_run(opts: dict[str, Any], runs: list[RunConfig]) -> int:
    if opts["gpus"] is not None:
        return opts["gpus"]
    return 0 if all(c.device == "cpu" for c in runs) else 1


def check_cluster(opts: dict[str, Any]) -> None:
    """SLURM's commands answer and the partition exists, before anything is submitted."""
    missing = [c for c in ("sbatch", "sacct", "sinfo", "scontrol") if shutil.which(c) is None]
    if missing:
        raise SlurmError(f"--executor slurm needs SLURM's commands; not found: {', '.join(missing)} "
                         f"(on a laptop: sudo make slurm-up starts a single-node SLURM)")
    r = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SlurmError(f"SLURM does not answer (sinfo: {r.stderr.strip()[:300]})")
    partitions = sorted(set(r.stdout.split()))
    if opts["partition"] and opts["partition"] not in partitions:
        raise SlurmError(f"SLURM option partition={opts['partition']}: no such partition; "
                         f"this cluster has: {', '.join(partitions)}")
    acct = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True, timeout=60)
    if acct.returncode != 0:
        raise SlurmError("sacct does not answer (job accounting is off?); the grid and submitit read job "
                         f"states from it: {acct.stderr.strip()[:300]}")


def make_executor(opts: dict[str, Any], folder: Path, cluster: str, name: str,
                  runs: list[RunConfig]) -> submitit.AutoExecutor:
    ex = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster, slurm_max_num_timeout=opts["requeues"])
    params: dict[str, Any] = dict(name=f"alexlib-{name}", timeout_min=opts["time"], cpus_per_task=opts["cpus"],
                                  tasks_per_node=1, nodes=1)
    gpus = gpus_per_run(opts, runs)
    if gpus or cluster == "local":  # local: without it submitit hides every GPU (CUDA_VISIBLE_DEVICES="")
        params["gpus_per_node"] = gpus
    if opts["mem_gb"]:
        params["mem_gb"] = opts["mem_gb"]
    slurm = {"partition": opts["partition"], "array_parallelism": opts["parallel"] or None,
             "account": opts["account"], "qos": opts["qos"],
             "additional_parameters": sbatch_options(opts["sbatch"]) or None}
    params.update({f"slurm_{k}": v for k, v in slurm.items() if v is not None})
    ex.update_parameters(**params)
    return ex


# ---------------------------------------------------------------------------------------------------
# The job: one run of the notebook, requeued with itself on preemption or time limit
# ---------------------------------------------------------------------------------------------------
class NotebookRun(submitit.helpers.Checkpointable):
    """What each array task runs. On preemption or time limit submitit calls ``checkpoint`` (inherited:
    resubmit this same object) and requeues the job; the rerun's train() resumes from checkpoint.pt,
    so nothing else needs saving here."""

    def __init__(self, cfg: dict[str, Any], notebook: str):
        self.cfg, self.notebook = cfg, notebook

    def __call__(self) -> dict[str, Any]:
        cfg = RunConfig.from_dict(self.cfg)
        out = Path(cfg.out_dir)
        try:
            check_writable(out)
        except PermissionError as e:
            raise PermissionError(f"{e} (from node {socket.gethostname()}): the runs folder must be on a "
                                  f"filesystem the nodes share") from None
        os.environ.update({v: str(cfg.threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        signalled: list[int] = []
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR2)}

        def note(signum, frame):  # then hand over to submitit's own handler (requeue, or ignore SIGTERM)
            signalled.append(signum)
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, frame)

        for s in previous:
            signal.signal(s, note)
        m = execute(cfg, Path(self.notebook))
        if m.get("status") == "failed" and signalled:
            # SLURM signalled the whole job, so the kernel died with it and the notebook "failed": this job
            # is being preempted, requeued or cancelled; let SLURM finish that instead of ending as done
            # with a failure (the rerun resumes from the checkpoint; a failed record does not block it)
            time.sleep(300)
        return {"status": m.get("status"), "error": m.get("error"), "final": m.get("final")}


# ---------------------------------------------------------------------------------------------------
# The submitting side
# ---------------------------------------------------------------------------------------------------
def job_states(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """The current state of each job id (``123_4`` for array tasks): {State, NodeList, ExitCode}, from sacct,
    else squeue (not in accounting yet). Asked afresh every call, not submitit's cached state."""
    mains = sorted({j.split("_")[0] for j in job_ids})
    if not mains:
        return {}
    cmd = ["sacct", "-X", "--parsable2", "-o", "JobID,State,NodeList,ExitCode"]
    for m in mains:
        cmd += ["-j", m]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SlurmError(f"sacct failed: {r.stderr.strip()[:300]}")
    info = submitit.slurm.slurm.SlurmInfoWatcher().read_info(r.stdout)
    for v in info.values():
        v["State"] = (v.get("State") or "UNKNOWN").split()[0]  # "CANCELLED by 0" -> CANCELLED
    missing = [j for j in job_ids if j not in info]
    for main in sorted({j.split("_")[0] for j in missing}):  # not in accounting yet, or never: ask the controller
        q = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%N", "-j", main],
                           capture_output=True, text=True, timeout=120)
        unknown = q.returncode != 0 and "Invalid job id" in q.stderr  # the controller has forgotten it
        queued = {}
        for line in q.stdout.splitlines() if q.returncode == 0 else []:
            jid, state, node = (line.split("|") + ["", ""])[:3]
            queued[jid.strip()] = {"State": state.strip(), "NodeList": node.strip(), "ExitCode": ""}
        for j in (j for j in missing if j.split("_")[0] == main):
            if j in queued:
                info[j] = queued[j]
            elif unknown or q.returncode == 0:
                # an array task cancelled while pending leaves no accounting record, and the controller
                # forgets it at once: known to neither, it was removed before it started
                info[j] = {"State": "CANCELLED", "NodeList": "", "ExitCode": "",
                           "Note": "while pending; SLURM kept no accounting record of it"}
            else:  # the controller did not answer: ask again at the next poll
                info[j] = {"State": "UNKNOWN", "NodeList": "", "ExitCode": ""}
    return {j: info[j] for j in job_ids}


def record_failure(cfg: RunConfig, job_id: str, state: dict[str, str], error: str = "") -> dict[str, Any] | None:
    """A job that ended without finishing its own record (cancelled, crashed, killed): metrics.json says
    ``failed`` with the SLURM state and job id, written whole. Never over a completed record or another
    run's; what the job recorded before it died (history, env) is kept."""
    out = Path(cfg.out_dir)
    m = read_metrics(out)
    if m is not None and not same_run(m, cfg)[0]:
        return None
    if m is not None and m.get("status") in ("completed", "diverged"):
        return m
    m = m or {"run_id": cfg.run_id(), "config": cfg.to_dict(), "history": [], "final": None, "env": {}}
    slurm = {**((m.get("env") or {}).get("slurm") or {}), "job_id": job_id, "state": state["State"],
             "node": state.get("NodeList") or None, "exit_code": state.get("ExitCode"),
             "array_index": job_id.split("_")[1] if "_" in job_id else None}
    m = m | {"status": "failed", "env": {**(m.get("env") or {}), "slurm": slurm},
             "error": f"SLURM job {job_id} ended {state['State']}"
                      + (f" on {slurm['node']}" if slurm["node"] and slurm["node"] != "None assigned" else "")
                      + (f" (exit code {slurm['exit_code']})" if slurm["exit_code"] else "")
                      + (f" ({state['Note']})" if state.get("Note") else "")
                      + (f": {error}" if error else "")}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / METRICS, m)
    return m


def job_error(logs: Path, job_id: str) -> str:
    """The exception a job raised, from submitit's result file (empty if it raised none)."""
    job = submitit.SlurmJob(folder=logs / "%j", job_id=job_id)
    try:
        outcome, value = submitit.core.utils.pickle_load(job.paths.result_pickle)
    except Exception:
        return ""
    return "" if outcome == "success" else str(value).strip().splitlines()[-1][:500]


def _read_ledger(out: Path) -> dict[str, dict[str, Any]]:
    try:
        led = read_json(out / LEDGER)
        return led if isinstance(led, dict) else {}
    except (OSError, ValueError):
        return {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_on_cluster(plan: Plan, out: Path, opts: dict[str, Any], cluster: str = "slurm", wait: bool = True,
                   dry_run: bool = False, notebook: Path = RUN_NOTEBOOK, poll_s: float = 2.0,
                   log: Callable[[str], None] = lambda s: print(s, flush=True)) -> dict[str, list[str]]:
    """Submit every run of ``plan`` that is not done and not already queued, as one job array; then wait
    (one line per finished run) or return. ``cluster``: "slurm", or "local" (submitit's local executor:
    the same path without SLURM, for tests). Returns run ids by outcome."""
    if cluster not in EXECUTORS:
        raise SlurmError(f"unknown executor {cluster!r}; allowed: {', '.join(EXECUTORS)}")
    if cluster == "local" and not wait:
        raise SlurmError("--no-wait needs SLURM: the local executor's jobs end with this process")
    check_writable(out)
    if cluster == "slurm":
        check_cluster(opts)
    by_id = {c.run_id(): c for c in plan.runs}
    with FolderLock(out, f"alexlib.grid --executor {cluster}").acquire():
        ledger = _read_ledger(out) if cluster == "slurm" else {}
        known = {r: e["job_id"] for r, e in ledger.items() if r in by_id}
        states = job_states(list(known.values())) if known else {}
        for _ in range(5):  # PREEMPTED for a moment before SLURM requeues it: ask again before resubmitting
            if not any(v["State"] == "PREEMPTED" for v in states.values()):
                break
            time.sleep(2)
            states = job_states(list(known.values()))
        done, queued, todo = [], {}, []
        for rid, cfg in by_id.items():
            jid = known.get(rid)
            st = states.get(jid, {}).get("State") if jid else None
            if status_of(cfg) == "done":
                done.append(rid)
            elif st in ACTIVE and st != "PREEMPTED":
                queued[rid] = jid
            else:
                if st in ENDED_BADLY:  # ended while no grid watched: say so in its record
                    record_failure(cfg, jid, states[jid], job_error(out / LOGS, jid))
                todo.append(cfg)
        log(f"grid {plan.name}: {len(by_id)} runs, {len(done)} already done, {len(queued)} queued or running "
            f"on SLURM, {len(todo)} to submit -> {out}")
        if dry_run:
            for rid in by_id:
                what = "done" if rid in done else f"queued {queued[rid]}" if rid in queued else status_of(by_id[rid])
                log(f"  {what:<16} {rid}")
            return {"planned": [c.run_id() for c in todo]}
        for dataset, data_dir in sorted({(c.dataset, c.data_dir) for c in todo}):
            check_available(dataset, from_repo(data_dir))  # data on the shared filesystem, before submitting
        write_json(out / "grid.json", {"grid": plan.name, "description": plan.description,
                                       "runs": [c.to_dict() for c in plan.runs]})
        jobs: dict[str, Any] = {}
        if todo:
            ex = make_executor(opts, out / LOGS, cluster, plan.name, todo)
            todo = [c if c.threads else c.replace(threads=opts["cpus"]) for c in todo]
            with ex.batch():
                subs = [(c.run_id(), ex.submit(NotebookRun(c.to_dict(), str(notebook)))) for c in todo]
            jobs = {rid: job for rid, job in subs}
            if cluster == "slurm":
                for rid, job in jobs.items():
                    ledger[rid] = {"job_id": job.job_id, "submitted_at": _now()}
                write_json(out / LEDGER, ledger)
            array = sorted({j.job_id.split("_")[0] for j in jobs.values()})
            log(f"submitted {len(jobs)} run(s) as job array {', '.join(array)} "
                f"({gpus_per_run(opts, todo)} GPU(s), {opts['cpus']} CPU(s), {opts['time']} min each"
                + (f", partition {opts['partition']}" if opts["partition"] else "") + f"); logs in {out / LOGS}")
        ids = {rid: job.job_id for rid, job in jobs.items()} | queued
        if not wait:
            if ids:
                log(f"not waiting. Follow with: squeue -j {','.join(sorted({j.split('_')[0] for j in ids.values()}))}"
                    f"; run the same command again to see what is done (it submits nothing queued or running)")
            return {"submitted": sorted(jobs), "queued": sorted(queued), "done": done}
        return _wait(plan, out, ids, jobs, cluster, len(done), poll_s, log)


def _wait(plan: Plan, out: Path, ids: dict[str, str], jobs: dict[str, Any], cluster: str, done_before: int,
          poll_s: float, log) -> dict[str, list[str]]:
    """Until every job has ended: one line per finished run, from SLURM's state, refreshed every poll."""
    outcome: dict[str, list[str]] = {"completed": [], "diverged": [], "failed": []}
    total = done_before + len(ids)
    pending = dict(ids)
    preempted_since: dict[str, float] = {}
    t0 = time.monotonic()
    while pending:
        if cluster == "slurm":
            states = job_states(list(pending.values()))
        else:  # submitit's local jobs: FINISHED, FAILED, INTERRUPTED or RUNNING
            states = {}
            for rid, jid in pending.items():
                s = jobs[rid].state
                states[jid] = {"State": {"FINISHED": "COMPLETED", "INTERRUPTED": "CANCELLED"}.get(s, s),
                               "NodeList": socket.gethostname(), "ExitCode": ""}
        for rid, jid in list(pending.items()):
            st = states.get(jid, {}).get("State", "PENDING")
            if st == "PREEMPTED" and time.monotonic() - preempted_since.setdefault(jid, time.monotonic()) < PREEMPTED_FINAL_S:
                continue
            if st in ACTIVE - {"PREEMPTED"} or st == "UNKNOWN":
                preempted_since.pop(jid, None)
                continue
            cfg = plan_run(plan, rid)
            m = read_metrics(Path(cfg.out_dir)) if st == "COMPLETED" else None
            if st == "COMPLETED" and m is not None and same_run(m, cfg)[0] and m.get("status") != "running":
                status = m.get("status", "failed")
            else:  # ended without a finished record of its own
                err = job_error(out / LOGS, jid) if cluster == "slurm" else _local_error(jobs[rid])
                m = record_failure(cfg, jid, states.get(jid, {"State": st}), err) or {"error": err}
                status = "failed"
            del pending[rid]
            outcome.setdefault(status, []).append(rid)
            acc = (m.get("final") or {}).get("test_acc")
            what = f"test {acc:.2f}%" if acc is not None and status == "completed" else \
                ((m.get("error") or "")[:80] if status == "failed" else status)
            node = (((m.get("env") or {}).get("slurm") or {}).get("node")) or states.get(jid, {}).get("NodeList", "")
            n = done_before + sum(map(len, outcome.values()))
            log(f"[{n:>3}/{total}] {status:<9} {rid:<44} {what:<14} job {jid} on {node} | "
                f"elapsed {_fmt(time.monotonic() - t0)}")
        if pending:
            time.sleep(poll_s)
    bad = outcome["failed"]
    if bad:
        log(f"FAILED ({len(bad)}): " + ", ".join(bad) + f"\n  see <run>/metrics.json 'error' and {out / LOGS}")
    else:
        log(f"grid {plan.name}: all {total} runs done ({len(outcome['diverged'])} diverged)")
    return outcome


def plan_run(plan: Plan, rid: str) -> RunConfig:
    return next(c for c in plan.runs if c.run_id() == rid)


def _local_error(job) -> str:
    try:
        e = job.exception()
    except Exception as x:  # noqa: BLE001 - whatever the local job left
        e = x
    return "" if e is None else str(e).strip().splitlines()[-1][:500]


def _fmt(s: float) -> str:
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s"
