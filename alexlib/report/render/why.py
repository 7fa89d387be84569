"""The small-batch section, "where BN's loss lies", in tables and words: the values each BatchNorm statistic averages,
where BN's accuracy is lost (its statistics recomputed, each test batch's own), the image-size arm, BN's
one-change arms, and the per-layer signals (``alexlib.report.domain.smallbatch`` computes each)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from ...train.net.norms import ARMS, NORM_NAMES, SHORT_NAMES
from ..domain.smallbatch import LOST_IN, SmallBatch
from .references import cite
from .tables import NB, SAID, estimate


def _gain(r: dict[str, Any], key: str) -> str:
    g, lo, hi = r[f"{key}_gain"], r[f"{key}_low"], r[f"{key}_high"]
    if g != g:
        return "—"
    ci = f" [{lo:+.1f}, {hi:+.1f}]" if lo == lo else ""
    return f"{g:+.1f}{ci}"


def _plain(key: str, text: str) -> str:
    return text


def small_batch_markdown(small: SmallBatch, protocol: dict[str, Any],
                         caption: Callable[[str, str], str] = _plain) -> str:
    """Why BN fails at small batches: the values each BN statistic averages, BN's test accuracy with its statistics
    recomputed and with each test batch's own, and the image-size arm, in tables and words; ``caption(key, text)``
    numbers each table's caption (``Numbering.caption``)."""
    checks, arm, values, signals = small.checks, small.arm, small.values, small.signals
    out = [lead(small)] if lead(small) else []
    px = int(protocol["image_size"])
    if not values.empty:
        sizes = [c for c in values.columns if isinstance(c, (int, np.integer))]
        head = "| image | stage | map | " + " | ".join(f"batch {b}" for b in sizes) + " |"
        rows = [head, "|" + "---|" * (3 + len(sizes))]
        for d in values.to_dict("records"):
            if d["image_size"] != px and d["stage"] != "conv5":   # the arm's other stages: as the study's, larger
                continue
            rows.append(f"| {d['image_size']} px | {d['stage']} | {d['map']} | "
                        + " | ".join(f"{int(d[b]):,}" for b in sizes) + " |")
        last = values[(values.image_size == px) & (values.stage == "conv5")]
        side = last["map"].iloc[0] if len(last) else "?"
        two = (" a statistic at batch 2 averages two numbers, whose normalized values are always −1 and +1, whatever "
               "the images." if side == "1×1" and 2 in sizes else
               f" a statistic at batch {sizes[0]} averages {int(last[sizes[0]].iloc[0]):,} values." if len(last) else "")
        out.append(caption("small_values", "**Values per statistic** (from the network's shapes). A BatchNorm statistic (a channel's mean or variance) averages batch × "
                   f"H × W values of its stage's map in each training batch. At {px} px the fifth stage's map is "
                   f"{side}:{two}" + ("" if arm.empty else
                   f" The image-size arm ({', '.join(f'{p} px' for p in sorted(set(arm.arm_px)))}) changes that count "
                   "without changing the batch size.")) + "\n\n" + "\n".join(rows))
    if not checks.empty:
        rows = ["| batch | seeds | as trained | statistics recomputed (gain) | each test batch's own (gain) |",
                "|---|---|---|---|---|"]
        for r in checks.to_dict("records"):
            rows.append(f"| {r['batch_size']} | {r['seeds']} | {r['trained']:.1f} | {r['recomputed']:.1f} "
                        f"({_gain(r, 'rec')}) | {r['own_batch']:.1f} ({_gain(r, 'own')}) |")
        out.append(caption("small_checks", f"**Where BN's accuracy is lost** ({int(checks.seeds.sum())} BN runs, "
                   "first stage). "
                   "BN's test accuracy (%) as trained, with its statistics recomputed over the training split after "
                   f"training (the \"precise BN\" of {cite('precise_bn')}), and with each test batch of the training "
                   "batch size normalized by its own statistics; gains paired on the seed with their intervals (one "
                   "family over the table). A gain shown says the "
                   "running averages lost that accuracy; a gain not shown rules out only what its interval "
                   "excludes.") + "\n\n" + "\n".join(rows)
                   + "\n\n" + _checks_words(checks))
    if not arm.empty:
        rows = ["| norm | batch | study: values at conv5, acc (seeds) | arm: values at conv5, acc (seeds) | arm − study |",
                "|---|---|---|---|---|"]
        for r in arm.to_dict("records"):
            ci = f" [{r['low']:+.1f}, {r['high']:+.1f}]" if r["low"] == r["low"] else ""
            diff = "—" if r["diff"] != r["diff"] else f"{r['diff']:+.1f}{ci}{' shown' if r['shown'] else ''}"
            rows.append(f"| {SHORT_NAMES.get(r['norm'], r['norm'])} | {r['batch_size']} | {r['main_px']} px: "
                        f"{r['main_values']}, {_pct(r['main'])} ({r['main_n']}) | {r['arm_px']} px: {r['arm_values']}, "
                        f"{_pct(r['arm'])} ({r['arm_n']}) | {diff} |")
        n = int(arm.main_n.sum() + arm.arm_n.sum())
        out.append(caption("small_arm", f"**Small batch, or few values per statistic?** ({n} runs, first stage) "
                   f"The same norm and batch size at a larger image size, whose fifth-stage map is larger ({cite('welch')}, "
                   "one family over the rows; a larger image is also a different input, so GN, which averages no "
                   "batch, is the control).") + "\n\n" + "\n".join(rows))
    if not small.arms.empty:
        out.append(arms_markdown(small.arms, caption))
    if not signals.empty:
        out.append(signals_markdown(signals, caption))
    return "\n\n".join(out) if out else "No run below the report's batch sizes, and no BatchNorm run with the checks."


