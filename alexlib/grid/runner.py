"""One run of the grid: whether it is done, running notebooks/run.ipynb for it through papermill (its console in
run.log, a kernel that shows no progress ended by a watchdog), and the record a run that failed gets (the local
runner's and the SLURM path's alike)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..io import environ, read_json, utc_now, write_json
from ..notebooks import execute as run_notebook
from ..paths import RUN_NOTEBOOK
from ..train.config import RunConfig
from ..train.record import CHECKPOINT, METRICS, RunRecord, portable, read_metrics, same_run
from ..train.run.device import resolved_precision_here
from ..vocab import FINISHED, fmt_time
from .watchdog import STALL_FLOOR_S, Watchdog

KERNEL_START_TRIES = 3  # papermill kernel starts can race when several runs start at once
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # read once, when a kernel's torch starts
RUN_LOG = "run.log"  # <run folder>/run.log: the kernel's console output, to follow a running grid


def status_of(cfg: RunConfig) -> str:
    """done (completed or diverged, same config), resume (checkpoint there), or new."""
    out = Path(cfg.out_dir)
    m = read_metrics(out)
    if m is not None and m.get("status") in FINISHED and same_run(m, cfg, resolved_precision_here(cfg))[0]:
        return "done"
    if (out / CHECKPOINT).exists():
        return "resume"
    return "new"


def trained_by(cfg: RunConfig) -> str | None:
    """The digest of the training code that made the run's finished record (None: written before records named
    it, or no record)."""
    m = read_metrics(Path(cfg.out_dir))
    return (m or {}).get("code_digest")


def trained_at(cfg: RunConfig) -> str | None:
    """The git commit the run's finished record names (its ``env``), shortened; None where it names none."""
    commit = ((read_metrics(Path(cfg.out_dir)) or {}).get("env") or {}).get("git_commit")
    return str(commit)[:12] if commit else None


def lacks_of(cfg: RunConfig) -> tuple[str, ...]:
    """What the run's completed record lacks (``RunRecord.lacks``: written by an earlier version, or its BatchNorm
    checks failed after training); () without one, and for a run that diverged (trained again, it would diverge
    again before recording what it lacks)."""
    p = Path(cfg.out_dir) / METRICS
    try:
        rec = RunRecord.from_json(read_json(p)) if p.exists() else None
    except (ValueError, OSError, TypeError):
        return ()
    return rec.lacks if rec is not None and rec.status == "completed" else ()


def set_aside(cfg: RunConfig, why: str) -> Path:
    """A finished record moved aside (metrics.<why>.json beside it: kept, never read as a run) with any checkpoint,
    so that the run trains again from its first epoch."""
    out = Path(cfg.out_dir)
    kept, n = out / f"metrics.{why}.json", 1
    while kept.exists():   # an earlier record set aside for the same reason stays as it is
        n += 1
        kept = out / f"metrics.{why}.{n}.json"
    (out / METRICS).replace(kept)
    (out / CHECKPOINT).unlink(missing_ok=True)
    return kept


def thread_env(threads: int):
    """OpenMP and MKL told ``threads`` for the kernels started inside, so each starts with its share of the
    cores, not one thread per core; the variables are restored after the last run that set them ends."""
    return environ(**{v: str(threads) for v in THREAD_VARS})


