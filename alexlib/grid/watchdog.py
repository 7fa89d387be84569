"""The no-progress watchdog of a run's kernel: a run whose folder sees nothing new for a bounded time (no
console output in run.log, no notebook autosave, no epoch's checkpoint or metrics.json) is hung, and its
kernel's process group is ended, so that it gives its slot back to the grid instead of holding it forever.

The bound is ``--stall-timeout`` (or the grid file's ``stall_timeout``): ``auto``, or a duration with its unit
(``90s``, ``20m``, ``2h``). ``auto`` is STALL_MARGIN times the estimated seconds of one epoch, never less than
STALL_FLOOR_S.
"""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

from .plan import GridError

# Why one epoch: a healthy run writes its checkpoint and metrics.json after every epoch and prints its epoch
# line, and while it trains its progress bar prints a line every 30 s, so its quiet stretches (kernel start,
# reading the data, an evaluation pass, one step) all fit in one epoch and its start-up. The margin covers an
# estimate that is optimistic (a calibration times one process alone: ~20 % short when runs share the cores)
# and a first epoch that also captures the CUDA graph and autotunes; the floor keeps runs of seconds from being
# ended by a machine that pauses for a while (swapping, a slow shared filesystem), and is what a run gets with
# no estimate (--no-estimate, SLURM).
STALL_MARGIN = 4           # times the estimated seconds of one epoch
STALL_FLOOR_S = 30 * 60    # seconds: the least the automatic bound allows
UNITS = {"s": 1, "m": 60, "h": 3600}   # a duration's unit -> seconds


def parse_stall(value: Any, where: str = "--stall-timeout") -> float | None:
    """Seconds of the setting ``value`` (``45m``, ``90s``, ``2h``), or None for ``auto``; anything else is a
    GridError naming ``where`` and the allowed values."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smh])", text)
    seconds = float(m.group(1)) * UNITS[m.group(2)] if m else 0.0
    if seconds <= 0:
        raise GridError(f"{where} takes auto or a duration above 0 with its unit, s, m or h (90s, 20m, 2h), "
                        f"got {value!r}")
    return seconds


def stall_bound(setting_s: float | None, run_s: float | None, epochs: int) -> float:
    """Seconds without progress after which a run's kernel is ended: the setting, else ``auto`` from the run's
    estimated seconds (``run_s``, None when there is no estimate) over its epochs."""
    if setting_s is not None:
        return setting_s
    if not run_s:
        return float(STALL_FLOOR_S)
    return max(float(STALL_FLOOR_S), STALL_MARGIN * run_s / max(1, epochs))


def newest_write(folder: Path) -> int:
    """The newest modification time among the files directly in ``folder``, in ns (0 when there are none)."""
    try:
        with os.scandir(folder) as entries:
            return max((e.stat().st_mtime_ns for e in entries if e.is_file()), default=0)
    except OSError:   # the folder is not there yet, or a file went between listing and stat: no news
        return 0


class Watchdog:
    """Watches one run's folder while its notebook runs (``with Watchdog(...)``); ``kernel_started`` is given
    each kernel manager papermill starts. After ``bound_s`` seconds without a new write in the folder it ends
    the kernel's process group and sets ``fired``. Progress is a change of the newest write, timed on this
    process's monotonic clock, so a shared filesystem's clock that differs from ours does not matter."""

    def __init__(self, folder: Path, bound_s: float, poll_s: float | None = None):
        self.folder, self.bound_s = Path(folder), bound_s
        self.poll_s = poll_s or min(5.0, max(0.05, bound_s / 20))   # seconds between looks at the folder
        self.fired = False
        self._km: Any = None
        self._started = 0.0   # monotonic seconds when the last kernel was started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name=f"watchdog {self.folder.name}")

    def kernel_started(self, km: Any) -> None:
        """``km``: the kernel manager of the kernel papermill is starting (None: none runs now). A new kernel
        counts as progress: a retried start is not charged for the time the failed one took."""
        self._km, self._started = km, time.monotonic()

    def __enter__(self) -> "Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        seen, since = newest_write(self.folder), time.monotonic()
        while not self._stop.wait(self.poll_s):
            now = newest_write(self.folder)
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - max(since, self._started) >= self.bound_s and self._end_kernel():
                self.fired = True
                return

    def _end_kernel(self) -> bool:
        """SIGKILL to the kernel's process group (the kernel and anything it started): a hung kernel may never
        answer an interrupt, and every file a run writes is written whole, so a kill loses at most the epoch in
        progress. False while no kernel runs (papermill is still starting one, with its own timeout)."""
        prov = getattr(self._km, "provisioner", None)
        pid = getattr(prov, "pid", None)
        if not pid:
            return False
        pgid = getattr(prov, "pgid", None) or pid
        try:
            if pgid == os.getpgrp():   # a kernel in our own group: end it alone, never the grid with it
                os.kill(pid, signal.SIGKILL)
            else:
                os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:   # it ended by itself meanwhile; papermill reports that
            pass
        return True
