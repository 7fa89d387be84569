"""What the study found, in plain sentences for the report's first pages, each generated from numbers that
summary.json holds (its ``claims``, ``comparisons``, ``batch_effects``, ``vs_none`` and ``flags``), so no sentence
says more than the numbers do, and every interval it quotes carries its level.

    findings(runs, analysis, flags, comparable) -> [{"text": a markdown sentence, "from": the keys it rests on}]
"""
from __future__ import annotations

import statistics
from typing import Any, Callable

import pandas as pd

from ...train.net.norms import EXTRAS, NORMED
from ...vocab import ALPHA, ANCHOR_BATCH, BEYOND_LIMIT, POWER_TEXT, REPORT_BATCHES, counted
from ..domain.analysis import Analysis
from ..domain.claims import SOURCES, claim_spec
from ..domain.learning import NEAR_CHANCE, STILL
from ..domain.runs import main_grid
from ..domain.smallbatch import LOST_IN
from ..inference.power import detectable, seeds_needed
from ..inference.stats import Comparison
from ..inference.verdicts import NOT_TESTABLE, VERDICTS, Claim
from .front import SAID, phrase
from .tables import estimate, part_estimate
from .why import arm_said


def _no_refs(*keys: str) -> str:
    return ""


def _names(norms: list[str]) -> str:
    names = [SAID[n] for n in norms]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _pair(c: Comparison, a: str, b: str) -> bool:
    return {c.a, c.b} == {a, b}


def _avg(a: Analysis, norm: str) -> str:
    """'BN +10.9 [+8.5, +13.4] 99.5 %': the norm minus none on average over the batch sizes, as decided."""
    p = a.parts().get(f"mean:final:{norm}-none")
    if p is not None and p.interval is not None and p.interval.low == p.interval.low:
        iv = p.interval
        return f"{SAID[norm]} {estimate(iv.estimate, iv.low, iv.high)}"
    r = a.vs_none.get(norm)
    if r and r["ci_low"] == r["ci_low"]:
        return f"{SAID[norm]} {estimate(r['diff'], r['ci_low'], r['ci_high'])}"
    return ""


def _flag_note(norm: str, sizes: list[int], flags: dict[tuple[str, int], list[str]]) -> str:
    hit = [f"at batch {bs} is {' and '.join(flags[(norm, bs)])}" for bs in sizes if (norm, bs) in flags]
    return (f" {SAID[norm]} {'; '.join(hit)}: a difference there measures training that has not happened "
            f"or not finished, not the norm alone.") if hit else ""


def _vs_none(a: Analysis, norms: list[str], flags: dict[tuple[str, int], list[str]]) -> list[str]:
    """Each of ``norms`` against no normalization: at how many batch sizes a difference is shown, by how much,
    and the average over the batch sizes."""
    out = []
    per = {n: [c for c in a.comparisons if _pair(c, n, "none") and c.shown is not None] for n in norms}
    per = {n: cs for n, cs in per.items() if cs}
    if not per:
        return out
    above = {n: [c for c in cs if c.shown and c.a == n] for n, cs in per.items()}
    below = {n: [c for c in cs if c.shown and c.a == "none"] for n, cs in per.items()}

    def mean_text(ns):
        parts = [t for n in ns if (t := _avg(a, n))]
        return f"; on average over the batch sizes {', '.join(parts)}" if parts else ""
    everywhere = [n for n in per if len(above[n]) == len(per[n])]
    if everywhere:
        gaps = [c.diff for n in everywhere for c in above[n]]
        sizes = sorted({c.batch_size for n in everywhere for c in per[n]})
        out.append(f"**{_names(everywhere)} {'each beat' if len(everywhere) > 1 else 'beats'} no normalization at every "
                   f"batch size** ({', '.join(map(str, sizes))}; {len(gaps)} of {len(gaps)} comparisons shown), by "
                   f"{min(gaps):.1f}–{max(gaps):.1f} points{mean_text(everywhere)}.")
    groups: dict[tuple, list[str]] = {}
    for n in [n for n in per if n not in everywhere]:
        key = (tuple(c.batch_size for c in above[n]), tuple(c.batch_size for c in below[n]), len(per[n]))
        groups.setdefault(key, []).append(n)
    for (up, down, m), ns in groups.items():
        who = _names(ns)
        if not up and not down:
            txt = f"{who}: no difference from no normalization is shown at any of the {m} batch sizes"
        elif not up:
            txt = (f"{who} {'each ' if len(ns) > 1 else ''}**below** no normalization at {len(down)} of {m} batch "
                   f"sizes ({', '.join(map(str, down))}) and above it at none")
        else:
            txt = (f"{who} {'each ' if len(ns) > 1 else ''}above no normalization at {len(up)} of {m} batch sizes "
                   f"({', '.join(map(str, up))})")
            if down:
                txt += f", **below** it at {len(down)} ({', '.join(map(str, down))})"
        flagged = "".join(_flag_note(n, list(up) + list(down), flags) for n in ns)
        out.append(txt + mean_text(ns) + "." + flagged)
    return out


