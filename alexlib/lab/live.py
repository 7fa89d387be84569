"""notebooks/run.ipynb in JupyterLab: what a run will cost before it starts, and a run that shows itself while it
trains (a widget progress bar per epoch and learning curves redrawn after every epoch).

Shown only in an interactive kernel: one a Jupyter server started for a notebook (JupyterLab, Notebook: the
server sets ``JPY_SESSION_NAME`` in the kernel's environment, and is the kernel's parent process). Under papermill,
nbconvert or nbval nothing here draws, even when they run from a Lab kernel or terminal whose environment they
inherit: the run prints one line per epoch, and the saved notebook holds no widget state. ``ALEXLIB_LIVE=1`` or
``0`` decides instead.

    live = LiveRun.here()                     # None where not interactive
    train(cfg, **(live.hooks() if live else {}))
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..paths import REPO
from ..train.config import RunConfig
from ..vocab import counted
from .run import plot_curves

LIVE_ENV = "ALEXLIB_LIVE"
LONG_S = 3600   # a run longer than this gets a pointer to the configurations that finish here


def interactive() -> bool:
    """Whether this kernel was started for a notebook open in a Jupyter front end (not papermill's, nbval's)."""
    forced = os.environ.get(LIVE_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return (shell is not None and hasattr(shell, "kernel") and bool(os.environ.get("JPY_SESSION_NAME"))
            and started_by_a_server() is not False)


SERVERS = ("jupyter-lab", "jupyter-notebook", "jupyter-server", "jupyterhub", "jupyter_server", "jupyterlab",
           "jupyter lab", "jupyter notebook", "jupyter server", "-m notebook")


def started_by_a_server() -> bool | None:
    """Whether this kernel's parent process is a Jupyter server (a kernel papermill or nbval started is not, though
    it inherits the variable when they run from a Lab kernel); None where the system does not say (no /proc)."""
    try:
        cmd = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return any(w in cmd for w in SERVERS)


class LiveRun:
    """One run's live view: ``hooks()`` gives train() its ``bar`` (ipywidgets' progress bar, through tqdm's
    notebook bar) and its ``on_epoch`` (the learning curves, redrawn in place)."""

    def __init__(self):
        from IPython.display import display
        self.curves = display(display_id=True)   # an empty output the figure replaces after each epoch

    @classmethod
    def here(cls) -> "LiveRun | None":
        return cls() if interactive() else None

    def hooks(self) -> dict[str, Any]:
        return {"bar": self.bar, "on_epoch": self.on_epoch}

    @staticmethod
    def bar(label: str, total: int):
        from tqdm.notebook import tqdm
        return tqdm(total=total, desc=label, unit="batch", leave=False, mininterval=0.5)

    def on_epoch(self, record: dict[str, Any]) -> None:
        self.curves.update(plot_curves(record))


def cost_line(cfg: RunConfig, folders: list[Path] | None = None) -> str:
    """What this run will cost here, from rates recorded here (the runs folder, committed reports' records) or a
    calibration of a few steps (seconds for the CPU grids' shapes; about half a minute for the report's 224 px on a
    CPU): the grid's estimate for one run (alexlib.grid.estimate)."""
    from ..grid.estimate import device_name_here, estimate, rate_folders
    from ..vocab import fmt_time
    if folders is None:
        folders = rate_folders(REPO / "runs")
    threads = cfg.threads or _default_threads()
    try:
        cost = estimate([cfg], 1, threads, [f for f in folders if f.is_dir()], device_name_here(cfg.device))
    except Exception as e:  # noqa: BLE001 (an estimate that cannot be made does not stop the run)
        return f"estimate: not made here ({type(e).__name__}: {e})"
    how = "recorded rates" if cost.recorded else f"a {cost.calibration_s:.0f}-second calibration"
    long = cost.seconds > LONG_S and "the notebook's first cell names configurations that finish in minutes here"
    return (f"estimate: about {fmt_time(cost.seconds)} for this run on this machine, {counted(threads, 'thread')} "
            f"(from {how}; {counted(cfg.epochs, 'epoch')})" + (f"; {long}" if long else ""))


def _default_threads() -> int:
    import torch
    return torch.get_num_threads()
