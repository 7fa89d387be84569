"""Where the SLURM executor's array jobs run: on the cluster (``SlurmJobs``: sbatch through submitit, states
asked of sacct, a ledger of who runs what because jobs outlive the grid that submitted them) or on this machine
through submitit's local executor (``LocalJobs``), a stand-in that takes the same path without SLURM, for the
tests, the way ``alexlib.train.run.graphs.RecordedStepGraph`` stands in for a CUDA graph."""
from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import submitit

from ..train.config import RunConfig
from .sacct import check_cluster, job_error, job_states, sbatch_options


def gpus_per_run(opts: dict[str, Any], runs: list[RunConfig]) -> int:
    if opts["gpus"] is not None:
        return opts["gpus"]
    return 0 if all(c.device == "cpu" for c in runs) else 1


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


class Jobs(ABC):
    """What the SLURM executor needs of the place its jobs run."""
    name = ""            # submitit's cluster name
    where = ""           # how the grid's header names it
    remembers = False    # jobs outlive the grid: keep a ledger, follow them again later, allow --no-wait

    def check(self, opts: dict[str, Any]) -> None:
        """Refuse, with the fix, a place that cannot take the jobs (before anything is submitted)."""

    def executor(self, opts: dict[str, Any], folder: Path, name: str, runs: list[RunConfig]) -> submitit.AutoExecutor:
        return make_executor(opts, folder, self.name, name, runs)

    @abstractmethod
    def states(self, pending: dict[str, str], jobs: dict[str, Any]) -> dict[str, dict[str, str]]:
        """Each pending job's state as sacct words it ({State, NodeList, ExitCode}), asked afresh."""

    @abstractmethod
    def error(self, logs: Path, job_id: str, job: Any) -> str:
        """The exception a job raised (empty when none)."""


class SlurmJobs(Jobs):
    name, where, remembers = "slurm", "SLURM", True

    def check(self, opts: dict[str, Any]) -> None:
        check_cluster(opts)

    def states(self, pending: dict[str, str], jobs: dict[str, Any]) -> dict[str, dict[str, str]]:
        return job_states(list(pending.values()))

    def error(self, logs: Path, job_id: str, job: Any) -> str:
        return job_error(logs, job_id)


class LocalJobs(Jobs):
    """The stand-in: submitit's local executor runs each job as a process here; its states are submitit's
    (FINISHED, FAILED, INTERRUPTED, RUNNING) in sacct's words."""
    name, where, remembers = "local", "submitit locally", False

    def states(self, pending: dict[str, str], jobs: dict[str, Any]) -> dict[str, dict[str, str]]:
        return {jid: {"State": {"FINISHED": "COMPLETED", "INTERRUPTED": "CANCELLED"}.get(s, s),
                      "NodeList": socket.gethostname(), "ExitCode": ""}
                for rid, jid in pending.items() for s in [jobs[rid].state]}

    def error(self, logs: Path, job_id: str, job: Any) -> str:
        try:
            e = job.exception()
        except Exception as x:  # noqa: BLE001 - whatever the local job left
            e = x
        return "" if e is None else str(e).strip().splitlines()[-1][:500]