def _among(a: Analysis, norms: tuple[str, ...]) -> str:
    """Differences among ``norms`` (BN, LN, GN): which are shown, and what the others could have shown at the
    level each of the table's rows is decided at (Bonferroni over its rows: α / rows)."""
    cs = [c for c in a.comparisons if c.a in norms and c.b in norms and c.shown is not None]
    if not cs:
        return ""
    shown = [c for c in cs if c.shown]
    open_ = [c for c in cs if not c.shown and not c.decided_in]
    present = [n for n in norms if any(n in (c.a, c.b) for c in cs)]
    if shown:
        listed = "; ".join(f"{SAID[c.a]} above {SAID[c.b]} at batch {c.batch_size} by {c.diff:.1f}"
                           for c in sorted(shown, key=lambda c: (c.batch_size, -c.diff)))
        txt = f"Among {_names(present)}, {len(shown)} of {len(cs)} differences are shown: {listed}"
        txt += f"; the other {len(cs) - len(shown)} are not." if len(cs) > len(shown) else "."
    else:
        txt = f"**Among {_names(present)} no difference is shown** ({len(cs)} comparisons)."
    rows = sum(1 for c in a.comparisons if not c.decided_in and c.p == c.p)
    sds = [c.sd for c in open_ if c.sd == c.sd and c.n >= 2]
    if sds and rows:
        sd, n = statistics.median(sds), min(c.n for c in open_)
        level = ALPHA / rows
        df = statistics.median([c.df for c in open_ if c.df == c.df] or [n - 1])
        d = detectable(sd, n, df=df, alpha=level)
        need1, need2 = seeds_needed(sd, 1.0, alpha=level), seeds_needed(sd, 2.0, alpha=level)

        def seeds(k):
            return BEYOND_LIMIT if k is None else f"about {k}"
        txt += (f" At {n} seeds those could show about {d:.1f} points ({POWER_TEXT} power at α = {level:.2g}, each row's share of the table's "
                f"α over its {rows} rows); telling apart 2 points would need {seeds(need2)} seeds "
                f"per cell, 1 point {seeds(need1)}.")
    return txt


