"""The executors by name, as ``--executor`` and a grid file's ``executor: {type: ...}`` name them. A new
backend is a module with an Executor subclass and one line here; no caller changes."""
from __future__ import annotations

from .executor import Executor
from .local import LocalExecutor
from .plan import GridError
from .slurm import SlurmExecutor

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "slurm": SlurmExecutor}


def executor_class(name: str) -> type[Executor]:
    try:
        return EXECUTORS[name]
    except KeyError:
        raise GridError(f"unknown executor {name!r}; allowed: {', '.join(EXECUTORS)}") from None
