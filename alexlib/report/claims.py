"""The report's conclusions judged on the runs at hand: the runs table turned into the plain evidence that
``alexlib.verdicts`` judges (the report's design's completed runs, their first epochs, the seeds that
diverged, the lr sweep, the test set's resolution), and what the report's own numbers say about themselves.

Reads the runs table handed to it; never the summary.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .cells import seed_table
from .runs import comparable, main_grid, sweep, test_resolution
from .verdicts import Claim, Evidence
from .verdicts import report_claims as judge


def evidence(runs: pd.DataFrame) -> Evidence:
    """What the claims are judged on, from the runs table (designs assigned)."""
    every = main_grid(runs, only_completed=False)
    done = every[every.status == "completed"]
    diverged: dict[str, dict[int, list[int]]] = {}
    for r in every[every.status == "diverged"].itertuples():
        diverged.setdefault(r.norm, {}).setdefault(int(r.batch_size), []).append(int(r.seed))
    s = sweep(runs)
    s = s[s.status == "completed"]
    lr_cells: dict[float, dict[int, float]] = {}
    for r in s.itertuples():
        lr_cells.setdefault(float(r.lr), {})[int(r.seed)] = float(r.test_acc)
    return Evidence(final=seed_table(done, lambda r: r.test_acc),
                    first=seed_table(done, lambda r: r.curve[0] if r.curve else None),
                    diverged=diverged, sweep=lr_cells, res=test_resolution(runs))


def report_claims(runs: pd.DataFrame, protocol: dict[str, Any]) -> list[Claim]:
    """The six claims judged on ``runs``; ``protocol`` is what the runs share (``alexlib.runs.protocol``)."""
    return judge(evidence(runs), judged_on(runs, protocol))


def judged_on(runs: pd.DataFrame, protocol: dict[str, Any]) -> str:
    """The data, size, epochs and seeds the verdicts rest on, and whether the report's numbers compare."""
    p = protocol
    where = (f"{p['dataset']}, {p['image_size']} px, width {p['width']:g}, {p['epochs']} epochs, "
             f"seeds {', '.join(map(str, sorted(set(int(s) for s in runs.seed))))}")
    if comparable(protocol):
        return f"{where}: the report's protocol, so the claim's numbers can be compared as well as its direction"
    return f"{where}: not the report's CIFAR-10 protocol, so this tests the claim's direction, not its number"


def report_self_check(reference: dict[str, Any]) -> list[str]:
    """What the report's own numbers say about its text: computed from params/reference.yaml."""
    t, sweep_ref = reference["table"], reference["sweep"]
    out = []
    gn8, bn8, ln8 = t.get(("gn", 8)), t.get(("bn", 8)), t.get(("ln", 8))
    if None not in (gn8, bn8, ln8):
        rel = "higher" if gn8 > max(bn8, ln8) else "lower" if gn8 < min(bn8, ln8) else "between"
        out.append(f"At batch 8 the report's GN ({gn8:.2f} %) is {rel} than its BN ({bn8:.2f}) and LN ({ln8:.2f}), "
                   f"while its text says GN is slightly below the other methods there (claim 5).")
    twice = t.get(("none", 64)), sweep_ref.get(0.005)
    if None not in twice:
        out.append(f"The same configuration (no normalization, batch 64, lr 0.005) appears twice in the report, "
                   f"{twice[0]:.2f} % in its table and {twice[1]:.2f} % in its lr sweep: {abs(twice[0] - twice[1]):.2f} "
                   f"points apart, a free estimate of its run-to-run noise, from one pair.")
    return out
