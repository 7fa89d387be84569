"""Executing a notebook with papermill, as the grid runs notebooks/run.ipynb and the report runs
notebooks/summary.ipynb: from the repository root, quietly, with the project's kernel."""
from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Callable

from .io import environ
from .paths import REPO

KERNEL_START_TIMEOUT = 120  # seconds; parallel kernel starts on a busy machine can be slow


def kernel_manager_config():
    """CurveZMQ encryption for the kernel's sockets when pyzmq and the kernel support it (ipykernel 7 does,
    and says so in its kernelspec). Unencrypted TCP is what makes every kernel print "Kernel is running over
    TCP without encryption"; encrypted, it has nothing to warn about, and the rest of its log still shows."""
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config
    c = Config()
    if zmq.has("curve") and KernelManager.class_traits().get("transport_encryption") is not None:
        c.KernelManager.transport_encryption = "auto"  # keys only for a kernel that declares it can use them
    return c


def execute(src: str | Path, dst: str | Path, parameters: dict[str, Any], log: IO[str] | None = None,
            on_kernel: Callable[[Any], None] | None = None) -> None:
    """Execute a notebook with papermill from the repository root, quietly (no progress bar). An error in a
    cell raises papermill's PapermillExecutionError; a kernel that dies raises too. ``log``: a text file that
    gets the kernel's stdout and stderr as they come; ``on_kernel``: told each kernel manager papermill makes
    (a watchdog ends a hung kernel through it)."""
    import papermill as pm
    extra: dict[str, Any] = {"stdout_file": log, "stderr_file": log} if log is not None else {}
    if on_kernel is not None:
        from jupyter_client import AsyncKernelManager  # nbclient's default manager

        class Announced(AsyncKernelManager):
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                on_kernel(self)
        extra["kernel_manager_class"] = Announced
    with not_live():
        pm.execute_notebook(str(src), str(dst), parameters=parameters, cwd=str(REPO), progress_bar=False,
                            log_output=False, start_timeout=KERNEL_START_TIMEOUT, kernel_name="python3",
                            config=kernel_manager_config(), **extra)


def not_live():
    """Kernels started inside draw no live view (alexlib.lab.live), even when this process runs in a Lab kernel whose
    environment they inherit: an executed notebook keeps one line per epoch and no widget state."""
    return environ(ALEXLIB_LIVE="0")
