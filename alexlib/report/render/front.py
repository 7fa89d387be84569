"""The report's first page, in the spirit of the ML Reproducibility Challenge's one-page summary: the protocol
side by side with the report's, then what reproduced: one row per claim with the report's numbers for its
cells, this study's means for the same cells, and the verdict in words, part by part.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd

from ...train.datasets import REGISTRY, title
from ...train.norms import NORMS, SHORT_NAMES
from ...train.norms import REGISTRY as NORM_REGISTRY
from ...train.shapes import hidden_units, stage_channels
from ...vocab import ANCHOR_BATCH, REPORT_PROTOCOL
from ..domain.runs import main_grid
from ..inference.verdicts import AGAINST, OPEN, RULED_OUT, SHOWN, UNTESTABLE, Claim, Part

# What the report says it ran on, beyond params/reference.yaml's numbers (SPEC.md, from the report itself)
REPORT_SIDE = {"device": "CPU for its first configuration (5 hours), then a GPU", "precision": "not stated (fp32 by "
               "PyTorch's default)", "seeds": "1 per cell", "norms": "none, BN, LN, GN (4 groups)"}


# ---------------------------------------------------------------------------------------------------
# The protocol, side by side
# ---------------------------------------------------------------------------------------------------
def _values(d: pd.DataFrame, col: str, fmt=str) -> str:
    return " / ".join(fmt(v) for v in sorted(d[col].dropna().unique())) or "?"


def network(width: float) -> str:
    ch = "-".join(map(str, stage_channels(width)))
    return f"AlexNet{'' if width == 1.0 else f' at width {width:g}'} ({ch} channels, fc {hidden_units(width):,})"


def protocol_table(runs: pd.DataFrame, stages: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """The report's protocol and this study's, row by row."""
    d = main_grid(runs, only_completed=False)
    d = runs if d.empty else d
    ds = sorted(d.dataset.unique())
    side = {REGISTRY[x].side for x in ds if x in REGISTRY}
    seeds = d.groupby(["norm", "batch_size"]).seed.nunique()
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    added = sum(len(s.get("runs", [])) for s in stages or [])
    rep_w = REPORT_PROTOCOL["width"]
    rows = [
        ("data", "CIFAR-10: 50,000 train / 10,000 test", f"{' / '.join(title(x) for x in ds)}: "
         f"{_values(d, 'train_images', lambda v: f'{int(v):,}')} train / {_values(d, 'test_images', lambda v: f'{int(v):,}')} test"),
        ("images", f"32 px, resized to {REPORT_PROTOCOL['image_size']} px",
         f"{'/'.join(map(str, sorted(side))) or '?'} px, resized to {_values(d, 'image_size')} px"),
        ("network", network(rep_w), " / ".join(network(w) for w in sorted(d.width.unique()))),
        ("norms after each conv stage", REPORT_SIDE["norms"],
         ", ".join(SHORT_NAMES[k] + (f" ({NORM_REGISTRY[k].detail})" if NORM_REGISTRY[k].detail else "")
                   for k in NORMS if k in set(d.norm))),
        ("batch sizes", "8, 16, 32, 64", ", ".join(map(str, sorted(d.batch_size.unique())))),
        ("epochs, optimizer", f"{REPORT_PROTOCOL['epochs']}; SGD lr 0.005, momentum 0.9",
         f"{_values(d, 'epochs')}; SGD lr {_values(d, 'lr', lambda v: f'{v:g}')}, momentum "
         f"{_values(d, 'momentum', lambda v: f'{v:g}')}"),
        ("seeds", REPORT_SIDE["seeds"], f"{n} per cell" + (f" ({added} runs added in a second stage)" if added else "")),
        ("device", REPORT_SIDE["device"], _values(d, "device_name")),
        ("precision", REPORT_SIDE["precision"], _values(d, "precision")),
    ]
    return pd.DataFrame(rows, columns=["", "the report", "here"]).set_index("")


# ---------------------------------------------------------------------------------------------------
# What reproduced: each claim's cells, the report's numbers and ours, and the verdict in words
# ---------------------------------------------------------------------------------------------------
def _mean(cells: pd.DataFrame, norm: str, bs: int, col: str = "mean") -> float:
    r = cells[(cells.norm == norm) & (cells.batch_size == bs)]
    return float(r[col].iloc[0]) if len(r) else math.nan


def _f(v: float) -> str:
    return "—" if v != v else f"{v:.1f}"


def _row(vals: list[float]) -> str:
    return " / ".join(_f(v) for v in vals)


Cells = Callable[[pd.DataFrame, str], str]   # (cells, "mean" or "report") -> the claim's numbers in a line


def _claim_cells(sizes: list[int], sweep: pd.DataFrame) -> dict[str, Cells]:
    def avg(c, col, norm):
        return float(pd.Series([_mean(c, norm, bs, col) for bs in sizes]).mean())

    def at(c, col, norm, bss):
        return _row([_mean(c, norm, bs, col) for bs in bss])
    small = [b for b in (8, 16) if b in sizes]
    lrs = sorted(sweep.lr) if "lr" in sweep else [0.001, 0.005, 0.01]
    return {
        "1": lambda c, col: (f"BN / LN / GN {_row([avg(c, col, n) for n in ('bn', 'ln', 'gn')])} vs none "
                             f"{_f(avg(c, col, 'none'))} (mean over batch sizes)"),
        "2": lambda c, col: f"none at batch 8: {_f(_mean(c, 'none', 8, col))} vs {at(c, col, 'none', [32, 64])} at 32 / 64",
        "3": lambda c, col: f"BN at batch {' / '.join(map(str, sizes))}: {at(c, col, 'bn', sizes)}",
        "4": lambda c, col: (f"LN {at(c, col, 'ln', small + [ANCHOR_BATCH])} vs BN {at(c, col, 'bn', small + [ANCHOR_BATCH])}"
                             f" at batch {' / '.join(map(str, small + [ANCHOR_BATCH]))}"),
        "5": lambda c, col: (f"GN at batch {' / '.join(map(str, sizes))}: {at(c, col, 'gn', sizes)}; at 8 GN "
                             f"{_f(_mean(c, 'gn', 8, col))} vs BN {_f(_mean(c, 'bn', 8, col))}, LN {_f(_mean(c, 'ln', 8, col))}"),
        "6": lambda c, col: (f"none, batch 64, lr {' / '.join(f'{x:g}' for x in lrs)}: " + _row(
            [float(c[c.lr == x][col].iloc[0]) if "lr" in c and (c.lr == x).any() else math.nan for x in lrs])),
    }


def phrase(p: Part) -> str:
    """A part's outcome in words."""
    if p.outcome == SHOWN:
        return (f"within ±{p.margin:g} points shown" if p.expect == 0 else
                f"shown beyond {p.margin:g} points" if p.margin else "shown")
    if p.outcome == AGAINST:
        return "shown the other way round"
    if p.outcome == RULED_OUT:
        return (f"beyond ±{p.margin:g} points shown" if p.expect == 0 else
                f"a {'drop' if p.expect < 0 else 'gain'} of {p.margin:g} points or more ruled out")
    return {OPEN: "open", UNTESTABLE: "not testable"}.get(p.outcome, p.outcome)


