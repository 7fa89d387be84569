"""The grid on this machine: ``--jobs`` runs at once in a pool of threads, each running its notebook in a
kernel of its own; on CUDA each run takes a GPU from a queue of free ones (``--gpus``, else every visible GPU)
and gives it back when it ends, so a long run never holds up the runs waiting for a GPU another run freed.

On a CPU, runs at once share the cores: each gets cores // jobs threads (in its config, and in the kernel's
OMP/MKL variables before its torch starts), so --jobs N speeds a grid up instead of oversubscribing the
CPU. ``--jobs auto`` runs as many at once as there are cores, one thread each, on a CPU (measured fastest
for the CPU grids: docs/PERFORMANCE.md), and one run per GPU on CUDA.
"""
from __future__ import annotations

import os
import queue
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterator

from ..paths import RUN_NOTEBOOK
from ..train.config import RunConfig
from ..vocab import counted
from .executor import Batch, Executor, Finished, Options, Slots
from .plan import GridError
from .runner import execute, thread_env
from .watchdog import stall_bound


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _on_cuda(cfg: RunConfig) -> bool:
    import torch
    return cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())


def visible_gpus() -> int:
    """CUDA devices this process sees (CUDA_VISIBLE_DEVICES applies)."""
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def parallelism(jobs: int | str, todo: list[RunConfig], gpus: list[int] | None = None,
                threads: int = 0, cores: int | None = None, gpu_count: int | None = None) -> tuple[int, int, str]:
    """(runs at once, CPU threads per run, a line saying why). ``gpu_count``: the visible GPUs (a seam)."""
    cores = cores or cpu_cores()
    cuda = any(_on_cuda(c) for c in todo)
    if jobs == "auto":
        n_gpu = len(gpus) if gpus else (visible_gpus() if gpu_count is None else gpu_count) if cuda else 0
        jobs = max(1, n_gpu) if cuda else max(1, min(cores, len(todo)))
        why = "--jobs auto: " + (f"one run per GPU ({n_gpu} {'given' if gpus else 'visible'})" if cuda else
                                 "one run per core (fastest measured on the CPU)")
    else:
        why = f"--jobs {jobs}"
    per_run = threads or max(1, cores // jobs)
    return jobs, per_run, f"{why}: {counted(jobs, 'run')} at once, {counted(per_run, 'CPU thread')} each ({cores} cores)"


class LocalExecutor(Executor):
    """This machine: a pool of ``jobs`` threads, each running one notebook at a time."""

    def __init__(self, jobs: int | str = "auto", threads: int = 0, gpus: list[int] | None = None,
                 notebook: Path = RUN_NOTEBOOK, stall_s: float | None = None):
        self.jobs, self.threads, self.gpus, self.notebook = jobs, threads, gpus, notebook
        self.stall_s = stall_s   # seconds without progress that end a run; None: from its estimate

    @classmethod
    def from_options(cls, options: Options) -> "LocalExecutor":
        if options.settings or options.no_wait:
            raise GridError("--slurm and --no-wait need --executor slurm (or type: slurm in the grid's executor block)")
        return cls(options.jobs, options.threads, options.gpus, stall_s=options.stall_s)

    def describe(self, todo: list[RunConfig]) -> Slots:
        return Slots(*parallelism(self.jobs, todo, self.gpus, self.threads))

    def estimate_device(self, todo: list[RunConfig]) -> str:
        return f"cuda:{self.gpus[0]}" if self.gpus else todo[0].device

    def launch(self, batch: Batch) -> Iterator[Finished]:
        todo = batch.todo
        at_once = max(1, batch.slots.at_once)
        devices = self.gpus or (list(range(visible_gpus())) if any(_on_cuda(c) for c in todo) else [])
        free: queue.Queue[int] = queue.Queue()
        for i in range(at_once):          # a slot per run at once, spread over the GPUs
            if devices:
                free.put(devices[i % len(devices)])

        def one(cfg: RunConfig) -> Finished:
            gpu = free.get() if devices else None   # the next GPU a run has given back
            try:
                if gpu is not None:
                    cfg = cfg.replace(device=f"cuda:{gpu}")
                t = time.monotonic()
                bound = stall_bound(self.stall_s, batch.estimates.get(cfg.run_id()), cfg.epochs)
                m = execute(cfg, self.notebook, stall_s=bound)
                return Finished(cfg, m, time.monotonic() - t)
            finally:
                if gpu is not None:
                    free.put(gpu)

        with thread_env(batch.slots.threads):
            pool = ThreadPoolExecutor(max_workers=at_once)
            try:
                for fut in as_completed([pool.submit(one, c) for c in todo]):
                    yield fut.result()
            except BaseException:  # Ctrl-C, or the grid closing this generator: start nothing more
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
