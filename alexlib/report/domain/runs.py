"""The runs table: every metrics.json below a folder read into one row per distinct run, selected down to
one protocol, each run labeled with its design; and the subsets the report reads from that table.

Each distinct run counts once (a copied run folder does not count twice); runs of two protocols are never
averaged together (``ProtocolError``); unreadable files are kept in view as problems, not skipped. Every
subset below is a function of the table alone, so each step can be called and tested on a plain DataFrame.
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
from ...train.record import RunRecord, Unreadable, read_records
from ...vocab import ANCHOR_BATCH, DESIGNS, PROTOCOL, REFERENCE_LR, REPORT_PROTOCOL, STATUS_RANK
from ..inference.stats import resolution

IMAGE_ARM = "image_size"   # the design of runs at another image size than the study's (``main_image_size``)


class ProtocolError(ValueError):
    """Runs of more than one protocol in one folder: averaging them would mix different experiments."""




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
    stages = read_stages(runs_dir)
    later = {rid for st in stages for rid in st.runs}
    df = df.assign(stage=[2 if rid in later else 1 for rid in df.run_id])
    return Loaded(df, fixed_epochs, problems + untrained, dups, stages)


def main_image_size(df: pd.DataFrame) -> int:
    """The study's image size: the one most runs have. Runs at another size, the rest of their protocol the same
    and each of their cells also a cell at this size (``is_image_arm``), are the image-size arm (``IMAGE_ARM``): the
    same cells with more values per BatchNorm statistic, reported on their own, never averaged with the study's."""
    counts = df.image_size.value_counts()
    return int(max(counts.index, key=lambda px: (counts[px], -px)))


def is_image_arm(df: pd.DataFrame, main_px: int) -> bool:
    """Whether the runs at other image sizes than ``main_px`` are an arm of the study: each of their cells (norm,
    batch size, lr, epochs) is also a cell at the study's size, so each has its like to be compared with. Runs at
    another size that are not (a second study) make the folder two protocols."""
    other = df[df.image_size != main_px]
    if other.empty:
        return False
    cell = ["norm", "batch_size", "lr", "epochs"]
    have = set(map(tuple, df.loc[df.image_size == main_px, cell].itertuples(index=False)))
    return all(tuple(r) in have for r in other[cell].itertuples(index=False))


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


def assign_designs(df: pd.DataFrame, runs_dir: Path | str = "") -> tuple[pd.DataFrame, int]:
    """Label each run with the design it belongs to, from how its epochs and lr relate to its batch size:

    - ``fixed``: lr 0.005 and the fixed epochs E, which are the epochs at lr 0.005 that the most batch
      sizes share (the report's design);
    - ``equal_steps``: lr 0.005 and epochs = c x batch / 64 for one c other than E's family: every batch size
      takes the steps batch 64 takes in c epochs (c = E shares fixed's batch-64 runs);
    - ``lr_scaled``: E epochs and lr = 0.005 x batch / 64 at a batch size other than 64;
    - ``lr_sweep``: E epochs, batch 64, another lr; ``other``: none of these (kept in view, not in tables).
    Runs at lr 0.005 with epochs fitting neither the fixed design nor one equal-steps family are two
    protocols: ``ProtocolError``."""
    df = df.copy()
    if df.empty:
        return df.assign(design=pd.Series(dtype=str)), 0
    at_lr = np.isclose(df.lr, REFERENCE_LR)
    base = df[at_lr] if at_lr.any() else df
    by_epochs = base.groupby("epochs").agg(sizes=("batch_size", "nunique"), runs=("run_id", "count"))
    fixed = int(max(by_epochs.index, key=lambda e: (by_epochs.sizes[e], by_epochs.runs[e], e)))
    steps_c = df.epochs * ANCHOR_BATCH / df.batch_size  # the epochs batch 64 would take for the same steps
    design = np.where(at_lr & (df.epochs == fixed), "fixed", "other").astype(object)
    family = at_lr & (df.epochs != fixed)
    if family.any():
        cs = sorted(set(np.round(steps_c[family], 9)))
        sizes = set(df.batch_size[family]) | ({ANCHOR_BATCH} if cs == [fixed] else set())
        if len(cs) > 1 or len(sizes) < 2:
            listing = "; ".join(f"{int(r.runs)} runs with epochs={e}" for e, r in by_epochs.iterrows())
            raise ProtocolError(
                f"{runs_dir} holds runs of {len(by_epochs)} protocols, which differ in epochs ({listing}) at lr "
                f"{REFERENCE_LR:g} in a way that is neither one fixed number of epochs nor one equal-steps arm "
                f"(epochs proportional to the batch size). Their numbers are not comparable, so they are not "
                f"averaged together: choose one with --select FIELD=VALUE[,FIELD=VALUE] (python -m alexlib.report) or "
                f"the summary notebook's select parameter, e.g. --select 'epochs={int(by_epochs.index[0])}', or keep "
                f"each grid in its own runs folder.")
        design[family.to_numpy()] = "equal_steps"
    other_lr = ~at_lr & (df.epochs == fixed)
    scaled = other_lr & np.isclose(df.lr * ANCHOR_BATCH / df.batch_size, REFERENCE_LR) & (df.batch_size != ANCHOR_BATCH)
    design[scaled.to_numpy()] = "lr_scaled"
    design[(other_lr & (df.batch_size == ANCHOR_BATCH)).to_numpy()] = "lr_sweep"
    return df.assign(design=design), fixed


