"""The records read into the runs table: every metrics.json below a folder, one row per distinct run (a copied
run folder counts once), the runs that never trained set aside, the study's one protocol selected (runs of two are
never averaged together), each run labeled with its design (``runs.assign_designs``) and stage, unreadable files
kept in view as problems, not skipped; the report's published numbers (params/reference.yaml); and the record's
environment fields under the names the report gives them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import yaml

from ...stages import SecondStage, read_stages
from ...train.config import ConfigError, RunConfig
from ...train.net.norms import ARMS
from ...train.record import RunRecord, Unreadable, read_records
from ...vocab import PROTOCOL, STATUS_RANK
from .runs import IMAGE_ARM, NORM_ARM, ProtocolError, assign_designs, is_image_arm, main_image_size


@dataclass(frozen=True)
class Loaded:
    """What ``read_study_runs`` found below a runs folder."""
    runs: pd.DataFrame                  # one row per distinct run of one protocol, with its design and stage
    fixed_epochs: int                   # the epochs of the report's design (fixed epochs and lr)
    problems: list[dict[str, str]]      # metrics.json files that could not be used, and why
    duplicates: int                     # run folders that held a run already counted
    stages: list[SecondStage] = field(default_factory=list)   # the second stage's plan (stages.json)


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------
def read_study_runs(runs_dir: Path, select: str = "") -> Loaded:
    """The runs below ``runs_dir`` that ``select`` picks, checked to be of one protocol, with their designs."""
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs folder {runs_dir} does not exist; run a grid first "
                                f"(python -m alexlib.grid params/<grid>.yaml --out {runs_dir})")
    df, problems, dups = load_runs(runs_dir)
    if df.empty:
        raise FileNotFoundError(f"no metrics.json under {runs_dir}" +
                                (f" that could be read ({len(problems)} unreadable)" if problems else ""))
    for k, v in parse_select(select).items():
        df = df[np.isclose(df[k], v)] if isinstance(v, (int, float)) and not isinstance(v, bool) else df[df[k] == v]
    if df.empty:
        raise ProtocolError(f"no run under {runs_dir} matches select={select!r}")
    df, untrained = set_aside_untrained(df)
    main_px = main_image_size(df)
    check_one_protocol(df.assign(image_size=main_px) if is_image_arm(df, main_px) else df, runs_dir)
    df, fixed_epochs = assign_designs(df.reset_index(drop=True), runs_dir)
    df.loc[(df.image_size != main_px).to_numpy(), "design"] = IMAGE_ARM
    df.loc[df.norm.isin(ARMS).to_numpy(), "design"] = NORM_ARM   # beside BN's and GN's cells, never among them
    stages = read_stages(runs_dir)
    later = {rid for st in stages for rid in st.runs}
    df = df.assign(stage=[2 if rid in later else 1 for rid in df.run_id])
    return Loaded(df, fixed_epochs, problems + untrained, dups, stages)


def set_aside_untrained(df: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Runs that failed before training an epoch, of a protocol no run that trained has (e.g. a CIFAR-10 run
    that found no CIFAR-10 beside a digits grid): nothing of theirs could be averaged, so they are listed as
    problems instead of making the folder hold two protocols."""
    untrained = (df.status == "failed") & (df.epochs_done == 0)
    if untrained.all() or not untrained.any():
        return df, []
    trained = {tuple(r) for r in df.loc[~untrained, list(PROTOCOL)].itertuples(index=False)}
    other = untrained & ~df[list(PROTOCOL)].apply(tuple, axis=1).isin(trained)
    problems = [{"file": f"{r.path}/metrics.json", "problem": f"failed before training, of another protocol than "
                 f"the runs that trained ({r.dataset}, {r.image_size} px); not a cell of this report: "
                 f"{(r.error or 'no error recorded')[:200]}"} for r in df[other].itertuples()]
    return df[~other], problems


def record_rows(runs_dir: Path) -> Iterator[tuple[Path, RunRecord | None, dict[str, Any] | str]]:
    """Each metrics.json below ``runs_dir``: (its path, its record, its row of the runs table), or (its path, None,
    why it cannot be used). The one reading of a runs folder (the report's, and alexlib.lab.explore's)."""
    for p, m in read_records(runs_dir):
        if isinstance(m, Unreadable):
            yield p, None, m.problem
            continue
        try:
            yield p, m, record_row(m, p, runs_dir)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            yield p, None, f"unreadable metrics.json ({type(e).__name__}: {e})"