def batch_sentences(a: Analysis, runs: pd.DataFrame) -> str:
    """The batch-size question in plain sentences: the report's design, then with the lr scaled and with equal
    steps, the equal-steps confound named."""
    rows = a.batch_effects
    by = {d: [r for r in rows if r["design"] == d and r["effect"] == r["effect"]] for d in ("fixed", "lr_scaled", "equal_steps")}
    out = []
    if by["fixed"]:
        small = by["fixed"][0]["small"]
        shown = [r for r in by["fixed"] if r["shown"]]
        out.append(f"In the report's design (lr and epochs fixed, so batch {small} takes {ANCHOR_BATCH // small}× the SGD "
                   f"steps of batch {ANCHOR_BATCH}), batch {ANCHOR_BATCH} − batch {small} is "
                   + ", ".join(f"{SAID[r['norm']]} {r['effect']:+.1f}" for r in by["fixed"])
                   + (f"; shown for {_names([r['norm'] for r in shown])}" if shown else "; none of these is shown") + ".")
    if by["lr_scaled"]:
        gap = max(abs(r["effect"]) for r in by["lr_scaled"])
        out.append(f"**With the lr scaled to the batch size (linear scaling), batch {by['lr_scaled'][0]['small']} and "
                   f"batch {ANCHOR_BATCH} land within {gap:.1f} points for every norm** ("
                   + ", ".join(f"{SAID[r['norm']]} {r['effect']:+.1f}" for r in by["lr_scaled"]) + ").")
    if by["equal_steps"]:
        small = by["equal_steps"][0]["small"]
        effects = [r["effect"] for r in by["equal_steps"]]
        ep = runs[(runs.design == "equal_steps") & (runs.batch_size == small)].epochs
        ep64 = runs[(runs.design == "fixed") & (runs.batch_size == ANCHOR_BATCH)].epochs
        epochs = (f"{int(ep.iloc[0])} epoch{'s' if int(ep.iloc[0]) != 1 else ''} where batch {ANCHOR_BATCH} has "
                  f"{int(ep64.iloc[0])}" if len(ep) and len(ep64) else f"{small}/{ANCHOR_BATCH} of the epochs")
        out.append(f"With equal SGD steps, batch {small} falls {min(effects):.1f}–{max(effects):.1f} points below batch "
                   f"{ANCHOR_BATCH} (" + ", ".join(f"{SAID[r['norm']]} {r['effect']:+.1f}" for r in by["equal_steps"])
                   + f"); but equal steps gives batch {small} {epochs}, {ANCHOR_BATCH // small}× fewer images, so this "
                   f"design trades the step-count confound for a data one.")
    return " ".join(out)


def batch_short(a: Analysis, see: Callable[..., str] = _no_refs) -> str:
    """The batch-size answer in one sentence for the findings (the section says it in full)."""
    scaled = [r for r in a.batch_effects if r["design"] == "lr_scaled" and r["effect"] == r["effect"]]
    fixed = [r for r in a.batch_effects if r["design"] == "fixed" and r["effect"] == r["effect"]]
    if not fixed:
        return ""
    small = fixed[0]["small"]
    shown = [r["norm"] for r in fixed if r["shown"]]
    txt = (f"Batch {ANCHOR_BATCH} against batch {small} in the report's design: a difference is shown for "
           f"{_names(shown) if shown else 'no norm'}")
    if scaled:
        txt += (f"; **with the lr scaled to the batch size, the two land within {max(abs(r['effect']) for r in scaled):.1f}"
                f" points for every norm**")
    return txt + f" {see('batch_effects')}".rstrip() + "."


def _claims(claims: list[Claim], see: Callable[..., str] = _no_refs) -> str:
    """The verdicts counted, one sentence per source of claims (a source none of whose claims could be tested is
    left out)."""
    out = []
    for key, src in SOURCES.items():
        mine = [c for c in claims if claim_spec(c.id).source == key]
        if not mine or (key != "report" and all(c.verdict == NOT_TESTABLE for c in mine)):
            continue
        counts = []
        for v in VERDICTS:
            ids = [c.id for c in mine if c.verdict == v]
            if ids:
                counts.append(f"{len(ids)} {v} ({', '.join(ids)})")
        name = "The report's" if key == "report" else "The Group Normalization paper's"
        out.append(f"**{name} {len(mine)} claims: {', '.join(counts)}**")
    tables = see("claims_report", "claims_paper")[1:-1]
    return "; ".join(out) + f" (each part at the size it claims{'; ' + tables if tables else ''})."


