"""A study in one call, for a notebook: every run and every epoch as tables, chosen runs' curves, a grid's state.

    from alexlib.lab import explore
    s = explore.load("reports/fashion/records")    # or a grid's name ("fashion"), or any runs folder
    s.runs                                         # one row per record: config, status, final metrics, env
    s.history                                      # one row per record and epoch: every per-epoch metric
    explore.plot(s, norm=["bn", "gn"], batch_size=2)   # test accuracy per epoch, a band where seeds share a cell
    explore.status("fashion")                      # the grid's runs: done, running (epoch), to resume, to run...

Nothing here decides anything: the report's verdicts are in reports/<grid>/report.pdf. Runs of several protocols
may share a folder; the ``protocol`` column tells them apart.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..grid.command import grid_file_path, runs_folder
from ..grid.plan import GridError, load_grid
from ..io import FolderLock
from ..paths import REPO, from_repo
from ..train.config import RunConfig
from ..train.record import read_metrics
from ..vocab import ALIKE, counted

CELL = ("protocol", *ALIKE)   # runs alike but for their seed (vocab.ALIKE), any design
LABELS = ("norm", "batch_size", "lr", "epochs", "image_size", "width", "dataset")   # what a curve's label may name


@dataclass
class Study:
    """The records below one folder, as two tables."""
    where: Path
    runs: pd.DataFrame      # one row per record (an unreadable one: status "unreadable", its problem in "error")
    history: pd.DataFrame   # one row per record and epoch

    def select(self, **where: Any) -> "Study":
        """The runs whose columns hold these values (a list: any of them), and their history."""
        runs = pick(self.runs, where)
        return Study(self.where, runs, self.history[self.history.run_id.isin(runs.run_id)])

    def cells(self) -> pd.DataFrame:
        """Completed runs' final test accuracy per cell (runs alike but for the seed): seeds, mean, sd, min, max."""
        done = self.runs[self.runs.status == "completed"]
        g = done.groupby(list(CELL), dropna=False).test_acc
        return g.agg(seeds="count", mean="mean", sd="std", min="min", max="max").round(2).reset_index()

    def __repr__(self) -> str:
        by = self.runs.status.value_counts().to_dict() if len(self.runs) else {}
        return (f"Study({_shown(self.where)}: {len(self.runs)} records {by}, {len(self.history)} epochs, "
                f"{counted(self.runs.protocol.nunique() if len(self.runs) else 0, 'protocol')})")


def load(where: str | os.PathLike) -> Study:
    """The records below a folder (a runs folder, a committed report's records) or of a grid (its name in params/,
    or its file: the grid's runs folder, runs/<name>)."""
    folder = _folder(where)
    from ..report.domain.records import kept_per_key, record_rows
    rows, epochs = [], []
    for p, m, row in record_rows(folder):
        if m is None:
            rows.append({"run_id": p.parent.name, "path": str(p.parent.relative_to(folder)), "status": "unreadable",
                         "error": row})
            continue
        row = {k: v for k, v in row.items() if k not in ("curve", "loss_curve")}
        row["protocol"] = protocol_label(row)
        rows.append(row)
        ids = {k: row[k] for k in ("run_id", "path", "protocol", *LABELS, "seed")}
        epochs += [ids | {"status": row["status"], **h} for h in m.history]
    runs = pd.DataFrame(rows)
    if runs.empty:
        raise FileNotFoundError(f"no metrics.json under {_shown(folder)}")
    runs = runs.sort_values("path").reset_index(drop=True)
    if "key" in runs:   # a copied run folder: a row, marked; the report counts its run once
        readable = runs.dropna(subset=["key"])
        runs["duplicate"] = runs.key.notna() & ~runs.index.isin(kept_per_key(readable))
    history = pd.DataFrame(epochs)
    if not history.empty:
        history = history.sort_values(["path", "epoch"]).reset_index(drop=True)
    return Study(folder, runs, history)


DEFAULTS = RunConfig()


