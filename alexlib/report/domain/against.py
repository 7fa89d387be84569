"""A rerun checked against the committed study: the same configurations and seeds on another machine (or the
same one), cell by cell, paired on the seed; whether each cell agrees within what numerical noise can move it;
whether every verdict is the same; and the two environments side by side.

Why a margin and not identity: another CPU or GPU sums floats in another order, and training amplifies that to
about a new seed's spread (docs/PERFORMANCE.md measures it). So a rerun of n seeds of a cell has a mean paired
difference of sd about sigma * sqrt(2 / n), sigma the committed study's pooled seed-to-seed sd; a cell *differs*
when its difference exceeds z of that, z the two-sided Bonferroni quantile at 0.05 over the cells compared (so a
rerun whose noise is no larger than a new seed's calls no cell of the study different, 95 % of the time), and
*agrees* otherwise. The margin is fixed by the committed records alone, before the rerun's numbers are read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy import stats

from ...vocab import ALIKE, PROTOCOL
from ..inference.stats import planning_sd
from ..inference.verdicts import AGAINST, NOT_REPRODUCED, REPRODUCED, RULED_OUT, SHOWN
from .records import ENVIRONMENT, env_values

CELL = ["design", *ALIKE]   # a cell: one design's runs alike but for their seed
ENV = ("device_name", "cpu_capability", "cpu_threads", "precision", "torch", "blas", "onednn", "kernel_env",
       "git_commit")   # what the rerun check lists of both environments


class AgainstError(ValueError):
    """A rerun that cannot be compared with the committed study (no configuration in common)."""


@dataclass(frozen=True)
class Against:
    cells: pd.DataFrame            # per cell: here, committed, paired difference, interval, margin, decision
    sigma: float                   # the committed study's pooled seed-to-seed sd (points)
    z: float                       # the quantile the margin takes
    verdicts: list[dict[str, Any]]  # claims whose verdict or parts' outcomes differ ([] when all the same)
    compared: list[str]            # the claims both studies could test (a rerun of some cells tests fewer)
    environments: pd.DataFrame     # field, here, committed
    not_comparable: list[str]      # cells here that the committed study has no run of (another protocol)

    def summary(self) -> dict[str, Any]:
        c = self.cells
        return {"cells": len(c), "agree": int((c.decision == "agrees").sum()),
                "differ": int((c.decision == "differs").sum()), "sigma": self.sigma, "z": self.z,
                "largest_difference": float(c["diff"].abs().max()) if len(c) else math.nan,
                "verdicts_same": not self.verdicts, "verdict_changes": self.verdicts,
                "verdicts_contradict": [v["claim"] for v in self.verdicts if v["contradicts"]],
                "claims_compared": self.compared,
                "not_comparable": self.not_comparable, "per_cell": c.to_dict(orient="records")}


def compare(here: pd.DataFrame, committed: pd.DataFrame, claims_here, claims_committed) -> Against:
    """Cell by cell, paired on the run (same configuration and seed), completed runs only."""
    a, b = here[here.status == "completed"], committed[committed.status == "completed"]
    shared = sorted(set(a.run_id) & set(b.run_id))
    if not shared:
        raise AgainstError("the rerun shares no configuration with the committed study: "
                           + (_protocol_diff(here, committed) or "no run id in common") + "; not comparable")
    groups = [g.test_acc.to_numpy() for _, g in b.groupby(CELL) if len(g) >= 2]
    sigma = planning_sd(groups) if groups else math.nan   # the seed-to-seed sd over the committed cells: a scale
    both = a.set_index("run_id").loc[shared]
    then = b.set_index("run_id").loc[shared]
    keys = both[CELL].apply(tuple, axis=1)
    z = float(stats.norm.isf(0.05 / (2 * max(1, keys.nunique()))))
    rows = []
    for key, ids in keys.groupby(keys).groups.items():
        d = both.loc[ids, "test_acc"].to_numpy() - then.loc[ids, "test_acc"].to_numpy()
        n = len(d)
        half = float(stats.t.isf(0.025, n - 1) * d.std(ddof=1) / math.sqrt(n)) if n >= 2 and d.std() > 0 else math.nan
        margin = z * sigma * math.sqrt(2 / n)
        rows.append({**dict(zip(CELL, key)), "seeds": n, "here": float(both.loc[ids, "test_acc"].mean()),
                     "committed": float(then.loc[ids, "test_acc"].mean()), "diff": float(d.mean()),
                     "ci_low": float(d.mean()) - half, "ci_high": float(d.mean()) + half,
                     "identical": int((d == 0).sum()), "margin": margin,
                     "decision": "differs" if abs(d.mean()) > margin else "agrees"})
    here_cells = set(a[CELL].apply(tuple, axis=1)) - set(keys)
    return Against(pd.DataFrame(rows), sigma, z, verdict_changes(claims_here, claims_committed),
                   [c.id for c in claims_here if comparable_claims(c, {o.id: o for o in claims_committed}.get(c.id))],
                   environments(here, committed),
                   [" ".join(map(str, c)) for c in sorted(here_cells, key=str)])


def _protocol_diff(here: pd.DataFrame, committed: pd.DataFrame) -> str:
    out = []
    for k in list(PROTOCOL) + ["lr", "epochs"]:
        x, y = sorted(map(str, set(here[k]))), sorted(map(str, set(committed[k])))
        if x != y:
            out.append(f"{k} {'/'.join(x)} here, {'/'.join(y)} there")
    return "; ".join(out)


def verdict_changes(claims_here, claims_committed) -> list[dict[str, Any]]:
    """Claims whose verdict, or any part's outcome, differs between the two studies; a claim the rerun cannot test
    (it reran only some cells) is not compared. A change *contradicts* when one study found what the other found
    against (reproduced / not reproduced; a part shown / shown against or its size ruled out); a claim decided in
    one and open in the other (fewer seeds, or a result near its boundary) does not."""
    then = {c.id: c for c in claims_committed}
    out = []
    for c in claims_here:
        o = then.get(c.id)
        if not comparable_claims(c, o):
            continue
        theirs = {q.key: q for q in o.parts}
        parts = [(p.what, theirs[p.key].outcome, p.outcome) for p in c.parts if p.outcome != theirs[p.key].outcome]
        if c.verdict != o.verdict or parts:
            out.append({"claim": c.id, "committed": o.verdict, "here": c.verdict,
                        "parts": [{"part": w, "committed": x, "here": y} for w, x, y in parts],
                        "contradicts": contradicts(o.verdict, c.verdict) or any(contradicts(x, y) for _, x, y in parts)})
    return out


def contradicts(a: str, b: str) -> bool:
    """A verdict or part outcome against another: one found, the other found against (open contradicts nothing)."""
    return {a, b} == {REPRODUCED, NOT_REPRODUCED} or (SHOWN in (a, b) and bool({a, b} & {AGAINST, RULED_OUT}))


def testable(c) -> bool:
    return c.verdict != "not testable" and not any(p.outcome == "not testable" for p in c.parts)


def comparable_claims(c, o) -> bool:
    """Both studies tested the claim, on the same parts (a rerun of fewer batch sizes has other parts)."""
    return o is not None and testable(c) and testable(o) and {p.key for p in c.parts} == {q.key for q in o.parts}


def environments(here: pd.DataFrame, committed: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{"": name, "here": env_values(here, col), "committed": env_values(committed, col)}
                         for col, name in ENVIRONMENT.items() if col in ENV]).set_index("")
