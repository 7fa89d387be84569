"""Small batches, where the choice of normalization decides: why BatchNorm fails there, measured.

- ``bn_checks``: per batch size of the report's design, BatchNorm's test accuracy as trained (its running
  averages), with its statistics recomputed over the training split after training, and with each test batch
  normalized by its own statistics (``alexlib.train.run.bnchecks``); each gain paired on the seed (paired t, Holm over
  the table). A gain says the running averages lost accuracy; no gain, that the weights did.
- ``values_per_statistic``: how many values one BatchNorm statistic averages over at each stage (batch x the
  stage's map), at the study's image size and the arm's.
- ``layer_signals``: where learning stops, layer by layer: each norm's last-epoch gradient norm and how far its
  weights moved from their start, at the smallest batch size and at batch 32, from records that carry them.
- ``image_arm``: the image-size arm against the study's own cells at the same norm and batch size (Welch, Holm):
  more values per statistic at the same batch size, so "small batch" and "few values" are told apart.
- ``norm_arms``: BN's arms (``norms.ARMS``: GN at the fifth stage; the fifth norm before its max-pool), each
  against BN's and GN's cells at the same batch size (Welch, one family): what changing that one thing recovers.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...train.net.norms import ARMS, NORMS
from ...train.net.shapes import stage_sizes
from ...vocab import REPORT_BATCHES
from ..inference import stats
from .claims import MUCH_WORSE
from .runs import IMAGE_ARM, NORM_ARM, main_grid, test_resolution

STAGES = ("conv1", "conv2", "conv3", "conv4", "conv5")
SOUND_BATCH = 32   # a batch size at which BN trains as well as GN in every study here: the signals' baseline


def _paired(g: pd.DataFrame, check: str, res: float) -> stats.Estimate:
    """mean(check - test_acc) over one cell's seeds: the study's one paired test (stats.paired_by_batch, not pooled
    over batch sizes: each batch size's gain is its own question)."""
    bs = int(g.batch_size.iloc[0])
    ok = g.dropna(subset=[check, "test_acc"])
    a, b = {bs: dict(zip(ok.seed, ok[check]))}, {bs: dict(zip(ok.seed, ok.test_acc))}
    return stats.paired_by_batch(a, b, res).get(bs) or stats.untestable(n=len(ok))


def _first(runs: pd.DataFrame) -> pd.DataFrame:
    """The grid as written (a second stage's seeds serve the claims' tests only, as in every table)."""
    return runs[runs.stage == 1] if "stage" in runs else runs


def bn_checks(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per batch size of BatchNorm's cells in the report's design whose runs recorded the checks."""
    d = main_grid(_first(runs))
    d = d[(d.norm == "bn") & d.acc_recomputed.notna()] if "acc_recomputed" in d else d.iloc[0:0]
    rows, ests = [], []
    res = test_resolution(runs)
    for bs, g in d.groupby("batch_size"):
        rec, own = _paired(g, "acc_recomputed", res), _paired(g, "acc_batch_stats", res)
        ests += [rec, own]
        rows.append({"batch_size": int(bs), "seeds": len(g), "trained": g.test_acc.mean(), "sd": g.test_acc.std(),
                     "recomputed": g.acc_recomputed.mean(), "own_batch": g.acc_batch_stats.mean(),
                     "_rec": rec, "_own": own})
    stats.family(ests)
    for r in rows:
        for key in ("rec", "own"):
            e = r.pop(f"_{key}")
            r.update({f"{key}_gain": e.diff, f"{key}_low": e.low, f"{key}_high": e.high, f"{key}_p": e.p_adj,
                      f"{key}_level": e.level, f"{key}_shown": e.shown()})
    best = max((r["trained"] for r in rows), default=math.nan)
    for r in rows:
        r["lost_in"] = lost_in(r, best)
    return pd.DataFrame(rows)


LOST_IN = {  # where a BN cell's accuracy was lost, in words
    "recomputed": "in the running averages: recomputed statistics recover a gain shown",
    "own": "in the running averages: each test batch's own statistics recover a gain shown",
    "weights": "neither recomputed nor per-batch statistics recover a gain shown: the loss is not shown to be in "
               "the running averages",
    "nothing": "no gain shown either way",
}


def lost_in(r: dict[str, Any], best: float) -> str:
    """A key of ``LOST_IN`` for one batch size's row: a gain shown (and positive) by recomputed statistics, else by
    each batch's own; else a cell "much worse" than BN's best (``claims.MUCH_WORSE`` points) lost it in its weights;
    else nothing was lost."""
    if r["rec_shown"] and r["rec_gain"] > 0:
        return "recomputed"
    if r["own_shown"] and r["own_gain"] > 0:
        return "own"
    return "weights" if r["trained"] < best - MUCH_WORSE else "nothing"


def values_per_statistic(image_sizes: list[int], batch_sizes: list[int]) -> pd.DataFrame:
    """Rows (image size, stage, map side); a column per batch size: the values one BatchNorm statistic averages
    over in a training batch (batch x side x side)."""
    rows = []
    for px in image_sizes:
        for stage, side in zip(STAGES, stage_sizes(px)):
            rows.append({"image_size": px, "stage": stage, "map": f"{side}×{side}",
                         **{bs: bs * side * side for bs in batch_sizes}})
    return pd.DataFrame(rows)


def image_arm(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per norm and batch size of the image-size arm: the study's cell and the arm's (mean, seeds), the
    values a fifth-stage statistic averages in each, and the arm minus the study (Welch, Holm over the rows)."""
    done = runs[runs.status == "completed"]
    arm = done[done.design == IMAGE_ARM]
    main = main_grid(_first(runs))
    res = test_resolution(runs)
    rows, ests = [], []
    for (norm, bs, px), g in arm.groupby(["norm", "batch_size", "image_size"]):
        base = main[(main.norm == norm) & (main.batch_size == bs)]
        if base.empty:
            continue
        e = stats.welch(g.test_acc.tolist(), base.test_acc.tolist(), res)
        ests.append(e)
        main_px = int(base.image_size.iloc[0])
        rows.append({"norm": norm, "batch_size": int(bs), "main_px": main_px, "arm_px": int(px),
                     "main_values": int(bs) * stage_sizes(main_px)[-1] ** 2,
                     "arm_values": int(bs) * stage_sizes(int(px))[-1] ** 2,
                     "main": base.test_acc.mean(), "main_n": len(base), "arm": g.test_acc.mean(), "arm_n": len(g),
                     "_e": e})
    stats.family(ests)
    for r in rows:
        e = r.pop("_e")
        r.update(diff=e.diff, low=e.low, high=e.high, p=e.p_adj, level=e.level, shown=e.shown())
    return pd.DataFrame(rows)


def norm_arms(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per BN arm and batch size: the arm's cell beside BN's and GN's cells of the report's design at that
    batch size (means and seeds), and the arm minus each, by Welch's test with one family over the table (every
    row's two differences). Columns arm, batch_size, arm_acc, arm_n, bn, bn_n, gn, gn_n, then vs_bn_* and vs_gn_*
    (diff, low, high, shown)."""
    done = runs[runs.status == "completed"]
    arms = done[done.design == NORM_ARM]
    main = main_grid(_first(runs))
    res = test_resolution(runs)
    rows, ests = [], []
    for (key, bs), g in sorted(arms.groupby(["norm", "batch_size"]), key=lambda kv: (_order(kv[0][0]), kv[0][1])):
        row: dict[str, Any] = {"arm": key, "batch_size": int(bs), "arm_acc": g.test_acc.mean(), "arm_n": len(g)}
        for other in ("bn", "gn"):
            base = main[(main.norm == other) & (main.batch_size == bs)]
            e = stats.welch(g.test_acc.tolist(), base.test_acc.tolist(), res) if len(base) else None
            row |= {other: base.test_acc.mean() if len(base) else math.nan, f"{other}_n": len(base),
                    f"_{other}": e}
            ests += [e] if e is not None else []
        rows.append(row)
    stats.family(ests)
    for r in rows:
        for other in ("bn", "gn"):
            r |= _drawn(r.pop(f"_{other}"), f"vs_{other}_")
    return pd.DataFrame(rows)


def _drawn(e: stats.Estimate | None, prefix: str = "") -> dict[str, Any]:
    """An estimate of a family, once its level is set, as a row's columns: diff, low, high, shown."""
    return {f"{prefix}diff": e.diff if e else math.nan, f"{prefix}low": e.low if e else math.nan,
            f"{prefix}high": e.high if e else math.nan, f"{prefix}shown": bool(e and e.shown())}


def batch_costs(runs: pd.DataFrame) -> pd.DataFrame:
    """What the batch still costs beyond the fifth stage's statistic: per BN arm and per norm of the image-size arm,
    its cell at ``SOUND_BATCH`` minus its cell at the smallest batch size it ran (Welch, one family over the rows).
    Columns what (norm key), image_size, small, at_small, n_small, at_sound, n_sound, diff, low, high, shown."""
    done = runs[(runs.status == "completed") & runs.design.isin([NORM_ARM, IMAGE_ARM])]
    res = test_resolution(runs)
    rows, ests = [], []
    for (norm, px), g in done.groupby(["norm", "image_size"]):
        sizes = sorted(g.batch_size.unique())
        if SOUND_BATCH not in sizes or sizes[0] >= SOUND_BATCH:
            continue
        lo, hi = g[g.batch_size == sizes[0]].test_acc, g[g.batch_size == SOUND_BATCH].test_acc
        e = stats.welch(hi.tolist(), lo.tolist(), res)
        ests.append(e)
        rows.append({"what": norm, "image_size": int(px), "small": int(sizes[0]), "at_small": lo.mean(),
                     "n_small": len(lo), "at_sound": hi.mean(), "n_sound": len(hi), "_e": e})
    stats.family(ests)
    rows.sort(key=lambda r: (r["image_size"], _order(r["what"])))
    return pd.DataFrame([r | _drawn(r.pop("_e")) for r in rows])


@dataclass(frozen=True)
class SmallBatch:
    checks: pd.DataFrame     # ``bn_checks``
    arm: pd.DataFrame        # ``image_arm``
    values: pd.DataFrame     # ``values_per_statistic`` at the study's image size and the arm's
    signals: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)   # ``layer_signals``
    arms: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)      # ``norm_arms``
    costs: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)     # ``batch_costs``
    present: bool = False    # the study ran batch sizes below the report's (the Group Normalization paper's regime)

    def summary(self) -> dict[str, Any]:
        """What summary.json keeps of the small-batch section."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{str(k): (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                    for r in df.to_dict("records")]
        return {"bn_checks": records(self.checks), "image_arm": records(self.arm),
                "values_per_statistic": records(self.values), "layer_signals": records(self.signals),
                "norm_arms": records(self.arms), "batch_costs": records(self.costs)}


def analyze(runs: pd.DataFrame, image_size: int) -> SmallBatch:
    """The small-batch section's three tables for a study at ``image_size``."""
    arm = image_arm(runs)
    sizes = sorted({image_size} | set(arm.arm_px if not arm.empty else []))
    batch = sorted(main_grid(runs, only_completed=False).batch_size.unique())
    return SmallBatch(bn_checks(runs), arm, values_per_statistic(sizes, batch), layer_signals(runs),
                      arms=norm_arms(runs), costs=batch_costs(runs),
                      present=bool(batch) and min(batch) < min(REPORT_BATCHES))