def protocol_label(row: dict[str, Any]) -> str:
    """What runs of one comparison share (vocab.PROTOCOL), in a few words: data, its sizes, input, width, precision,
    and momentum, dropout and GroupNorm's groups where they differ from the defaults."""
    sizes = "/".join("all" if not row.get(k) else f"{int(row[k]):,}" for k in ("train_size", "test_size"))
    other = " ".join(f"{k} {row[k]:g}" for k in ("momentum", "dropout", "gn_groups")
                     if row.get(k) is not None and row[k] != getattr(DEFAULTS, k))
    return (f"{row.get('dataset')} {sizes} {row.get('image_size')}px w{row.get('width'):g} "
            f"{row.get('precision')}" + (f" {other}" if other else ""))


def pick(df: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    for k, v in where.items():
        if k not in df.columns:
            raise KeyError(f"no column {k!r}; the columns: {', '.join(df.columns)}")
        values = list(v) if isinstance(v, (list, tuple, set)) else [v]
        df = df[df[k].isin(values)]
    return df


def plot(study: Study, metric: str = "test_acc", by: Iterable[str] = ("norm", "batch_size"), ax=None,
         status: str | list[str] = "completed", **where: Any):
    """``metric`` per epoch for the runs ``where`` picks (``study.select``'s filters) among those of ``status``
    (completed by default, as ``cells()`` counts them; a list widens it): one line per cell (runs alike but for
    the seed), its mean over seeds with a band from the lowest to the highest seed where there are several, and
    the label from the columns in ``by`` and whatever else differs. Returns the matplotlib Figure."""
    from matplotlib.figure import Figure
    by = list(by)
    sub = study.select(status=status, **where).history
    if metric not in sub.columns:
        raise KeyError(f"no per-epoch metric {metric!r}; these are: {', '.join(_epoch_metrics(study.history))}")
    if sub.empty:
        raise ValueError(f"no epochs of runs with {where} in {_shown(study.where)}")
    if ax is None:
        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
    named = by + [k for k in LABELS if k not in by and sub[k].nunique() > 1]   # and whatever else differs
    for key, cell in sub.groupby(list(CELL), dropna=False):
        per = cell.groupby("epoch")[metric]
        mean, lo, hi, n = per.mean(), per.min(), per.max(), cell.run_id.nunique()
        label = ", ".join(_named(k, cell[k].iloc[0]) for k in named) + (f" ({n} seeds)" if n > 1 else "")
        line, = ax.plot(mean.index, mean.values, "o-", ms=3, label=label)
        if n > 1:
            ax.fill_between(mean.index, lo.values, hi.values, color=line.get_color(), alpha=0.2, lw=0)
    protocols = sub.protocol.unique()
    ax.set(xlabel="epoch", ylabel=metric.replace("_", " ") + (" %" if metric.endswith("acc") else ""),
           title=protocols[0] if len(protocols) == 1 else f"{len(protocols)} protocols (the labels say which)")
    ax.legend(fontsize=7)
    ax.figure.tight_layout()
    return ax.figure


def _named(column: str, value: Any) -> str:
    short = {"batch_size": "batch", "image_size": "px", "width": "width", "epochs": "epochs"}
    return f"{value:g} px" if column == "image_size" else f"{short.get(column, column)} {value:g}" \
        if isinstance(value, numbers.Number) else str(value)


def _epoch_metrics(history: pd.DataFrame) -> list[str]:
    skip = {"run_id", "path", "protocol", *LABELS, "seed", "status", "epoch"}
    return [c for c in history.columns if c not in skip]


# ---------------------------------------------------------------------------------------------------
# A grid's state
# ---------------------------------------------------------------------------------------------------
STATES = ("done", "running", "to resume", "to run", "failed", "diverged")


def status(grid: str | os.PathLike, out: str | os.PathLike | None = None, at_once: int | None = None,
           estimate: bool = True) -> pd.DataFrame:
    """The grid's runs, one row each: ``state`` (done, diverged, running, to resume, failed, to run), the epoch
    reached, the last test accuracy, and the estimated seconds left (from rates recorded here; ``estimate=False``
    leaves them out). ``attrs["left_s"]``: the time left for the whole grid, ``at_once`` runs at a time (default:
    as many as run now, else as many as the grid's ``--jobs auto`` would run here); ``attrs["line"]``: that in
    words."""
    from ..grid.estimate import device_name_here, rate_folders, recorded_rates, run_seconds, shape
    from ..grid.local import parallelism
    from ..grid.runner import status_of
    from ..vocab import fmt_time
    runs_dir = runs_folder(grid, out)
    plan = load_grid(grid_file_path(grid), runs_dir)
    block_of = {rid: b for b, ids in plan.blocks.items() for rid in ids}
    rows, threads_seen = [], []
    for c in plan.runs:
        m = read_metrics(Path(c.out_dir)) or {}
        threads_seen.append((m.get("env") or {}).get("cpu_threads"))
        st, hist = m.get("status"), m.get("history") or []
        state = _state(status_of(c), st, FolderLock.held(c.out_dir))
        rows.append({"run_id": c.run_id(), "block": block_of.get(c.run_id(), plan.name), "state": state,
                     "norm": c.norm, "batch_size": c.batch_size, "lr": c.lr, "seed": c.seed,
                     "epoch": len(hist), "epochs": c.epochs,
                     "test_acc": hist[-1]["test_acc"] if hist else math.nan,
                     "error": (m.get("error") or "")[:200] if state == "failed" else ""})
    df = pd.DataFrame(rows)
    df.attrs["grid"] = plan.name
    if estimate and len(df):
        left_runs = [c for c, r in zip(plan.runs, rows) if r["state"] not in ("done", "diverged")] or plan.runs
        running = int((df.state == "running").sum())
        n, per_run, _ = parallelism(at_once or running or "auto", left_runs)   # by default as the grid runs them
        seen = [t for t in threads_seen if t]   # the rates of the thread count this grid's runs recorded
        threads = max(set(seen), key=seen.count) if seen else per_run
        rates = recorded_rates(rate_folders(runs_dir), device_name_here(), threads)
        left = []
        for c, r in zip(plan.runs, rows):
            if r["state"] in ("done", "diverged") or shape(c) not in rates:
                left.append(0.0 if r["state"] in ("done", "diverged") else math.nan)
            else:
                left.append(run_seconds(c, rates) * (1 - r["epoch"] / c.epochs))
        df["left_s"] = left
        known, unknown = df.left_s.dropna(), int(df.left_s.isna().sum())
        df.attrs["left_s"] = max(float(known.sum()) / n, float(known.max()) if len(known) else 0.0)
        counts = ", ".join(f"{(df.state == s).sum()} {s}" for s in STATES if (df.state == s).any())
        df.attrs["line"] = (f"grid {plan.name}: {counts}; about {fmt_time(df.attrs['left_s'])} left, {n} at once"
                            + (f" ({counted(unknown, 'run')} of shapes with no rate recorded here not counted)" if unknown
                               else ""))
    return df


def _state(grid_says: str, recorded: str | None, held: bool) -> str:
    """A run's state from what the grid would do with it (runner.status_of: done, resume, new), what its record
    says, and whether a process holds its folder now."""
    if grid_says == "done":
        return "diverged" if recorded == "diverged" else "done"
    if held:
        return "running"
    if recorded == "failed":
        return "failed"   # the grid runs it again: resumed from its checkpoint where it has one
    return "to resume" if grid_says == "resume" else "to run"


# ---------------------------------------------------------------------------------------------------
def _folder(where: str | os.PathLike) -> Path:
    p = from_repo(where)
    if p.is_dir():
        return p
    try:
        path = grid_file_path(where)
        if path.is_file():
            return runs_folder(path)
    except GridError:
        pass
    raise FileNotFoundError(f"{where!s}: not a folder of runs, nor a grid in params/ "
                            f"({', '.join(p.stem for p in sorted((REPO / 'params').glob('*.yaml')))})")


def _shown(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)

