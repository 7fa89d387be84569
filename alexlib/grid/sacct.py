"""What SLURM says: whether its commands answer, each job's state (sacct, else squeue), and the exception a
job raised (submitit's result file). Asked afresh every time, never submitit's cached state."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import submitit

from .plan import GridError

# sacct states: still in SLURM's hands (PREEMPTED and REQUEUED come back as PENDING when requeued) ...
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
          "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "PREEMPTED"}
# ... and ended without the job finishing its own record
ENDED_BADLY = {"CANCELLED", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "BOOT_FAIL", "DEADLINE",
               "PREEMPTED", "REVOKED", "SPECIAL_EXIT"}
PREEMPTED_FINAL_S = 120  # a job still PREEMPTED this long was not requeued (a cluster that cancels on preemption)


class SlurmError(GridError):
    """SLURM settings or a cluster that cannot be used; the message names the setting and what is allowed."""


def sbatch_options(text: str) -> dict[str, Any]:
    """'--constraint=h100 --exclusive' -> {'constraint': 'h100', 'exclusive': True} for submitit."""
    out: dict[str, Any] = {}
    for word in shlex.split(text or ""):
        if not word.startswith("--") or len(word) < 3:
            raise SlurmError(f"SLURM option sbatch takes long sbatch options such as --constraint=h100, got {word!r}")
        k, _, v = word[2:].partition("=")
        out[k] = v if v else True
    return out


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


def job_error(logs: Path, job_id: str) -> str:
    """The exception a job raised, from submitit's result file (empty if it raised none)."""
    job = submitit.SlurmJob(folder=logs / "%j", job_id=job_id)
    try:
        outcome, value = submitit.core.utils.pickle_load(job.paths.result_pickle)
    except Exception:
        return ""
    return "" if outcome == "success" else str(value).strip().splitlines()[-1][:500]