def kept_per_key(df: pd.DataFrame) -> pd.Index:
    """The rows that count for their result key: the most finished record of each key, then the latest (a copied
    run folder counts once)."""
    ranked = df.assign(_rank=df.status.map(STATUS_RANK)).sort_values(["_rank", "updated_at"], ascending=[True, False])
    return ranked.drop_duplicates("key").index


def load_runs(runs_dir: str | Path) -> tuple[pd.DataFrame, list[dict[str, str]], int]:
    """One row per distinct run below ``runs_dir`` (by result key: a copied run folder counts once), the
    files that could not be used, and how many duplicate folders were set aside."""
    runs_dir = Path(runs_dir)
    rows, problems = [], []
    for p, m, row in record_rows(runs_dir):
        if m is None:
            problems.append({"file": str(p.relative_to(runs_dir)), "problem": row})
        else:
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df, problems, 0
    unique = df.loc[kept_per_key(df)].sort_values("path").reset_index(drop=True)
    return unique, problems, len(df) - len(unique)


# The versions and the commit every record carries in its env, shown in the report's environment section
PROVENANCE = ("python", "torchvision", "numpy", "scikit-learn", "scipy", "alexlib", "git_commit", "git_dirty")


# What a run ran on, as the environment tables name it (column -> name), in the order they list it
ENVIRONMENT = {"device_name": "device", "cpu_capability": "CPU kernels", "cpu_threads": "CPU threads",
               "precision": "precision", "torch": "torch", "blas": "BLAS", "onednn": "oneDNN",
               "kernel_env": "kernel settings", "python": "python", "torchvision": "torchvision", "numpy": "numpy",
               "scikit_learn": "scikit-learn", "scipy": "scipy", "alexlib": "alexlib", "git_commit": "commit",
               "code_digest": "training code",
               "git_dirty": "uncommitted code", "data_origin": "data"}


def env_values(runs: pd.DataFrame, col: str) -> str:
    """One environment field over ``runs``: its value, or each value with its number of runs when they differ
    (a record written before the field existed counts as "not recorded"; commits shortened to 10 characters)."""
    if col not in runs:
        return "not recorded"
    v = runs[col].astype(str).replace({"?": "not recorded", "nan": "not recorded", "None": "not recorded",
                                       "{}": "none set"})
    if col == "git_commit":
        v = v.map(lambda c: c[:10] if c != "not recorded" else c)
    counts = v.value_counts()
    return "; ".join(f"{k} ({n})" if len(counts) > 1 else k for k, n in counts.items())


