"""The runs table's rules and views: which design each run belongs to (``assign_designs``; runs of two
protocols are never averaged together: ``ProtocolError``), the study's protocol and image size, one rule of cell
identity (``cells_of``), and the subsets the report reads (the report's design, the lr sweep, an arm). Reading
the records into the table is ``records``. Every function here is of the table alone, so each can be called and
tested on a plain DataFrame.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...vocab import ANCHOR_BATCH, DESIGNS, PROTOCOL, REFERENCE_LR, REPORT_PROTOCOL
from ..inference.stats import resolution

IMAGE_ARM = "image_size"   # the design of runs at another image size than the study's (``main_image_size``)
NORM_ARM = "norm_arm"      # the design of runs of BN's arms (``norms.ARMS``): BN with one thing changed


class ProtocolError(ValueError):
    """Runs of more than one protocol in one folder: averaging them would mix different experiments."""


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
