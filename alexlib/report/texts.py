"""The report's prose: the label naming the runs behind each table or figure (data, sizes, seeds, device),
the header, and the notes set beside the tables, as markdown strings.

A label is computed from the runs it describes, so no table or figure can be shown without saying what
it was measured on; synthetic data is named first, in bold.
"""
from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from ..paths import from_repo
from ..train.datasets import title
from ..vocab import DESIGNS, NORM_NAMES, NORMS, REPORT_PROTOCOL, SHORT_NAMES
from .claims import judged_on, report_self_check
from .runs import comparable, main_grid
from .stats import Comparison
from .verdicts import STABLE_POINTS, Claim

# The report's page: A4 for the PDF, a readable column on a screen, tables that never wrap inside a number
REPORT_CSS = """<style>
@page { size: A4; margin: 14mm 12mm 14mm 12mm; }
body { max-width: 62rem; margin: 0 auto; }
.jp-RenderedHTMLCommon table, .jp-RenderedHTML table { font-size: 0.8rem; margin-left: 0; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { white-space: nowrap; padding: 0.2em 0.55em; }
.jp-RenderedImage img, .jp-OutputArea-output img { max-width: 100%; height: auto; }
h2 { break-after: avoid; page-break-after: avoid; margin-top: 1.4em; }
.jp-RenderedHTMLCommon li { margin-bottom: 0.35em; }
@media print {
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-child .jp-OutputArea-output,
  .jp-OutputArea-output { display: block !important; overflow: visible !important; }
  .jp-OutputArea-child { break-inside: auto !important; }   /* long text splits across pages */
  .jp-RenderedImage, .jp-RenderedHTMLCommon table { break-inside: avoid; }   /* figures and tables do not */
  body { max-width: none; font-size: 10pt; } .jp-RenderedHTMLCommon table { font-size: 8.5pt; } }
</style>"""


# ---------------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------------
def facts(d: pd.DataFrame, sep: str = ", ") -> dict[str, str]:
    """What a set of runs is, each value formatted once (several values joined by ``sep``): the three labels
    below only arrange these."""
    def vals(col, fmt=str):
        return sep.join(fmt(v) for v in sorted(d[col].dropna().unique())) or "?"
    return {"data": sep.join(title(x) for x in sorted(d.dataset.unique())), "images": _images(d),
            "px": vals("image_size"), "width": vals("width", lambda w: f"{w:g}"), "epochs": vals("epochs"),
            "lr": vals("lr", lambda v: f"{v:g}"), "momentum": vals("momentum", lambda v: f"{v:g}"),
            "seeds": _fmt_seeds(d.seed), "device": vals("device_name"), "precision": vals("precision"),
            "threads": vals("cpu_threads", lambda t: f"{t:g}"), "torch": vals("torch")}


def label(runs: pd.DataFrame, shown: pd.DataFrame | None = None) -> str:
    """Data, image size, width, epochs, seeds, device and precision of the runs ``shown`` (all the runs
    when none or no run is shown)."""
    d = runs if shown is None or shown.empty else shown
    f = facts(d)
    warn = "**SYNTHETIC DATA: NOT A RESULT.** " if d.synthetic.any() else ""
    return (f"{warn}Data: {f['data']} ({f['images']}); image {f['px']} px; width {f['width']}"
            f"{' (not the report network)' if (d.width != 1.0).any() else ''}; epochs {f['epochs']}; seeds "
            f"{f['seeds']}; device {f['device']}; precision {f['precision']}; CPU threads {f['threads']}; "
            f"torch {f['torch']}.")


def protocol_line(runs: pd.DataFrame) -> str:
    """The first page's one line of protocol: data, network, epochs and optimizer of the report's design,
    seeds, device, precision."""
    d = main_grid(runs, only_completed=False)
    f = facts(runs if d.empty else d, "/")
    net = "AlexNet" if f["width"] == "1" else f"AlexNet at width {f['width']}"
    return (f"{f['data']} ({f['images']}, {f['px']} px) · {net}, no norm / BN / LN / GN / LRN after each conv "
            f"stage · {f['epochs']} epochs, SGD lr {f['lr']}, momentum {f['momentum']} · seeds "
            f"{_fmt_seeds(runs.seed)} · {f['device']}, {f['precision']}")