def execute(cfg: RunConfig, notebook: Path = RUN_NOTEBOOK, log=print,
            stall_s: float = STALL_FLOOR_S) -> dict[str, Any]:
    """Run the notebook for one config; returns its metrics record (``failed`` written here if the
    notebook died before train() could record anything, or if it made no progress for ``stall_s`` seconds
    and its kernel was ended). The kernel's console output goes to <run folder>/run.log as it comes."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    err, stalled = _run_watched(cfg, notebook, out, stall_s, log)
    m = read_metrics(out)
    if m is not None and not same_run(m, cfg, resolved_precision_here(cfg))[0]:
        # the folder holds another run's record (another config, or this one run elsewhere at another
        # precision): never overwrite it; this run's failure is reported, not written there
        return {"status": "failed", "error": _short_error(err) if err else f"{out} holds another run's record"}
    if err is not None and "is in use by" in _short_error(err):  # another process owns this run: leave its files
        return {"status": "failed", "error": _short_error(err)}
    if err is not None and m is not None and m.get("status") in FINISHED:
        # train() finished and recorded its result; a later cell (table, plot) failed: keep the result
        log(f"  {cfg.run_id()}: {m['status']}, but the notebook failed after training: {_short_error(err)[:300]}")
        return m
    # a failure train() could not record (the kernel did not start or died): the runner records it; a record
    # of its own carries the precision the run would have had, which keeps it in its protocol's cell
    own = {"precision": resolved_precision_here(cfg)}
    if stalled:  # whatever the killed kernel last wrote (running, or an earlier attempt's failure) says so now
        kept = {k: v for k, v in m.items() if k != "traceback"} if m else None
        return write_failure(cfg, stall_error(stall_s), kept, None if m else own)
    # train() recorded a failure, or an interruption (resumable: a rerun goes on from its checkpoint): keep it
    if err is not None and (m is None or m.get("status") not in ("failed", "interrupted")):
        return write_failure(cfg, _short_error(err), m, None if m else own)
    if m is None:
        return write_failure(cfg, "the notebook finished without writing metrics.json", None, own)
    return m


def _run_watched(cfg: RunConfig, notebook: Path, out: Path, stall_s: float,
                 log) -> tuple[BaseException | None, bool]:
    """The notebook run under a Watchdog, its console appended to run.log (a resumed run's log follows the
    attempts before it), a kernel that does not start tried again: (the error it raised, or None; whether the
    watchdog ended it)."""
    params = cfg.replace(progress=True).to_dict()
    err: BaseException | None = None
    with open(out / RUN_LOG, "a", encoding="utf-8") as console, Watchdog(out, stall_s) as dog:
        console.write(f"--- {utc_now()} {cfg.run_id()}: {notebook.name} starts "
                      f"(stall timeout {fmt_time(stall_s)})\n")
        console.flush()
        for attempt in range(1, KERNEL_START_TRIES + 1):
            try:
                run_notebook(notebook, out / "run.ipynb", params, console, dog.kernel_started)
                return None, False
            except Exception as e:  # PapermillExecutionError, kernel death, start timeouts
                err = e
                if dog.fired or not _kernel_start_failure(e) or attempt == KERNEL_START_TRIES:
                    break
                log(f"  {cfg.run_id()}: kernel did not start ({type(e).__name__}); "
                    f"retry {attempt + 1}/{KERNEL_START_TRIES}")
                dog.kernel_started(None)
                time.sleep(2 * attempt)
        if dog.fired:
            said = (f"{cfg.run_id()}: no progress for {fmt_time(stall_s)} (no output, nothing written in its "
                    f"folder): kernel ended; recorded failed, a rerun resumes it from its last checkpoint")
            console.write(said + "\n")
            log("  " + said)
    return err, dog.fired


def stall_error(stall_s: float) -> str:
    """A stalled run's error, its first words what the grid's progress line shows."""
    return (f"stalled: no progress for {fmt_time(stall_s)}, kernel ended by the grid (--stall-timeout); "
            f"a rerun resumes it from its last checkpoint")


def write_failure(cfg: RunConfig, error: str, record: dict[str, Any] | None = None,
                  env: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record a failed run gets, written whole to its metrics.json: ``record`` (what the run wrote before
    it died: history, env), or a new one when it wrote none, now ``failed`` with ``error``; ``env`` is added
    to its env (the SLURM path adds the job's state there)."""
    m = RunRecord.from_json(record) if record else RunRecord(cfg.run_id(), portable({"config": cfg.to_dict()})["config"])
    m.status, m.error = "failed", error
    m.env = {**m.env, **(env or {})}
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / METRICS, m.to_json())
    return m.to_json()


def _kernel_start_failure(e: BaseException) -> bool:
    text = f"{type(e).__name__}: {e}"
    return any(s in text for s in ("Kernel didn't respond", "Kernel died before replying", "kernel_info",
                                   "TimeoutError", "ZMQ"))


def _short_error(e: BaseException) -> str:
    name = getattr(e, "ename", type(e).__name__)
    value = getattr(e, "evalue", str(e))
    return f"{name}: {value}"[:2000]
