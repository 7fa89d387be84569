"""The report's first page, in the spirit of the ML Reproducibility Challenge's one-page summary: the protocol
side by side with the report's, then what reproduced: one row per claim with the report's numbers for its
cells, this study's means for the same cells, and the verdict in words, part by part.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ...stages import SecondStage
from ...train.inputs.datasets import REGISTRY, title
from ...train.net.norms import NORMS, SHORT_NAMES
from ...train.net.norms import REGISTRY as NORM_REGISTRY
from ...train.net.shapes import hidden_units, stage_channels
from ...vocab import REPORT_PROTOCOL
from ..domain.claims import SOURCES, claim_spec
from ..domain.learning import NEAR_CHANCE
from ..domain.registration import Registration
from ..domain.runs import main_grid
from ..inference.verdicts import AGAINST, OPEN, RULED_OUT, SHOWN, UNTESTABLE, Claim, Part
from .references import DATASETS, cite
from .tables import LEVEL_TEXT, SAID, part_estimate

# a part decided at its second look is estimated over both looks (median-unbiased), not by its cells' plain means
COMBINED = "; both looks combined, median-unbiased, so not the plain difference of the cells' means"

# What the report says it ran on, beyond params/reference.yaml's numbers (from the report itself)
REPORT_SIDE = {"device": "CPU for its first configuration (5 hours), then a GPU", "precision": "not stated (fp32 by "
               "PyTorch's default)", "seeds": "1 per cell",
               "norms": f"none, BN ({cite('bn')}), LN ({cite('ln')}), GN ({cite('gn')}; 4 groups)"}


# ---------------------------------------------------------------------------------------------------
# The protocol, side by side
# ---------------------------------------------------------------------------------------------------
def _values(d: pd.DataFrame, col: str, fmt=str) -> str:
    return " / ".join(fmt(v) for v in sorted(d[col].dropna().unique())) or "?"


def network(width: float, cited: bool = False) -> str:
    ch = "-".join(map(str, stage_channels(width)))
    return (f"AlexNet{'' if width == 1.0 else f' at width {width:g}'} ({cite('alexnet') + '; ' if cited else ''}{ch} "
            f"channels, fc {hidden_units(width):,})")


def _data(name: str) -> str:
    """A dataset's name, with its reference where the registry has one."""
    return title(name) + (f" ({cite(DATASETS[name])})" if name in DATASETS else "")


def protocol_table(runs: pd.DataFrame, stages: list[SecondStage] | None = None) -> pd.DataFrame:
    """The report's protocol and this study's, row by row."""
    d = main_grid(runs, only_completed=False)
    d = runs if d.empty else d
    ds = sorted(d.dataset.unique())
    side = {REGISTRY[x].side for x in ds if x in REGISTRY}
    seeds = d.groupby(["norm", "batch_size"]).seed.nunique()
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    added = sum(len(s.runs) for s in stages or [])
    rep_w = REPORT_PROTOCOL["width"]
    rows = [
        ("data", f"{_data('cifar10')}: 50,000 train / 10,000 test", f"{' / '.join(_data(x) for x in ds)}: "
         f"{_values(d, 'train_images', lambda v: f'{int(v):,}')} train / {_values(d, 'test_images', lambda v: f'{int(v):,}')} test"),
        ("images", f"32 px, resized to {REPORT_PROTOCOL['image_size']} px",
         f"{'/'.join(map(str, sorted(side))) or '?'} px, resized to {_values(d, 'image_size')} px"),
        ("network", network(rep_w, cited=True), " / ".join(network(w) for w in sorted(d.width.unique()))),
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


@dataclass
class Page1Cells:
    """The cells as a claim's page-1 line reads them (``claims.CellView``): one column, formatted."""
    cells: pd.DataFrame
    sweep: pd.DataFrame
    col: str                                          # "report" (its numbers) or "mean" (this study's)

    @property
    def sizes(self) -> list[int]:
        return sorted(set(self.cells.batch_size))

    @property
    def lrs(self) -> list[float]:
        return sorted(self.sweep.lr) if "lr" in self.sweep else [0.001, 0.005, 0.01]

    def at(self, norm: str, bs: int) -> str:
        return _f(_mean(self.cells, norm, bs, self.col))

    def row(self, norm: str, sizes: list[int]) -> str:
        return " / ".join(self.at(norm, bs) for bs in sizes)

    def avg(self, norms: list[str]) -> str:
        return " / ".join(_f(float(pd.Series([_mean(self.cells, n, bs, self.col) for bs in self.sizes]).mean()))
                          for n in norms)

    def lr_row(self) -> str:
        s = self.sweep
        return " / ".join(_f(float(s[s.lr == x][self.col].iloc[0]) if "lr" in s and (s.lr == x).any() else math.nan)
                          for x in self.lrs)


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
                                                 f"{SAID[cell[0]]} {cell[1]}")
    return "; ".join(f"{f} {', '.join(names)}" for f, names in by_flag.items())