def short_label(runs: pd.DataFrame, shown: pd.DataFrame | None = None) -> str:
    """``label`` in one line, for the foot of a figure."""
    d = runs if shown is None or shown.empty else shown
    f = facts(d, "/")
    synth = "SYNTHETIC: NOT A RESULT | " if d.synthetic.any() else ""
    return (f"{synth}{f['data']} ({f['images']}), {f['px']} px, width {f['width']}, epochs {f['epochs']}, "
            f"seeds {f['seeds']}, {f['device']}, {f['precision']}")


def _images(d: pd.DataFrame) -> str:
    def n(col):
        v = sorted({int(x) for x in d[col].dropna()})
        return "/".join(f"{x:,}" for x in v) or "?"
    return f"{n('train_images')} train / {n('test_images')} test images"


def _fmt_seeds(seeds) -> str:
    s = sorted(set(int(x) for x in seeds))
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}–{s[-1]}"
    return ", ".join(map(str, s))


def _fmt_protocol(p: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in p.items())


# ---------------------------------------------------------------------------------------------------
# The header and the notes beside the tables
# ---------------------------------------------------------------------------------------------------
def header_markdown(runs: pd.DataFrame, duplicates: int, problems: list[dict[str, str]]) -> str:
    """How many runs of each status, what they are, and what was set aside (duplicates, unreadable files)."""
    n = runs.status.value_counts().to_dict()
    counts = ", ".join(f"{v} {k}" for k, v in sorted(n.items()))
    lines = [f"**{len(runs)} runs** ({counts}).", "", label(runs)]
    other = int((runs.design == "other").sum())
    if other:
        lines += ["", f"{other} run(s) fit none of the designs (the report's, equal steps, linear lr scaling, the lr "
                      "sweep at batch 64): they are in results.csv and the time table, not in the accuracy tables."]
    if duplicates:
        lines += ["", f"{duplicates} run folder(s) held a run already counted (same configuration, "
                      "e.g. a copied folder): each run is counted once."]
    if problems:
        lines += ["", f"**{len(problems)} metrics file(s) could not be read**: see the last section."]
    return "\n".join(lines)


def comparison_note(protocol: dict[str, Any]) -> str:
    """Whether the report's column is a like-for-like comparison, and if not, where the protocols differ."""
    if comparable(protocol):
        return "The runs follow the report's protocol: the report's column is a like-for-like comparison."
    differs = {k: protocol[k] for k, v in REPORT_PROTOCOL.items() if protocol[k] != v}
    return ("**Not comparable to the report's numbers:** these runs differ from its protocol "
            f"({_fmt_protocol(differs)}); its column (report*) is shown for reference only, without differences, "
            "and the figures do not draw it.")


def significance_note(comparisons: list[Comparison]) -> str:
    if not comparisons:
        return ""
    methods = sorted({c.method for c in comparisons})
    return (f"Method: {'; '.join(methods)}, over {len(comparisons)} comparisons. Norms: "
            + ", ".join(f"{SHORT_NAMES[n]} = {NORM_NAMES[n]}" for n in NORMS if n != "none") + ".")


def designs_note(design_cells: pd.DataFrame, designs: list[str]) -> str:
    """Each design in a line: what varies with the batch size, and the SGD steps per run at each size."""
    lines = []
    for k in designs:
        d = design_cells[design_cells.design == k]
        steps = ", ".join(f"batch {r.batch_size}: {r.steps:,} steps" for r in
                          d.drop_duplicates("batch_size").sort_values("batch_size").itertuples() if r.steps)
        lines.append(f"- **{DESIGNS[k][0]}**: {DESIGNS[k][1]} ({steps}).")
    return "\n".join(lines)


