"""What the study found, in plain sentences for the report's first page, each generated from numbers that
summary.json holds (its ``headline``, ``comparisons``, ``batch_effects``, ``claims`` and ``power``), so no
sentence says more than the numbers do.

    headline(runs)   -> each norm minus no normalization, on average over the batch sizes (Holm over these rows)
    findings(...)    -> [{"text": a markdown sentence, "from": the summary.json keys it rests on}]
"""
from __future__ import annotations

import statistics
from typing import Any

import pandas as pd

from ..vocab import ALPHA, NORMED, NORMS, SHORT_NAMES
from . import stats as ST
from .cells import seed_table
from .power import detectable, seeds_needed
from .runs import main_grid, test_resolution
from .stats import Comparison
from .verdicts import INCONCLUSIVE, NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, Claim


def headline(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Each norm minus no normalization in final test accuracy, averaged over the batch sizes both ran (the
    blocked mean of per-seed paired differences, ``stats.blocked_mean``), Holm over these rows, each
    interval at its decision's level."""
    cells = seed_table(main_grid(runs), lambda r: r.test_acc)
    if "none" not in cells:
        return []
    norms = [n for n in NORMS if n != "none" and n in cells]
    est = [ST.blocked_mean(cells[n], cells["none"], test_resolution(runs)) for n in norms]
    ST.holm_family(est)
    return [{"a": n, "b": "none", "diff": e.diff, "ci_low": e.low, "ci_high": e.high, "level": e.level,
             "p": e.p_adj, "shown": e.shown(), "batch_sizes": sorted(set(cells[n]) & set(cells["none"])),
             "method": e.method} for n, e in zip(norms, est) if e.testable]


def _ids(xs: list[str]) -> str:
    return ", ".join(xs)


def _names(norms: list[str]) -> str:
    names = [SHORT_NAMES[n] for n in norms]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _pair(c: Comparison, a: str, b: str) -> Comparison | None:
    return c if {c.a, c.b} == {a, b} else None


def _vs_none(comparisons: list[Comparison], heads: list[dict[str, Any]], norms: list[str]) -> list[str]:
    """Each of ``norms`` against no normalization: at how many batch sizes it is shown above (or below), by how
    much, and the average over the batch sizes."""
    out = []
    per = {n: [c for c in comparisons if _pair(c, n, "none") and c.shown is not None] for n in norms}
    per = {n: cs for n, cs in per.items() if cs}
    if not per:
        return out
    above = {n: [c for c in cs if c.shown and c.a == n] for n, cs in per.items()}
    below = {n: [c for c in cs if c.shown and c.a == "none"] for n, cs in per.items()}
    avg = {h["a"]: h for h in heads}

    def mean_text(ns):
        parts = [f"{SHORT_NAMES[n]} {avg[n]['diff']:+.1f} [{avg[n]['ci_low']:+.1f}, {avg[n]['ci_high']:+.1f}]"
                 for n in ns if n in avg and avg[n]["ci_low"] == avg[n]["ci_low"]]
        return f"; on average over the batch sizes {', '.join(parts)}" if parts else ""
    everywhere = [n for n in per if len(above[n]) == len(per[n])]
    if everywhere:
        gaps = [c.diff for n in everywhere for c in above[n]]
        sizes = sorted({c.batch_size for n in everywhere for c in per[n]})
        out.append(f"**{_names(everywhere)} {'each beat' if len(everywhere) > 1 else 'beats'} no normalization at every "
                   f"batch size** ({', '.join(map(str, sizes))}; {len(gaps)} of {len(gaps)} comparisons shown), by "
                   f"{min(gaps):.1f}–{max(gaps):.1f} points{mean_text(everywhere)}.")
    groups: dict[tuple, list[str]] = {}   # norms with the same pattern are said in one sentence
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
        out.append(txt + mean_text(ns) + ".")
    return out


def _among(comparisons: list[Comparison], norms: tuple[str, ...]) -> str:
    """Differences among ``norms`` (BN, LN, GN): which are shown, and what the others could have shown."""
    cs = [c for c in comparisons if c.a in norms and c.b in norms and c.shown is not None]
    if not cs:
        return ""
    shown = [c for c in cs if c.shown]
    open_ = [c for c in cs if not c.shown]
    present = [n for n in norms if any(n in (c.a, c.b) for c in cs)]
    if shown:
        listed = "; ".join(f"{SHORT_NAMES[c.a]} above {SHORT_NAMES[c.b]} at batch {c.batch_size} by {c.diff:.1f}"
                           for c in sorted(shown, key=lambda c: (c.batch_size, -c.diff)))
        txt = f"Among {_names(present)}, {len(shown)} of {len(cs)} differences are shown: {listed}"
        txt += f"; the other {len(open_)} are not." if open_ else "."
    else:
        txt = f"**Among {_names(present)} no difference is shown** ({len(cs)} comparisons, Holm over the table)."
    sds = [c.sd for c in open_ if c.sd == c.sd and c.n >= 2]
    if sds:
        sd, n = statistics.median(sds), min(c.n for c in open_)
        d = detectable(sd, n, df=statistics.median([c.df for c in open_ if c.df == c.df] or [n - 1]))
        need1, need2 = seeds_needed(sd, 1.0), seeds_needed(sd, 2.0)

        def seeds(k):
            return "more than 1,000" if k is None else f"about {k}"
        txt += (f" At {n} seeds those could show about {d:.1f} points (80 % power, one test at α = {ALPHA:g}); "
                f"telling apart 2 points would need {seeds(need2)} seeds per cell, 1 point {seeds(need1)}.")
    return txt


def _batch(batch_effects: list[dict[str, Any]]) -> str:
    """The batch-size effect in the report's design, and whether equalizing steps changes it."""
    fixed = [r for r in batch_effects if r["design"] == "fixed" and r["shown"] is not None]
    if not fixed:
        return ""
    small, large = fixed[0]["small"], fixed[0]["large"]
    up = [r for r in fixed if r["shown"] and r["effect"] > 0]
    down = [r for r in fixed if r["shown"] and r["effect"] < 0]
    none_ = [r for r in fixed if not r["shown"]]

    def lst(rs):
        return ", ".join(f"{SHORT_NAMES[r['norm']]} {r['effect']:+.1f}" for r in rs)
    bits = []
    if down:
        bits.append(f"lower at batch {large} for {lst(down)}")
    if up:
        bits.append(f"higher at batch {large} for {lst(up)}")
    if none_:
        bits.append(f"no difference shown for {', '.join(SHORT_NAMES[r['norm']] for r in none_)}")
    txt = f"In the report's design (fixed epochs and lr), batch {large} against batch {small}: " + "; ".join(bits) + "."
    changed = [r for r in batch_effects if r.get("verdict") and r["verdict"] not in ("no change shown", "not testable")]
    tested = [r for r in batch_effects if r.get("verdict") and r["verdict"] != "not testable"]
    if tested:
        by_design: dict[str, list[dict[str, Any]]] = {}
        for r in tested:
            by_design.setdefault(r["design_name"], []).append(r)
        for name, rs in by_design.items():
            ch = [r for r in rs if r in changed]
            txt += (f" With {name}, that effect changes for {len(ch)} of {len(rs)} norms"
                    + (f" ({', '.join(SHORT_NAMES[r['norm']] + ': ' + r['verdict'] for r in ch)})" if ch else "")
                    + ".")
    return txt


def _claims(claims: list[Claim]) -> str:
    kinds = [(SUPPORTED, "supported"), (INCONCLUSIVE, "inconclusive"), (NOT_SUPPORTED, "not supported"),
             (NOT_TESTABLE, "not testable with these runs")]
    counts = []
    for key, word in kinds:
        ids = [c.id for c in claims if c.verdict.startswith(key)]
        counts.append(f"{len(ids)} {word}" + (f" ({_ids(ids)})" if ids else ""))
    txt = f"**The report's {len(claims)} claims: {', '.join(counts)}.**"
    undecided = [c for c in claims if c.power]
    if undecided:
        need = ", ".join(f"{'>1,000' if c.power['seeds_for_2'] is None else c.power['seeds_for_2']} (claim {c.id})"
                         for c in undecided)
        txt += f" Deciding the inconclusive ones at a 2-point difference would need about {need} seeds per cell."
    return txt


def findings(runs: pd.DataFrame, comparisons: list[Comparison], batch_effects: list[dict[str, Any]],
             claims: list[Claim], heads: list[dict[str, Any]], comparable: bool) -> list[dict[str, str]]:
    """The first page's sentences, in order, each with the summary.json keys it rests on."""
    out: list[dict[str, str]] = []
    if runs.synthetic.any():
        out.append({"text": "**SYNTHETIC DATA: these runs test the code, not the study; nothing here is a "
                            "result.**", "from": "synthetic"})
    out += [{"text": t, "from": "comparisons, headline"} for t in _vs_none(comparisons, heads, list(NORMED))]
    among = _among(comparisons, NORMED)
    if among:
        out.append({"text": among, "from": "comparisons"})
    out += [{"text": t, "from": "comparisons, headline"} for t in _vs_none(comparisons, heads, ["lrn"])]
    b = _batch(batch_effects)
    if b:
        out.append({"text": b, "from": "batch_effects"})
    if claims:
        out.append({"text": _claims(claims), "from": "claims, power"})
    lost = runs[runs.status.isin(["diverged", "failed"])]
    if len(lost):
        where = ", ".join(f"{SHORT_NAMES.get(n, n)} batch {b}: {k}" for (n, b), k in
                          lost.groupby(["norm", "batch_size"]).size().items())
        out.append({"text": f"{len(lost)} run(s) diverged or failed ({where}); they are counted beside their "
                            "cells, never averaged in as zero.", "from": "status"})
    if not comparable:
        out.append({"text": "These runs do not follow the report's CIFAR-10 protocol: they test the direction of "
                            "its claims, not its numbers.", "from": "comparable_to_report"})
    return out


def findings_markdown(items: list[dict[str, str]]) -> str:
    return "\n".join(f"- {f['text']}" for f in items) if items else "- No comparison could be made on these runs."

