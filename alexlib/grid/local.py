"""The grid on this machine: ``--jobs`` runs at once in a pool of threads, each running its notebook in a
kernel of its own, pinned round-robin to ``--gpus``.

On a CPU, runs at once share the cores: each gets cores // jobs threads (in its config, and in the kernel's
OMP/MKL variables before its torch starts), so --jobs N speeds a grid up instead of oversubscribing the
CPU. ``--jobs auto`` runs as many at once as there are cores, one thread each, on a CPU (measured fastest
for the CPU grids: docs/PERFORMANCE.md), and one run per GPU on CUDA.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterator

from ..paths import RUN_NOTEBOOK
from ..train.config import RunConfig
from .executor import Batch, Executor, Finished, Options, Slots
from .plan import GridError
from .runner import execute, thread_env


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


class LocalExecutor(Executor):
    """This machine: a pool of ``jobs`` threads, each running one notebook at a time."""

    def __init__(self, jobs: int | str = "auto", threads: int = 0, gpus: list[int] | None = None,
                 notebook: Path = RUN_NOTEBOOK):
        self.jobs, self.threads, self.gpus, self.notebook = jobs, threads, gpus, notebook

    @classmethod
    def from_options(cls, options: Options) -> "LocalExecutor":
        if options.slurm or options.no_wait:
            raise GridError("--slurm and --no-wait need --executor slurm (or type: slurm in the grid's executor block)")
        return cls(options.jobs, options.threads, options.gpus)

    def describe(self, todo: list[RunConfig]) -> Slots:
        return Slots(*parallelism(self.jobs, todo, self.gpus, self.threads))

    def launch(self, batch: Batch) -> Iterator[Finished]:
        todo = batch.todo
        if self.gpus:
            todo = [c.replace(device=f"cuda:{self.gpus[i % len(self.gpus)]}") for i, c in enumerate(todo)]

        def one(cfg: RunConfig) -> Finished:
            t = time.monotonic()
            m = execute(cfg, self.notebook)
            return Finished(cfg, m, time.monotonic() - t)

        with thread_env(batch.slots.threads):
            pool = ThreadPoolExecutor(max_workers=max(1, batch.slots.at_once))
            try:
                for fut in as_completed([pool.submit(one, c) for c in todo]):
                    yield fut.result()
            except BaseException:  # Ctrl-C, or the grid closing this generator: start nothing more
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