def claim_words(c: Claim) -> str:
    """The verdict and, piece by piece, what holds: 'not reproduced — batch 8 much worse: none: batch 8 − batch
    64 10 points or more ruled out; none: batch 8 − batch 32 open'."""
    groups: dict[str, list[Part]] = {}
    for p in c.parts:
        groups.setdefault(p.group or p.what, []).append(p)
    bits = []
    for g, ps in groups.items():
        outs = [phrase(p) for p in ps]
        if len(set(outs)) == 1:
            bits.append(f"{g}: {outs[0]}" + (f" ({len(ps)} of {len(ps)})" if len(ps) > 2 else ""))
        elif len(ps) > 2:   # many parts: counted by outcome
            counts = {o: outs.count(o) for o in dict.fromkeys(outs)}
            bits.append(f"{g}: " + ", ".join(f"{k} {o}" for o, k in counts.items()) + f" (of {len(ps)})")
        else:
            bits.append(f"{g}: " + "; ".join(f"{p.what.split(': ')[-1]}: {phrase(p)}" for p in ps))
    return f"**{c.verdict}**" + (" — " + " · ".join(bits) if bits else "")


def flagged_cells(c: Claim, flags: dict[tuple[str, int], list[str]], lr_flags: dict[float, list[str]]) -> str:
    """The claim's cells that are near chance (‡) or still learning (†), in a few words ('' when none is)."""
    by_flag: dict[str, list[str]] = {}
    seen = set()
    for p in c.parts:
        for cell in p.cells:
            if cell in seen:
                continue
            seen.add(cell)
            for f in (lr_flags.get(cell[1], []) if cell[0] == "lr" else flags.get(cell, [])):
                by_flag.setdefault(f, []).append(f"lr {cell[1]:g}" if cell[0] == "lr" else
                                                 f"{SHORT_NAMES[cell[0]]} {cell[1]}")
    return "; ".join(f"{f} {', '.join(names)}" for f, names in by_flag.items())


def reproduced_table(claims: list[Claim], cells: pd.DataFrame, sweep: pd.DataFrame,
                     flags: dict[tuple[str, int], list[str]], lr_flags: dict[float, list[str]]) -> pd.DataFrame:
    """One row per claim: what the report said (its numbers), what this study observed for the same cells, and
    the verdict in words; cells flagged near chance or still learning marked as in the tables."""
    sizes = sorted(set(cells.batch_size))
    fmt = _claim_cells(sizes, sweep.rename(columns={"sd": "std"}))
    rows = []
    for c in claims:
        cid = c.id
        rows.append({"claim": f"{cid}. {c.claim}", "the report": fmt[cid](cells, "report") if cid != "6" else
                     fmt[cid](sweep, "report"), "here (means)": fmt[cid](cells, "mean") if cid != "6" else
                     fmt[cid](sweep, "mean"),
                     "verdict": claim_words(c) + (f" · rests on {f}" if (f := flagged_cells(c, flags, lr_flags)) else "")})
    return pd.DataFrame(rows).set_index("claim")