def small_batches(runs: pd.DataFrame, a: Analysis, cells: pd.DataFrame, checks: pd.DataFrame, arm: pd.DataFrame,
                  flags: dict[tuple[str, int], list[str]], see: Callable[..., str] = _no_refs,
                  norm_arms: pd.DataFrame | None = None) -> list[str]:
    """The regime below the report's batch sizes in sentences: which norms hold at batch 2 and 4 (the cells, near
    chance marked), how far BN falls and whether GN is above it (the paper's claims' parts), where BN's loss lies
    (the recomputed statistics), and the image-size arm."""
    small = sorted(b for b in set(main_grid(runs, only_completed=False).batch_size) if b < min(REPORT_BATCHES))
    if not small:
        return []
    out = []
    for bs in small:
        c = cells[(cells.batch_size == bs) & cells["mean"].notna()]
        if c.empty:
            continue
        each = ", ".join(f"{SAID[r.norm]} {r.mean:.1f} %{' ‡' if NEAR_CHANCE in flags.get((r.norm, bs), []) else ''}"
                         for r in c.itertuples())
        lost = cells[(cells.batch_size == bs) & (cells.n_diverged > 0)]
        out.append(f"At batch {bs} the cells end at {each}" + (
            " (" + ", ".join(f"{SAID[r.norm]}: {counted(r.n_diverged, 'seed')} diverged" for r in lost.itertuples())
            + ")"
            if len(lost) else "") + (" (‡: near chance, a network that has not learned)" if "‡" in each else "")
            + f" {see('accuracy_vs_batch', 'accuracy')}.")
    parts = {p.key: p for c in a.claims if claim_spec(c.id).source == "gn_paper" for p in c.parts}
    falls = [p for k, p in parts.items() if k.endswith("falls") and p.interval is not None]
    above = [p for k, p in parts.items() if k.startswith("gn-bn") and p.interval is not None]
    if falls or above:
        out.append("The paper's claims, part by part: " + "; ".join(
            f"{p.what} {part_estimate(p)}: {phrase(p)}" for p in falls + above)
            + f" {see(*(f'claim:{c.id}' for c in a.claims if claim_spec(c.id).source == 'gn_paper'))}.")
    lost = checks[checks.lost_in != "nothing"] if not checks.empty else checks
    if not lost.empty:
        out.append("**Where BN's loss lies:** " + "; ".join(
            f"at batch {r['batch_size']} ({r['trained']:.1f} %; recomputed {r['recomputed']:.1f}, each test batch's "
            f"own {r['own_batch']:.1f}), {LOST_IN[r['lost_in']]}" for r in lost.to_dict("records"))
            + (f"; at batch {', '.join(map(str, checks[checks.lost_in == 'nothing'].batch_size))} nothing was lost"
               if (checks.lost_in == "nothing").any() else "") + f" {see('small_checks')}.")
    arm = arm[arm["diff"].notna()] if not arm.empty else arm
    if not arm.empty:
        out.append("With more values per BatchNorm statistic at the same batch size (a larger image): " + "; ".join(
            f"{SAID[r['norm']]} at batch {r['batch_size']} {r['arm']:.1f} % at {r['arm_px']} px "
            f"({r['arm_values']} values at conv5) against {r['main']:.1f} % at {r['main_px']} px ({r['main_values']}), "
            f"{r['diff']:+.1f}{' shown' if r['shown'] else ', not shown'}" for r in arm.to_dict("records"))
            + f" {see('small_arm')}.")
    tried = norm_arms[norm_arms.vs_bn_diff.notna()] if norm_arms is not None and not norm_arms.empty else None
    if tried is not None and not tried.empty:
        tried = tried[tried.batch_size == tried.batch_size.min()]   # where BN fails; batch 32 is in the table
        out.append("One change to BN at a time (exploratory arms): " + "; ".join(
            arm_said(r, against_gn=False) for r in tried.to_dict("records")) + f" {see('small_norm_arms')}.")
    return out