def record_row(m: RunRecord, path: Path, runs_dir: Path) -> dict[str, Any]:
    """One record as a row of the runs table (alexlib.lab.explore uses it too)."""
    c, env, final = m.config, m.env, m.final or {}
    status = m.status
    try:
        cfg = RunConfig.from_dict(c)
    except ConfigError as e:
        raise ValueError(f"config not readable: {e}") from None
    precision = env.get("precision") or cfg.precision
    done = status == "completed"
    hist = m.history
    ds = m.dataset
    return {
        "run_id": m.run_id, "path": str(path.parent.relative_to(runs_dir)),
        "status": status, "key": json.dumps(cfg.result_key(precision), sort_keys=True),
        "norm": cfg.norm, "batch_size": cfg.batch_size, "lr": cfg.lr, "momentum": cfg.momentum, "seed": cfg.seed,
        "epochs": cfg.epochs, "dataset": cfg.dataset, "image_size": cfg.image_size, "width": cfg.width,
        "train_size": cfg.train_size, "test_size": cfg.test_size, "dropout": cfg.dropout,
        "gn_groups": cfg.gn_groups, "precision": precision,
        "train_images": ds.get("train_images"), "test_images": ds.get("test_images"),
        "synthetic": bool(ds.get("synthetic", cfg.dataset == "synthetic")),
        "test_acc": float(final["test_acc"]) if done and final.get("test_acc") is not None else math.nan,
        "best_test_acc": float(final.get("best_test_acc", math.nan)) if done else math.nan,
        "epochs_done": len(hist),
        "train_seconds": float(sum(h.get("train_seconds", 0.0) for h in hist)),
        "images_per_s": float(np.mean([h["images_per_s"] for h in hist])) if hist else math.nan,
        "device_name": env.get("device_name", "?"), "torch": env.get("torch", "?"),
        "cpu_threads": env.get("cpu_threads"), "updated_at": m.updated_at,
        "cpu_capability": env.get("cpu_capability", "?"), "blas": env.get("blas") or "?", "onednn": env.get("onednn") or "?",
        "kernel_env": (", ".join(f"{k}={v}" for k, v in sorted(env["kernel_env"].items())) or "none set")
        if "kernel_env" in env else "?",
        # provenance (alexlib.train writes it; older records lack some: "?")
        **{k.replace("-", "_"): str(env.get(k, "?")) for k in PROVENANCE},
        "data_origin": ds.get("origin", "?"),
        "data_md5": " ".join(f"{f}:{h}" for f, h in sorted((ds.get("files") or {}).items())) or "?",
        "code_digest": m.code_digest or "?",   # "?": written before records carried it (schema 1)
        "diverged_at": ", ".join(f"{k} {v}" for k, v in m.diverged_at.items()) if m.diverged_at else "",
        "error": (m.error or "")[:300],
        # a norm of batch statistics: test accuracy with them recomputed, and with each test batch's own
        "acc_recomputed": _check(m, "recomputed"), "acc_batch_stats": _check(m, "batch_stats"),
        "curve": [h.get("test_acc") for h in hist],
        "layers_last": hist[-1].get("layers") if hist else None,   # per layer: grad_norm, weight_dist (schema 4)
        "loss_curve": [h.get("train_loss") for h in hist],
    }


def _check(m: RunRecord, which: str) -> float:
    c = (m.bn_checks or {}).get(which) or {}
    return float(c["test_acc"]) if c.get("test_acc") is not None else math.nan


def load_reference(path: str | Path) -> dict[str, Any]:
    """The report's published numbers (params/reference.yaml): its table by (norm, batch size), its lr sweep."""
    ref = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    table = {(norm, int(bs)): float(acc) for norm, row in ref["test_accuracy"].items() for bs, acc in row.items()}
    sweep = {float(lr): float(acc) for lr, acc in ref["lr_sweep"]["test_accuracy"].items()}
    return {"table": table, "sweep": sweep, "source": ref.get("source", "")}


# ---------------------------------------------------------------------------------------------------
# One protocol
# ---------------------------------------------------------------------------------------------------
def parse_select(text: str) -> dict[str, Any]:
    """``"dataset=digits, epochs=4"`` -> {"dataset": "digits", "epochs": 4}; keys must be protocol fields."""
    out = {}
    for item in (t.strip() for t in (text or "").split(",")):
        if not item:
            continue
        if "=" not in item:
            raise ProtocolError(f"select takes field=value pairs separated by commas, got {item!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in PROTOCOL + ("epochs", "lr", "norm", "batch_size", "seed"):
            raise ProtocolError(f"select: unknown field {k!r}; use one of {', '.join(PROTOCOL)}")
        out[k] = yaml.safe_load(v)
    return out


def check_one_protocol(df: pd.DataFrame, runs_dir: Path) -> None:
    """``ProtocolError`` naming the protocols and how to choose one, when the runs hold more than one."""
    found = df.groupby(list(PROTOCOL), dropna=False).size().reset_index(name="runs")
    if len(found) == 1:
        return
    varying = [k for k in PROTOCOL if found[k].nunique(dropna=False) > 1]
    listing = "; ".join(f"{r.runs} runs with " + ", ".join(f"{k}={getattr(r, k)}" for k in varying)
                        for r in found.itertuples())
    biggest = found.sort_values("runs", ascending=False).iloc[0]
    example = ",".join(f"{k}={getattr(biggest, k)}" for k in varying)
    raise ProtocolError(
        f"{runs_dir} holds runs of {len(found)} protocols, which differ in {', '.join(varying)} ({listing}). "
        f"Their numbers are not comparable, so they are not averaged together: choose one with "
        f"--select FIELD=VALUE[,FIELD=VALUE] (python -m alexlib.report) or the summary notebook's select parameter, "
        f"e.g. --select '{example}' (the protocol with the most runs), or keep each grid in its own runs folder.")