def protocol(runs: pd.DataFrame, fixed_epochs: int) -> dict[str, Any]:
    """What every run shares (one protocol, checked on loading), and the report's design's epochs."""
    main = runs[runs.design != IMAGE_ARM] if "design" in runs and (runs.design != IMAGE_ARM).any() else runs
    return {k: main[k].iloc[0] for k in PROTOCOL} | {"epochs": fixed_epochs}


def comparable(protocol: dict[str, Any]) -> bool:
    """Whether the runs follow the report's protocol, so its numbers are a like-for-like comparison."""
    return all(protocol[k] == v for k, v in REPORT_PROTOCOL.items())


# ---------------------------------------------------------------------------------------------------
# Subsets of the runs table
# ---------------------------------------------------------------------------------------------------
def cells_of(norm: str, batch_size: int, lr: float, design: str) -> list[tuple]:
    """The cells a run's seed counts in, the one rule of cell identity: (norm, batch size) of the report's design
    (fixed epochs and lr), and ("lr", lr) of the sweep, which no normalization at batch 64 and the report's lr
    shares with that design."""
    out: list[tuple] = [(norm, int(batch_size))] if design == "fixed" else []
    if norm == "none" and batch_size == ANCHOR_BATCH and design in ("fixed", "lr_sweep"):
        out.append(("lr", float(lr)))
    return out


def completed(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs.status == "completed"]


def main_grid(runs: pd.DataFrame, only_completed: bool = True) -> pd.DataFrame:
    """The report's design (the report's lr, the same epochs at every batch size): the norm x batch-size
    question (completed runs only, or every status)."""
    d = completed(runs) if only_completed else runs
    return d[d.design == "fixed"]


def sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """No normalization at batch 64 and the fixed design's epochs, at every lr (the report's lr sweep).
    Both designs it takes runs from hold the fixed epochs only (``assign_designs``)."""
    return runs[(runs.norm == "none") & (runs.batch_size == ANCHOR_BATCH) & runs.design.isin(["fixed", "lr_sweep"])]


def arm(runs: pd.DataFrame, design: str, only_completed: bool = False) -> pd.DataFrame:
    """The runs of one design, with the batch-64 runs it shares with the fixed design."""
    d = completed(runs) if only_completed else runs
    if design == "fixed":
        return d[d.design == "fixed"]
    own = d[d.design == design]
    anchor = d[(d.design == "fixed") & (d.batch_size == ANCHOR_BATCH)]
    if design == "equal_steps" and (own.batch_size == ANCHOR_BATCH).any():
        anchor = anchor.iloc[0:0]  # the family has its own batch-64 runs (other epochs than fixed's)
    anchor = anchor[anchor.norm.isin(set(runs[runs.design == design].norm))]  # the norms the arm ran
    return pd.concat([own, anchor]) if not own.empty else own


def designs(runs: pd.DataFrame) -> list[str]:
    """The designs these runs hold, in the order of ``DESIGNS``."""
    return [k for k in DESIGNS if not arm(runs, k).empty]


def is_synthetic(runs: pd.DataFrame) -> bool:
    return bool(runs.synthetic.any())


def test_resolution(runs: pd.DataFrame) -> float:
    """Points one test image is worth in these runs (0 when the runs do not say how many they had)."""
    n = runs.test_images.dropna()
    return resolution(int(n.iloc[0])) if len(n) and n.nunique() == 1 else 0.0