def batch_effect_note() -> str:
    return ("Batch-size effect = mean test accuracy at batch 64 minus at the design's smallest batch size "
            "(points; positive: the larger batch is better), t with the norm's variance pooled over the design's "
            "cells (Welch when they disagree), Holm over the table, the interval at each decision's level. "
            "*Change*: the equalized design's effect minus the report's design's, tested as a change (with batch 64 "
            "shared: the report's-design small-batch cell minus the equalized one; Welch, Holm over these tests). "
            "*Change shown*: *larger* / *smaller* (the effect when equalized), *reverses*, or *no*: these seeds "
            "cannot tell the two effects apart.")


def claims_note(runs: pd.DataFrame, protocol: dict[str, Any], reference: dict[str, Any], cells: pd.DataFrame) -> str:
    """What the verdicts rest on and mean, and what the report's own numbers say about its text, beside the
    seed-to-seed sd of the cell it ran twice (no normalization, batch 64) when these runs have it."""
    lines = [f"Judged on: {judged_on(runs, protocol)}. The rules that turn the numbers into a verdict, and the "
             "evidence behind each claim: Appendix A and B.", "",
             "What the report's own numbers say about themselves:"]
    lines += [f"- {t}" for t in report_self_check(reference)]
    sd = cells[(cells.norm == "none") & (cells.batch_size == 64)]
    if not sd.empty and not math.isnan(sd["std"].iloc[0]):
        lines.append(f"- Here the seed-to-seed sd of that cell is {sd['std'].iloc[0]:.2f} points "
                     f"(n={int(sd.n_completed.iloc[0])}, {short_label(runs)}).")
    return "\n".join(lines)


def method_markdown() -> str:
    """docs/STATISTICS.md, the method stated once, as the report's appendix (its headings two levels down)."""
    text = from_repo("docs/STATISTICS.md").read_text(encoding="utf-8")
    return re.sub(r"^(#+) ", lambda m: "#" * min(6, len(m.group(1)) + 2) + " ", text, flags=re.M)


VERDICT_RULES = (
    "Verdicts, in this order: *not supported* (a part shown against its direction, Holm over the claim's "
    "parts); *supported* (every part it needs shown in its direction at α = 0.05: an \"and\" of parts "
    "needs no adjustment to be supported); *not testable with these runs* (a part lacks its cells); else "
    "*inconclusive*, with the smallest difference its seeds could show and the seeds that would decide "
    f"it (the power table). \"Stable across batch sizes\" is read as: every pair of batch sizes "
    f"within ±{STABLE_POINTS:g} points, by two one-sided tests (the 90 % interval inside the margin). "
    "Seeds that diverged never count as support; where there are any, a sensitivity line gives the "
    "verdict with them counted at chance.")


def claims_markdown(claims: list[Claim], evidence: bool = True) -> str:
    """One block per claim: what the report says, the form it is tested in, the verdict (with what would decide
    it, and the sensitivity line), and with ``evidence`` the test and the numbers behind it (the report's
    appendix; its claims section shows the verdicts alone)."""
    out = []
    for c in claims:
        out += [f"**{c.id}. {c.claim}**  ", f"Tested as: {c.statement}  ",
                f"Verdict: **{c.verdict}**" + (f" ({c.test})." if evidence else ".")]
        if c.power:
            seeds = {k: ("more than 1,000" if v is None else v) for k, v in c.power.items()}
            out += [f"Could show {c.power['detectable']:.1f} points at these seeds (its weakest part, {c.power['part']}); "
                    f"would need about {seeds['seeds_for_2']} seeds for 2 points, {seeds['seeds_for_1']} for 1."]
        if c.sensitivity:
            out += [f"Sensitivity: {c.sensitivity}."]
        out += [""] + ([f"- {e}" for e in c.evidence] + [""] if evidence else [])
    return "\n".join(out)