def layer_signals(runs: pd.DataFrame) -> pd.DataFrame:
    """Per norm, at the study's smallest batch size and at ``SOUND_BATCH`` (BN's arms at the smallest only): the last
    epoch's gradient norm (mean over its steps) and distance of the weights from their start (relative to their
    starting norm), per layer, each the mean over the completed seeds whose records carry them (schema 4; older
    records do not). Columns norm, batch_size, seeds, then ``grad:<layer>`` and ``dist:<layer>`` in the network's order."""
    done = main_grid(_first(runs))
    done = pd.concat([done, runs[(runs.design == NORM_ARM) & (runs.status == "completed")]])   # BN's arms too
    if "layers_last" not in done:
        return pd.DataFrame()
    done = done[done.layers_last.map(lambda v: isinstance(v, dict) and bool(v))]
    sizes = sorted(done.batch_size.unique())
    if len(sizes) < 2 or SOUND_BATCH not in sizes or sizes[0] == SOUND_BATCH:
        return pd.DataFrame()
    rows = []
    for norm in dict.fromkeys(done.sort_values("norm", key=lambda s: s.map(_order)).norm):
        for bs in (sizes[0],) if norm in ARMS else (sizes[0], SOUND_BATCH):   # an arm where BN fails
            g = done[(done.norm == norm) & (done.batch_size == bs)]
            if g.empty:
                continue
            layers = list(g.layers_last.iloc[0])
            row: dict[str, Any] = {"norm": norm, "batch_size": int(bs), "seeds": len(g)}
            for kind, field in (("grad", "grad_norm"), ("dist", "weight_dist")):
                row |= {f"{kind}:{ly}": float(np.mean([r[ly][field] for r in g.layers_last])) for ly in layers}
            rows.append(row)
    return pd.DataFrame(rows)


def _order(norm: str) -> int:
    return NORMS.index(norm) if norm in NORMS else len(NORMS)