def _flags(flags: dict[tuple[str, int], list[str]], lr_flags: dict[float, list[str]],
           see: Callable[..., str] = _no_refs) -> str:
    near = [f"{SAID[n]} at batch {b}" for (n, b), f in flags.items() if NEAR_CHANCE in f]
    near += [f"none at lr {lr:g}" for lr, f in lr_flags.items() if NEAR_CHANCE in f]
    still = [f"{SAID[n]} at batch {b}" for (n, b), f in flags.items() if STILL in f]
    still += [f"none at lr {lr:g}" for lr, f in lr_flags.items() if STILL in f]
    bits = []
    if near:
        bits.append(f"near chance (‡): {', '.join(near)}")
    if still:
        bits.append(f"still learning at the last epoch (†): {', '.join(still)}")
    return ("Cells " + "; ".join(bits) + f" {see('accuracy', 'convergence')}".rstrip() + ". A difference that involves "
            "them measures training that has not happened or not finished, not the norm or the batch size alone."
            ) if bits else ""


def findings(runs: pd.DataFrame, a: Analysis, flags: dict[tuple[str, int], list[str]], lr_flags: dict[float, list[str]],
             comparable: bool, cells: pd.DataFrame | None = None, checks: pd.DataFrame | None = None,
             arm: pd.DataFrame | None = None, see: Callable[..., str] = _no_refs,
             norm_arms: pd.DataFrame | None = None) -> list[dict[str, str]]:
    """The first pages' sentences, in order, each with the summary.json keys it rests on; ``see(*keys)``: the
    numbers of the figures and tables a sentence rests on, '(Figure 3; Table 4)' (``Numbering.see``)."""
    out: list[dict[str, str]] = []
    if runs.synthetic.any():
        out.append({"text": "**SYNTHETIC DATA: these runs test the code, not the study; nothing here is a "
                            "result.**", "from": "synthetic"})
    if a.claims:
        out.append({"text": _claims(a.claims, see), "from": "claims"})
    diffs = see("accuracy_bars", "differences")
    out += [{"text": _cite(t, diffs), "from": "comparisons, claims"} for t in _vs_none(a, list(NORMED), flags)]
    if (among := _among(a, NORMED)):
        out.append({"text": _cite(among, see("differences"), first=True), "from": "comparisons"})
    out += [{"text": _cite(t, diffs), "from": "comparisons, vs_none"} for t in _vs_none(a, list(EXTRAS), flags)]
    out += [{"text": t, "from": "cells, claims, small_batches"}
            for t in small_batches(runs, a, cells, checks, arm, flags, see, norm_arms)] if cells is not None else []
    if (b := batch_short(a, see)):
        out.append({"text": b, "from": "batch_effects"})
    if (f := _flags(flags, lr_flags, see)):
        out.append({"text": f, "from": "flags"})
    lost = runs[runs.status.isin(["diverged", "failed"])]
    if len(lost):
        where = ", ".join(f"{SAID.get(n, n)} batch {b}: {k}" for (n, b), k in
                          lost.groupby(["norm", "batch_size"]).size().items())
        out.append({"text": f"{counted(len(lost), 'run')} diverged or failed ({where}); they are counted beside their "
                            f"cells, never averaged in as zero {see('problems')}".rstrip() + ".", "from": "status"})
    if not comparable:
        out.append({"text": f"These runs do not follow the report's CIFAR-10 protocol {see('protocol')}".rstrip()
                            + ": they test the direction and size of its claims, not its numbers.",
                    "from": "comparable_to_report"})
    return out


def _cite(text: str, refs: str, first: bool = False) -> str:
    """``text`` with ``refs`` ('(Figure 3)') set before its first full stop (``first``) or its last."""
    if not refs:
        return text
    i = text.find(". ") if first else -1
    i = i if i >= 0 else len(text) - 1 if text.endswith(".") else len(text)
    return f"{text[:i]} {refs}{text[i:]}"


def findings_markdown(items: list[dict[str, str]]) -> str:
    return "\n".join(f"- {f['text']}" for f in items) if items else "- No comparison could be made on these runs."


def flags_index(flags: dict[tuple[str, int], list[str]], lr_flags: dict[float, list[str]]) -> list[dict[str, Any]]:
    """The flags as summary.json holds them."""
    return ([{"norm": n, "batch_size": b, "flags": f} for (n, b), f in flags.items()]
            + [{"norm": "none", "batch_size": ANCHOR_BATCH, "lr": lr, "flags": f} for lr, f in lr_flags.items()])
