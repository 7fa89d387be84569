"""What re-encoding the images as JPEG changes, measured where the originals exist: the same configurations and
seeds trained on a dataset and on its re-encoded copy (``fashion_mnist`` against ``fashion_mnist_jpeg``), each cell
the mean over seeds of re-encoded minus original test accuracy, paired on the seed, one family (Bonferroni) over the
cells, every interval 95 % simultaneous as everywhere in the report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...paths import from_repo
from ..inference import stats
from .records import load_runs
from .runs import test_resolution

# where re-encoding was measured for a JPEG copy: the copy -> (the originals' records, the re-encoded arm's records)
ARMS = {"cifar10_jpeg": ("reports/fashion/records", "reports/cifar10_jpeg/reencoding/records")}
SAME = ("norm", "batch_size", "lr", "image_size", "width", "epochs", "train_size", "test_size", "seed")


def reencoding_effect(original: str | Path, reencoded: str | Path) -> pd.DataFrame:
    """Per (norm, batch size): seeds paired, mean of original and re-encoded accuracy, their difference and its
    interval, shown or not. Only completed runs on both sides count."""
    a, _, _ = load_runs(original)
    b, _, _ = load_runs(reencoded)
    a, b = a[a.status == "completed"], b[b.status == "completed"]
    both = b.merge(a, on=list(SAME), suffixes=("_jpeg", "_orig"))
    res = test_resolution(b) if len(b) else 0.0
    orig: dict[tuple, dict[int, dict[int, float]]] = {}
    jpeg: dict[tuple, dict[int, dict[int, float]]] = {}
    for r in both.itertuples():
        orig.setdefault((r.norm,), {}).setdefault(int(r.batch_size), {})[int(r.seed)] = float(r.test_acc_orig)
        jpeg.setdefault((r.norm,), {}).setdefault(int(r.batch_size), {})[int(r.seed)] = float(r.test_acc_jpeg)
    rows: list[dict[str, Any]] = []
    for key in sorted(jpeg):
        for bs, e in stats.paired_by_batch(jpeg[key], orig[key], res).items():
            rows.append({"norm": key[0], "batch_size": bs, "seeds": e.n,
                         "original": sum(orig[key][bs].values()) / len(orig[key][bs]),
                         "reencoded": sum(jpeg[key][bs].values()) / len(jpeg[key][bs]), "est": e})
    stats.family([r["est"] for r in rows])
    for r in rows:
        e = r.pop("est")
        r.update(diff=e.diff, low=e.low, high=e.high, level=e.level, shown=bool(e.shown()), method=e.method)
    return pd.DataFrame(rows)


def arm_effect(dataset: str) -> pd.DataFrame:
    """The re-encoding effect measured for the JPEG copy ``dataset`` (``ARMS``): empty for other data, or where the
    arm's records are not in this checkout."""
    if dataset not in ARMS:
        return pd.DataFrame()
    original, reencoded = (from_repo(p) for p in ARMS[dataset])
    if not (original.is_dir() and reencoded.is_dir()):
        return pd.DataFrame()
    return reencoding_effect(original, reencoded)


def arm_runs(dataset: str) -> pd.DataFrame:
    """The runs of the re-encoded arm measured for the JPEG copy ``dataset``."""
    return load_runs(from_repo(ARMS[dataset][1]))[0]