def reproduced_table(claims: list[Claim], cells: pd.DataFrame, sweep: pd.DataFrame,
                     flags: dict[tuple[str, int], list[str]], lr_flags: dict[float, list[str]],
                     source: str = "report", demo: bool = False,
                     design: tuple[list[Claim], pd.DataFrame] = ((), pd.DataFrame())) -> pd.DataFrame:
    """One row per claim of ``source`` (``claims.SOURCES``): what the source said (its numbers: the report's for
    the same cells, read from its table; another source's as it printed them), what this study observed for the
    cells over the source's batch sizes (each claim's own page-1 line, ``claims.ClaimSpec.page1``), and the
    verdict in words; cells flagged near chance or still learning marked as in the tables. ``design``: the same
    claims judged in their source's own design (the paper's lr scaled with the batch) and that design's cells:
    a column with each verdict and the means it rests on, the verdict columns labeled with their design."""
    sweep = sweep.rename(columns={"sd": "std"})
    src = SOURCES[source]
    ours = cells if src.sizes is None else cells[cells.batch_size.isin(src.sizes)]
    rows = []
    for c in claims:
        spec = claim_spec(c.id)
        if spec.source != source:
            continue
        rows.append({"claim": f"{c.id}. {c.claim}",
                     src.column: spec.theirs or spec.page1(Page1Cells(ours, sweep, "report")),
                     "here (means)": spec.page1(Page1Cells(ours, sweep, "mean")),
                     "verdict": demo_label(claim_words(c), demo)
                     + (f" · rests on {f}" if (f := flagged_cells(c, flags, lr_flags)) else "")})
    columns = ["claim", src.column, "here (means)", "verdict"]
    theirs, their_cells = {c.id: c for c in design[0] if claim_spec(c.id).source == source}, design[1]
    if theirs:   # each verdict labeled with its design
        view = Page1Cells(their_cells, sweep, "mean")
        for r in rows:
            c = theirs[r["claim"].split(".")[0]]
            r[DESIGN_VERDICT] = demo_label(f"**{c.verdict}** — {claim_spec(c.id).page1(view)}", demo)
        columns = ["claim", src.column, "here (means)", REPORT_VERDICT, DESIGN_VERDICT]
        rows = [{REPORT_VERDICT if k == "verdict" else k: v for k, v in r.items()} for r in rows]
    return pd.DataFrame(rows, columns=columns).set_index("claim")


REPORT_VERDICT = "verdict, the report's design (lr 0.005)"
DESIGN_VERDICT = "the paper's design (lr ∝ batch): verdict — means"


# ---------------------------------------------------------------------------------------------------
# Page 1's opening: what kind of study this is, how it was declared, and the one level of every interval
# ---------------------------------------------------------------------------------------------------
DEMO_DATASETS = {"digits": "scikit-learn's 8×8 digits", "synthetic": "synthetic images"}


def is_demo(protocol: dict[str, Any]) -> bool:
    """A demonstration of the pipeline, not a result: data too small or made up to say anything of the claims."""
    return str(protocol.get("dataset")) in DEMO_DATASETS


def banner(protocol: dict[str, Any], declared: Registration | None, updated: list[str], plain: list[str]) -> str:
    """Page 1's opening: a demo says so; the plain findings (``headlines``); then how the study was declared
    (pre-registered and checked against the records, or what was declared when) and the one level and rule."""
    lines = []
    if is_demo(protocol):
        lines.append(f"**A demonstration, not a result.** This report runs the whole pipeline on "
                     f"{DEMO_DATASETS[str(protocol['dataset'])]}: it shows that every step works, and its verdicts say "
                     "nothing of CIFAR-10, of the report's claims or of the Group Normalization paper's; each is "
                     "labeled *demo*.")
    else:
        lines.append(f"**The data**: {_data(str(protocol['dataset']))}, images at {protocol['image_size']} px; "
                     f"the network: {network(float(protocol['width']))}.")
    if plain:
        lines.append("**In brief.**\n\n" + "\n".join(f"- {s}" for s in plain))
    if declared is None:
        how = ("**Not registered**: no claim, margin or look was declared before the data; every part has the "
               "default two looks, and every verdict is exploratory.")
    elif declared.pre_registered:
        broken = declared.check(updated)
        how = (f"**Pre-registered** ({declared.registered_at[:10]}): claims, margins, looks and grid frozen before "
               "the first run; every record here was made after it under the same claims and grid." if not broken else
               "**Registered, but not kept**: " + "; ".join(broken) + ". Its verdicts are exploratory.")
    else:
        how = f"**Not pre-registered.** {declared.note}"
    lines.append(f"{how} {LEVEL_TEXT}; a part is *shown* when its interval clears its margin in the claimed "
                 "direction (inside ±margin for *stable*), and a claim is reproduced when every part is shown.")
    return "\n\n".join(lines)


