"""The report's prose: the label naming the runs behind each table or figure (data, sizes, seeds, device),
the header, and the notes set beside the tables, as markdown strings.

A label is computed from the runs it describes, so no table or figure can be shown without saying what
it was measured on; synthetic data is named first, in bold.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ...paths import from_repo
from ...stages import SecondStage, stage_name
from ...train.inputs.datasets import title
from ...vocab import DESIGNS, POWER_TEXT, REPORT_PROTOCOL, counted, nouned
from ..domain.cells import mixed_cells
from ..domain.claims import judged_on, report_self_check
from ..domain.learning import REACH_SHARE
from ..domain.runs import comparable
from ..inference.verdicts import Claim


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
        lines += ["", f"{counted(other, 'run')} fit none of the designs (the report's, equal steps, linear lr scaling, the lr "
                      "sweep at batch 64): they are in results.csv and the time table, not in the accuracy tables."]
    if duplicates:
        lines += ["", f"{counted(duplicates, 'run folder')} held a run already counted (same configuration, "
                      "e.g. a copied folder): each run is counted once."]
    if problems:
        lines += ["", f"**{counted(len(problems), 'metrics file')} could not be read**: see below."]
    mixed = mixed_cells(runs)
    lines += ["", ("**Cells whose seeds ran on different machines or training code** (their numbers can differ by "
                   "numerical noise, or by what the code did, as well as by seed): " + "; ".join(mixed) + ".") if mixed
              else "Every cell's seeds ran on one kind of device and CPU kernels, with one version of the training "
                   "code (as far as the records say)."]
    return "\n".join(lines)


def comparison_note(protocol: dict[str, Any], where: str = "page 1") -> str:
    """Whether the report's column is a like-for-like comparison, and if not, where the protocols differ."""
    if comparable(protocol):
        return "The runs follow the report's protocol: its column is a like-for-like comparison."
    differs = {k: protocol[k] for k, v in REPORT_PROTOCOL.items() if protocol[k] != v}
    return (f"**Not the report's protocol** ({where}: " + ", ".join(_protocol_words(k, v) for k, v in differs.items())
            + "): its numbers (report*) are shown for reference, without differences, and no figure draws them.")


def _protocol_words(k: str, v: Any) -> str:
    words = {"dataset": lambda v: title(v), "image_size": lambda v: f"{v} px", "width": lambda v: f"width {v:g}",
             "epochs": lambda v: f"{v} epochs", "train_size": lambda v: f"{v:,} training images",
             "test_size": lambda v: f"{v:,} test images"}
    return words.get(k, lambda v: f"{k.replace('_', ' ')} {v}")(v)


def designs_note(design_cells: pd.DataFrame, designs: list[str]) -> str:
    """Each design in a line: what varies with the batch size, and the SGD steps per run at each size."""
    lines = []
    for k in designs:
        d = design_cells[design_cells.design == k]
        steps = ", ".join(f"batch {r.batch_size}: {r.steps:,} steps" for r in
                          d.drop_duplicates("batch_size").sort_values("batch_size").itertuples() if r.steps)
        lines.append(f"- **{DESIGNS[k][0]}**: {DESIGNS[k][1]} ({steps}).")
    return "\n".join(lines)


def claims_note(runs: pd.DataFrame, protocol: dict[str, Any], reference: dict[str, Any], cells: pd.DataFrame) -> str:
    """What the verdicts rest on and the rule that makes them, and what the report's own numbers say about
    themselves, beside the seed-to-seed sd of the cell it ran twice (no normalization, batch 64)."""
    lines = [f"Judged on {judged_on(runs, protocol)}. A part's outcome is read off its interval, against zero and "
             "the size the claim makes; the parts of a claim share α = 0.05; the rules in full: Appendix C.", "",
             "What the report's own numbers say about themselves:"]
    lines += [f"- {t}" for t in report_self_check(reference)]
    sd = cells[(cells.norm == "none") & (cells.batch_size == 64)]
    if not sd.empty and not math.isnan(sd["std"].iloc[0]):
        lines.append(f"- Here the seed-to-seed sd of that cell is {sd['std'].iloc[0]:.2f} points "
                     f"(n={int(sd.n_completed.iloc[0])}).")
    return "\n".join(lines)