def _checks_words(checks: pd.DataFrame) -> str:
    """Where each batch size's BN cell lost its accuracy (``smallbatch.lost_in``), in one sentence."""
    groups: dict[str, list[str]] = {}
    for r in checks.to_dict("records"):
        groups.setdefault(r["lost_in"], []).append(str(r["batch_size"]))
    text = "; ".join(f"at batch {', '.join(b)}: {LOST_IN[k]}" for k, b in groups.items())
    return text[:1].upper() + text[1:] + "."


def _pct(v: float) -> str:
    return "—" if v != v else f"{v:.1f}"


def signals_markdown(signals: pd.DataFrame, caption: Callable[[str, str], str]) -> str:
    """``smallbatch.layer_signals`` as the report shows it: a row per cell, a column per layer holding its gradient
    norm / weight distance (``caption``: numbers the table); the section's lead says what it shows."""
    layers = [c[5:] for c in signals.columns if c.startswith("grad:")]
    rows = ["| cell | seeds | " + " | ".join(layers) + " |", "|---|---|" + "---|" * len(layers)]
    for r in signals.to_dict("records"):
        cell = f"{SHORT_NAMES.get(r['norm'], r['norm'])}, batch{NB}{r['batch_size']}"
        rows.append(f"| {cell} | {r['seeds']} | " + " | ".join(f"{_g(r[f'grad:{ly}'])}{NB}/{NB}{r[f'dist:{ly}']:.1f}"
                                                           for ly in layers) + " |")
    n = int(signals.seeds.sum())
    head = caption("small_signals", f"**Where learning stops, layer by layer** ({n} runs). Per layer at the last "
                   "epoch, *gradient norm / weights moved*: the gradient norm (mean over the epoch's steps), and how "
                   "far the weights moved from their start, ‖W − W₀‖ / ‖W₀‖; means over the "
                   "completed seeds whose records carry them, at the smallest batch size and at batch 32, where BN "
                   "trains (BN's arms at the smallest).")
    return head + "\n\n" + "\n".join(rows)


def _g(v: float) -> str:
    return f"{v:#.2g}".rstrip(".") if v >= 1e-3 else f"{v:.0e}"


def arms_markdown(arms: pd.DataFrame, caption: Callable[[str, str], str]) -> str:
    """``smallbatch.norm_arms`` as the report shows it: a row per arm and batch size, BN's and GN's cells beside
    it, the arm minus each with its interval (``caption``: numbers the table), then a sentence per arm."""
    rows = ["| arm (one change from BN) | batch | arm | BN | GN | arm − BN | arm − GN |", "|---|---|---|---|---|---|---|"]
    for r in arms.to_dict("records"):
        rows.append(f"| {NORM_NAMES.get(r['arm'], r['arm'])} | {r['batch_size']} | {_acc(r['arm_acc'], r['arm_n'])} | "
                    f"{_acc(r['bn'], r['bn_n'])} | {_acc(r['gn'], r['gn_n'])} | {_vs(r, 'bn')} | {_vs(r, 'gn')} |")
    n = int(arms.arm_n.sum())
    head = caption("small_norm_arms", f"**What one change to BN recovers** ({n} runs of the arms; BN, GN: first "
                   "stage; exploratory: designed after BN's batch-2 result was seen). BN's network with GroupNorm at the fifth stage, or "
                   "with the fifth BatchNorm before its max-pool (a 3×3 map: 9 values per sample per statistic, not 1; "
                   f"fc6's input unchanged). Test accuracy (%, mean (seeds)); {cite('welch')}, one family.")
    return head + "\n\n" + "\n".join(rows)