def demo_label(words: str, demo: bool) -> str:
    """A verdict line, labeled where the study is a demonstration."""
    return f"*demo:* {words}" if demo else words


# ---------------------------------------------------------------------------------------------------
# Page 1 in plain words: a few findings, each with its number, its interval and where it rests
# ---------------------------------------------------------------------------------------------------
def _tally(claims: list[Claim], source: str) -> str:
    mine = [c for c in claims if claim_spec(c.id).source == source]
    by: dict[str, list[str]] = {}
    for c in mine:
        by.setdefault(c.verdict, []).append(c.id)
    return ", ".join(f"{len(ids)} {v} ({', '.join(ids)})" for v, ids in by.items())


def headlines(claims: list[Claim], flags: dict[tuple[str, int], list[str]], see,
              design: list[Claim] = ()) -> list[str]:
    """Three to five sentences a reader who stops at page 1 can carry away, each computed from the verdicts and
    cells it names (``see``: the numbering's reference to the tables and figures it rests on)."""
    by_id = {c.id: c for c in claims}
    out = []
    has_paper = any(claim_spec(c.id).source == "gn_paper" and c.verdict != "not testable" for c in claims)
    tally = f"Of the report's claims: {_tally(claims, 'report')}"
    if has_paper:
        tally += f"; of the Group Normalization paper's: {_tally(claims, 'gn_paper')}"
        if design:
            tally += f" (in its own design, lr ∝ batch: {_tally(list(design), 'gn_paper')})"
    out.append(tally + f" {see('claims_report', 'claims_paper')}.")
    c1 = by_id.get("1")
    finals = [p for p in (c1.parts if c1 else []) if p.key.endswith("final") and p.interval is not None]
    if finals:
        gains = ", ".join(f"{SAID[p.key.split('-')[0]]} {part_estimate(p, ' points')}" for p in finals)
        shown = all(p.outcome == SHOWN for p in finals)
        out.append(f"Normalization {'raises' if shown else 'may raise'} final test accuracy over no normalization, "
                   f"on average over the report's batch sizes: {gains} {see('claims_report')}.")
    low = sorted({(n, bs) for (n, bs), f in flags.items() if NEAR_CHANCE in f}, key=lambda k: (NORMS.index(k[0])
                                                                                              if k[0] in NORMS else 9, k[1]))
    if low:
        cells = "; ".join(f"{SAID.get(n, n)} at batch {', '.join(str(b) for m, b in low if m == n)}"
                          for n in dict.fromkeys(n for n, _ in low))
        out.append(f"Networks that never learned (final accuracy within 10 points of chance): {cells} "
                   f"{see('accuracy', 'accuracy_vs_batch')}.")
    g3 = by_id.get("G3")
    small = [p for p in (g3.parts if g3 else []) if p.interval is not None]
    if small:
        out.append("GN minus BN at small batches: " + "; ".join(
            f"batch {p.cells[0][1]}: {part_estimate(p)} ({phrase(p)})" for p in small) + f" {see('claims_paper')}.")
    against = [(c, p) for c in claims for p in c.parts if p.outcome in (AGAINST, RULED_OUT)]
    if against:
        out.append("Against a source's words: " + "; ".join(
            f"claim {c.id}, {p.what}: {part_estimate(p)} ({phrase(p)}{COMBINED if p.stage == 2 else ''})"
            for c, p in against[:3]) + ".")
    return out[:5]


# ---------------------------------------------------------------------------------------------------
# Every committed study side by side: where the datasets agree on a claim, and where not
# ---------------------------------------------------------------------------------------------------
def across_studies(claims: list[Claim], protocol: dict[str, Any], reports: Path) -> pd.DataFrame:
    """One row per claim: its verdict in this study and in every committed study (``reports/*/summary.json`` of
    a finished report), each column named by its data; a demo's verdicts labeled as such."""
    def column(p: dict[str, Any]) -> str:
        return f"{title(str(p['dataset']))}, {p['image_size']} px" + (" (demo)" if is_demo(p) else "")
    here = column(protocol)
    def said(verdict: str, p: dict[str, Any]) -> str:
        return f"demo: {verdict}" if is_demo(p) else verdict
    cols = {here: {c.id: said(c.verdict, protocol) for c in claims}}
    for summary in sorted(reports.glob("*/summary.json")):
        if not (summary.parent / "report.html").is_file():
            continue
        s = json.loads(summary.read_text())
        name = column(s["protocol"])
        if name != here:
            cols[name] = {c["id"]: said(c["verdict"], s["protocol"]) for c in s["claims"]}
    rows = [{"claim": f"{c.id}. {c.claim}", **{k: v.get(c.id, "—") for k, v in cols.items()}} for c in claims]
    return pd.DataFrame(rows).set_index("claim")