def method_markdown() -> str:
    """docs/STATISTICS.md's first section ("In brief"), the method stated once, as the report's appendix (its first
    line, which points to the sections after it, said for a reader of the report); the full text, with each rule's
    reasons, stays in the repository."""
    text = from_repo("docs/STATISTICS.md").read_text(encoding="utf-8")
    body = text[text.index("\n## ") + 1:] if "\n## " in text else text
    brief = body.split("\n## ")[0].split("\n", 1)[1].strip()   # the first section, without its heading
    brief = brief.split("\n", 1)[1] if brief.startswith("The report shows") else brief
    return (brief.strip() + "\n\nThe full method, with the reasons for each rule, is docs/STATISTICS.md in the "
            "study's repository.")


def claim_heading(c: Claim) -> str:
    """A claim's heading in its section: the report's words, the tested statement, the verdict."""
    sens = f" Sensitivity: {c.sensitivity}." if c.sensitivity else ""
    return f"**Claim {c.id}: {c.verdict}.** Tested as: {c.statement}{sens}"


def stages_markdown(runs: pd.DataFrame, stages: list[SecondStage], claims: list[Claim]) -> str:
    """What the stages were: seeds per cell in each, which cells grew and why, and the stage each part was
    decided at."""
    first = runs[runs.stage == 1] if "stage" in runs else runs
    n1 = first.groupby(["norm", "batch_size", "lr", "epochs"]).seed.nunique()
    lines = [f"**Stage 1**: the grid as written, {n1.min()}{'' if n1.min() == n1.max() else f'–{n1.max()}'} seeds per "
             f"cell ({len(first)} runs)."]
    for i, st in enumerate(stages):   # named as their grid files are (stage2.yaml, stage2.2.yaml, ...)
        lines.append(f"**Stage {stage_name(i)}**: {len(st.runs)} runs added, seeds {st.seeds or '?'} to "
                     f"{len(st.cells)} cells, for the open parts of {nouned(st.claims, 'claim') if st.claims else 'claim ?'}; "
                     f"budget {st.budget or '?'}, planned {fmt_seconds(st.planned_seconds)}"
                     + (f", took {fmt_seconds(st.measured_seconds)}" if st.measured_seconds else "") + f" ({st.rule}).")
    decided2 = [f"claim {c.id} ({p.what})" for c in claims for p in c.parts if p.stage == 2]
    if stages:
        lines.append("Decided at stage 2: " + ("; ".join(decided2) if decided2 else "no part") + ".")
    opened = sum(p.outcome == "open" for c in claims for p in c.parts)
    lines.append(f"Open parts now: {opened}. For each, the seeds per cell a second stage would need to decide it "
                 f"({POWER_TEXT} power when the truth lies the size that matters beyond the boundary it must clear, given its "
                 "first look; the size is the claim's margin, else 2 points)"
                 + ("; a part that has had its second look stays open here: the test has two looks, so deciding "
                    "it takes a new study" if stages else "") + ":" if opened else "No part is open.")
    return "\n\n".join(lines)


def fmt_seconds(s: float | None) -> str:
    if s is None or s != s:
        return "?"
    return f"{s / 60:.0f} min" if s < 3600 else f"{s / 3600:.1f} h"


FILES = ("The numbers behind this report sit beside it: summary.json (every number it cites), cells.csv (per norm and "
         "batch size), designs.csv (per design), results.csv (per run) and records/ (each run's record; the report "
         "rebuilds from them).")