def _acc(v: float, n: int) -> str:
    return "—" if v != v else f"{v:.1f} ({n})"


def _vs(r: dict, other: str) -> str:
    d, lo, hi = r[f"vs_{other}_diff"], r[f"vs_{other}_low"], r[f"vs_{other}_high"]
    return "—" if d != d else estimate(d, lo, hi) + (" shown" if r[f"vs_{other}_shown"] else "")


def _name(key: str, px: int) -> str:
    """An arm of BN by its name; a norm of the image-size arm by its short name and image size."""
    return NORM_NAMES[key] if key in ARMS else f"{SAID.get(key, key)} at {px} px"


def arm_said(r: dict[str, Any], against_gn: bool = True) -> str:
    """A row of ``smallbatch.norm_arms`` in words: the arm's accuracy beside BN's (and GN's), each difference with
    its interval and whether it is shown."""
    def vs(other: str) -> str:
        return (f"− {SHORT_NAMES[other]}: {estimate(r[f'vs_{other}_diff'], r[f'vs_{other}_low'], r[f'vs_{other}_high'])}"
                f"{', shown' if r[f'vs_{other}_shown'] else ', not shown'}")
    beside = f"BN's {r['bn']:.1f}" + (f" and GN's {r['gn']:.1f}" if against_gn else "")
    return (f"{NORM_NAMES[r['arm']]} at batch {r['batch_size']}: {r['arm_acc']:.1f} % against {beside} ("
            + "; ".join(vs(o) for o in (("bn", "gn") if against_gn else ("bn",))) + ")")


def _span(values) -> str:
    vals = [f"{v:.2g}" for v in sorted(values)]
    return vals[0] if vals[0] == vals[-1] else f"{vals[0]}–{vals[-1]}"


def lead(small: SmallBatch) -> str:
    """The section's answer first, in three bullets computed from its tables: where BN's learning stops (the
    per-layer signals), what one change to BN recovers (the arms), and what the batch costs beyond the fifth stage
    (``batch_costs``); empty where the study has none of them."""
    out = []
    sig = small.signals
    if not sig.empty and {"bn"} <= set(sig.norm) and len(sig[sig.norm == "bn"]) == 2:
        convs = [c[5:] for c in sig.columns if c.startswith("grad:conv")]
        bits = []
        for norm in [n for n in ("bn", "gn") if len(sig[sig.norm == n]) == 2]:
            small_r, sound = sig[sig.norm == norm].iloc[0], sig[sig.norm == norm].iloc[-1]
            ratio = {ly: small_r[f"grad:{ly}"] / sound[f"grad:{ly}"] for ly in convs}
            moved = {ly: small_r[f"dist:{ly}"] for ly in convs}
            most = max(moved, key=moved.get)
            bits.append(f"{SAID[norm]}'s conv gradients at batch {small_r.batch_size} are {_span(ratio.values())} × "
                        f"batch {sound.batch_size}'s and its conv weights moved {_span(moved.values())} × their "
                        f"starting norm, most at {most} (batch {sound.batch_size}: "
                        f"{_span(sound[f'dist:{ly}'] for ly in convs)})")
        out.append("- **Where learning stops** (the per-layer signals, means of the seeds, no interval): "
                   + "; ".join(bits) + ". A layer followed by BN computes the same whatever its weights' scale, so "
                   "such growth shrinks its effective step; that this is why BN does not learn is not tested here "
                   "by an intervention, and the smallest batch also takes more steps than batch 32.")
    arms = small.arms[small.arms.vs_bn_diff.notna()] if not small.arms.empty else small.arms
    if not arms.empty:
        at = arms[arms.batch_size == arms.batch_size.min()]
        out.append("- **What one change to BN recovers** (exploratory arms, designed after BN's batch-2 result was "
                   "seen): " + "; ".join(arm_said(r) for r in at.to_dict("records")) + ".")
    if not small.costs.empty:
        out.append("- **What the batch costs beyond the fifth stage's statistic** (each arm of BN and each norm at "
                   "the larger image size, batch 32 minus its smallest, Welch, one family; the smallest batch also "
                   "takes more steps): "
                   + "; ".join(
                       f"{_name(r['what'], r['image_size'])} "
                       f"{estimate(r['diff'], r['low'], r['high'])}{', shown' if r['shown'] else ', not shown'}"
                       for r in small.costs.to_dict("records")) + ".")
    return "\n".join(out)