def against_markdown(ag) -> str:
    """The rerun against the committed study in words: the rule, the cells, the verdicts, the machines."""
    s = ag.summary()
    lines = [f"The same configurations and seeds as the committed study, paired on the seed. A cell *agrees* unless its "
             f"mean paired difference exceeds {s['z']:.2f} × {s['sigma']:.2f} × √(2/n) points: what a new seed's noise "
             f"would move a mean of n seeds by ({s['sigma']:.2f}: the committed seed-to-seed sd), Bonferroni over the "
             f"{s['cells']} cells, fixed before the rerun's numbers are read.",
             "", f"**{s['agree']} of {s['cells']} cells agree**, {s['differ']} differ; the largest paired difference is "
             f"{s['largest_difference']:.2f} points. " + (
                 "No claim can be tested on both (the rerun holds too few cells): verdicts not compared."
                 if not s["claims_compared"] else
                 f"**Every verdict and part outcome of the {counted(len(s['claims_compared']), 'claim')} both can test is the "
                 "same.**" if s["verdicts_same"] else
                 "**Verdicts that changed:** " + "; ".join(
                     f"claim {v['claim']}: {v['committed']} → {v['here']}"
                     + f" ({change_words(v)})" for v in s["verdict_changes"]) + ".")]
    if s["not_comparable"]:
        lines += ["", f"Not comparable (no committed run of that configuration): {', '.join(s['not_comparable'])}."]
    return "\n".join(lines)


# ---- the rerun check, in words ----
def summary_line(s: dict[str, Any], where: str) -> str:
    """The console's one line of a comparison (``Against.summary()``, as summary.json holds it)."""
    compared = s.get("claims_compared", [])
    verdicts = (f"verdicts of the {counted(len(compared), 'claim')} both can test "
                + ("the same" if s["verdicts_same"] else
                   "changed for " + nouned([v["claim"] for v in s["verdict_changes"]], "claim")
                   + _contradicting(s))
                if compared else "no claim testable in both: verdicts not compared")
    return (f"against {where}: {s['agree']} of {s['cells']} cells agree, {s['differ']} differ (largest paired "
            f"difference {s['largest_difference']:.2f} points; margin {s['z']:.2f} × {s['sigma']:.2f} × √(2/n)); "
            + verdicts + (f"; {counted(len(s['not_comparable']), 'cell')} not comparable" if s["not_comparable"] else ""))


def _contradicting(s: dict[str, Any]) -> str:
    c = s.get("verdicts_contradict", [])
    return f" ({'a contradiction in ' + nouned(list(c), 'claim') if c else 'no contradiction'})"


def change_words(v: dict[str, Any]) -> str:
    """What a verdict change means, in words (one entry of ``verdict_changes``)."""
    if v.get("contradicts"):
        return "a contradiction: one study found what the other found against"
    pairs = [(v["committed"], v["here"])] + [(p["committed"], p["here"]) for p in v.get("parts", [])]
    open_here = any(h == "open" != c for c, h in pairs)
    open_there = any(c == "open" != h for c, h in pairs)
    if open_here and not open_there:
        return ("no contradiction: open here, decided in the committed study (fewer seeds here, or a result near "
                "its boundary)")
    if open_there and not open_here:
        return ("no contradiction: decided here, open in the committed study (more seeds here, or a result near "
                "its boundary)")
    if open_here:
        return "no contradiction: each study left open a part the other decided"
    return "no contradiction: both found against it, one by its direction, the other by its size"


def convergence_note(conv: pd.DataFrame) -> str:
    """What the convergence table shows (``learning.convergence``), with the threshold it used."""
    t = conv.threshold.iloc[0] if len(conv) else float("nan")
    return (f"Mean ± sd over the completed seeds: test accuracy after the first epoch, and the epochs (SGD steps) a "
            f"seed took to reach {t:g} % ({REACH_SHARE * 100:g} % of the best cell's mean, rounded down); a seed that never "
            f"reached it is counted, not averaged in.")
