"""The report's tables: the DataFrames the summary notebook shows, formatted from the cells, the analysis
and the claims (numbers to strings, long to wide, norm names for norm keys). Nothing here computes a
statistic.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..vocab import DESIGNS, NORM_NAMES, NORMS, REFERENCE_LR, SHORT_NAMES, STATUS_RANK, fmt_p
from .runs import PROVENANCE
from .stats import Comparison
from .verdicts import Claim, power_rows

NB = "\u00a0"  # a no-break space: keeps "[a, b]" on one line in the PDF


def common_n(cells: pd.DataFrame) -> int | None:
    """The completed seeds every cell has, when they all have the same and none lost a seed (then the table
    says n once, in its header), else None (each cell says its own)."""
    if cells.empty:
        return None
    lost = sum(cells[f"n_{s}"].fillna(0).sum() for s in STATUS_RANK if s != "completed" and f"n_{s}" in cells)
    ns = set(cells.n_completed.astype(int))
    mixed = cells["mixed"].astype(bool).any() if "mixed" in cells else False
    return ns.pop() if len(ns) == 1 and not lost and not mixed and 0 not in ns else None


def fmt_cell(r, n: int | None = None) -> str:
    """A cell as ``mean ± sd``, followed by ``(n=…; lost seeds; mixed devices)`` unless its n is the table's
    common ``n`` (said in the header); a dash when no seed completed. No-break spaces: one line per number."""
    lost = [f"{int(r[f'n_{s}'])} {s}" for s in STATUS_RANK if s != "completed" and r.get(f"n_{s}")]
    tail = ("; " + ", ".join(lost)) if lost else ""
    if r.get("mixed"):
        tail += f"; mixed {r['mixed']}"
    if r["n_completed"] == 0:
        return f"—{NB}(n=0{tail})"
    sd = "" if math.isnan(r["std"]) else f"{NB}±{NB}{r['std']:.2f}"
    own = "" if n is not None and r["n_completed"] == n and not tail else f" (n={int(r['n_completed'])}{tail})"
    return f"{r['mean']:.2f}{sd}{own}"


def ours_label(n: int | None) -> str:
    return f"ours (n={n})" if n is not None else "ours (n per cell)"


def accuracy_table(cells: pd.DataFrame, comparable: bool) -> pd.DataFrame:
    """Norms down, batch size x (ours, the report's, their difference where comparable) across."""
    c = cells
    if c.empty:
        return pd.DataFrame({"note": [f"no runs at lr {REFERENCE_LR}"]})
    n = common_n(c)
    c = c.assign(ours=c.apply(fmt_cell, axis=1, n=n),
                 report_s=c.report.map(lambda v: "" if math.isnan(v) else f"{v:.2f}"),
                 diff_s=c["diff"].map(lambda v: "" if math.isnan(v) else f"{v:+.2f}"))
    values = ["ours", "report_s"] + (["diff_s"] if comparable else [])
    wide = c.pivot(index="norm", columns="batch_size", values=values)
    names = {"ours": ours_label(n), "report_s": "report" if comparable else "report*", "diff_s": "diff"}
    wide = wide.rename(columns=names, level=0)
    wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0, sort_remaining=False)
    wide.index = [NORM_NAMES.get(n, n) for n in wide.index]
    wide.columns.names = ["batch size", ""]
    return wide


MUTED = {"color": "#767676"}   # the report's single run: shown, but not what the eye lands on first


def muted(table: pd.DataFrame, columns: tuple[str, ...] = ("report", "report*")):
    """A pandas Styler of ``table`` with the report's columns in grey (HTML and PDF)."""
    cols = [c for c in table.columns if (c[-1] if isinstance(c, tuple) else c) in columns]
    st = table.style.set_uuid("muted")   # fixed ids: the same runs give the same HTML (nbval, report digests)
    return st.set_properties(subset=cols, **MUTED) if cols else st


def as_shown(table: pd.DataFrame):
    """A table as the report shows it: a one-cell table that only says there is nothing to tabulate (a "note"
    or "status" column) as a line of text."""
    if len(table) == 1 and list(table.columns) in (["note"], ["status"]):
        from IPython.display import Markdown
        return Markdown(f"*{table.iloc[0, 0]}*")
    return table


def significance_table(comparisons: list[Comparison]) -> pd.DataFrame:
    """Every pair of norms at every batch size: the difference in mean test accuracy (points), its interval at
    the level of its decision (Holm over the table), and whether it is shown at family-wise alpha 0.05. Narrow
    enough for the PDF's page: short norm names, the method in ``significance_note`` when it is one for all."""
    if not comparisons:
        return pd.DataFrame({"note": ["needs 2+ norms with 2+ completed seeds at a batch size"]})
    rows = [{"batch": c.batch_size, "difference": f"{SHORT_NAMES[c.a]}{NB}−{NB}{SHORT_NAMES[c.b]}",
             "points": f"{c.diff:+.2f}",
             "interval": "" if math.isnan(c.ci_low) else f"[{c.ci_low:+.1f},{NB}{c.ci_high:+.1f}]",
             "level": f"{100 * c.level:.2f} %".replace(".00 %", " %"),
             "p (Holm)": fmt_p(c.p), "shown?": {True: "yes", False: "not shown", None: "n/a"}[c.shown],
             "seeds": c.n, "method": c.method} for c in comparisons]
    t = pd.DataFrame(rows).set_index(["batch", "difference"])
    return t.drop(columns="method") if t.method.nunique() == 1 else t


def lr_table(sweep_cells: pd.DataFrame, comparable: bool) -> pd.DataFrame:
    """One row per lr of the sweep, beside the report's value and, where comparable, the difference."""
    if sweep_cells.empty:
        return pd.DataFrame({"note": ["no runs with norm none, batch 64 in this folder"]})
    t = sweep_cells.set_index("lr")
    if comparable:
        t["diff"] = t["mean"] - t["report"]
    else:
        t = t.rename(columns={"report": "report*"})
    return t.round(2)


def designs_table(design_cells: pd.DataFrame, designs: list[str]) -> pd.DataFrame:
    """Design x batch size down (with its epochs and lr), norms across: the designs one above the other,
    narrow enough for the page."""
    c = design_cells
    if len(designs) < 2:
        return pd.DataFrame({"note": ["only the report's design (fixed epochs and lr) in these runs: add the "
                                      "equal_steps / lr_scaled arms (params/fashion.yaml, params/paper_steps.yaml)"]})
    n = common_n(c)
    c = c.assign(cell=c.apply(fmt_cell, axis=1, n=n),
                 design_name=c.design.map(DESIGN_SHORT),
                 col=c.apply(lambda r: f"{r.batch_size} ({r.epochs} ep, lr {r.lr:g})", axis=1))
    order = [DESIGN_SHORT[k] for k in designs]
    wide = c.pivot_table(index=["design_name", "col"], columns="norm", values="cell", aggfunc="first")
    rows = sorted(wide.index, key=lambda k: (order.index(k[0]), int(k[1].split(" ")[0])))
    wide = wide.loc[rows, sorted(wide.columns, key=NORMS.index)].fillna("")
    wide.columns = [SHORT_NAMES.get(k, k) for k in wide.columns]
    wide.index.names = ["design", "batch size"]
    wide.columns.name = f"mean ± sd, n={n}" if n is not None else "mean ± sd (n)"
    return wide


def batch_effect_table(batch_effects: list[dict[str, Any]]) -> pd.DataFrame:
    """Per norm and design: the batch-size effect, its interval at its decision's level, its Holm p, and how
    equalizing steps (or lr) changed it, tested as a change."""
    rows = sorted(batch_effects, key=lambda r: (NORMS.index(r["norm"]), list(DESIGNS).index(r["design"])))
    if not rows:
        return pd.DataFrame({"note": ["needs a design with batch 64 and a smaller batch size"]})

    def ci(lo, hi):
        return "" if lo != lo else f"[{lo:+.1f},{NB}{hi:+.1f}]"
    t = pd.DataFrame([{
        "norm": SHORT_NAMES[r["norm"]], "design": DESIGN_SHORT[r["design"]],
        f"{r['large']} − {r['small']} [interval]": "" if math.isnan(r["effect"]) else
        f"{r['effect']:+.2f}{NB}{ci(r['ci_low'], r['ci_high'])}",
        "p": fmt_p(r["p"]), "shown?": {True: "yes", False: "no", None: "n/a"}[r["shown"]],
        "change [interval]": "" if "change" not in r else f"{r['change']:+.2f}{NB}{ci(r['change_low'], r['change_high'])}",
        "p ": "" if "change" not in r else fmt_p(r["change_p"]),
        "change shown": CHANGE_SHORT.get(r["verdict"], r["verdict"])} for r in rows])
    t = t.groupby(["norm", "design"], sort=False).first()
    return t[[c for c in t.columns if (t[c] != "").any()]]   # the change columns only where a design equalizes


CHANGE_SHORT = {"larger when equalized": "larger", "smaller when equalized": "smaller", "reverses": "reverses",
                "no change shown": "no", "not testable": "n/a"}
DESIGN_SHORT = {"fixed": "report's", "equal_steps": "equal steps", "lr_scaled": "lr scaled"}


def environment_table(runs: pd.DataFrame) -> pd.DataFrame:
    """What the runs ran on: each provenance field's values, with the number of runs behind each."""
    fields = ["device_name", "precision", "torch", *[k.replace("-", "_") for k in PROVENANCE], "data_origin"]
    rows = []
    for f in fields:
        if f not in runs:
            continue
        counts = runs[f].astype(str).replace({"?": "not recorded", "nan": "not recorded"}).value_counts()
        rows.append({"field": f.replace("_", " "), "value (runs)": "; ".join(
            f"{v} ({k})" if len(counts) > 1 else f"{v}" for v, k in counts.items())})
    return pd.DataFrame(rows).set_index("field")


def power_table(claims: list[Claim]) -> pd.DataFrame:
    """Per undecided claim: the smallest difference its seeds could show, and the seeds 1 and 2 points need."""
    rows = power_rows(claims)
    if not rows:
        return pd.DataFrame({"note": ["every claim is decided (or not testable) at these seeds"]})

    def seeds(n):
        return "more than 1,000" if n is None else f"{n}"
    return pd.DataFrame([{"claim": r["claim"], "weakest part": r["weakest part"],
                          "could show (points)": f"{r['detectable (80 % power)']:.2f}",
                          "seeds for 2 points": seeds(r["seeds for 2 points"]),
                          "seeds for 1 point": seeds(r["seeds for 1 point"])} for r in rows]).set_index("claim")


def time_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Training seconds (evaluation excluded) and throughput per design, norm and batch size, and in all."""
    d = runs[runs.epochs_done > 0]
    d = d.assign(design=d.design.map(lambda k: DESIGNS[k][0] if k in DESIGNS else k.replace("_", " ")))
    t = d.groupby(["design", "norm", "batch_size"]).agg(
        runs=("run_id", "count"), train_s_mean=("train_seconds", "mean"), img_per_s=("images_per_s", "mean"))
    t.loc[("all", "all", "all"), :] = [len(d), d.train_seconds.sum(), d.images_per_s.mean()]
    t = t.rename(columns={"train_s_mean": "train s/run", "img_per_s": "train img/s"})
    return t.round(1)


def problems_table(runs: pd.DataFrame, problems: list[dict[str, str]]) -> pd.DataFrame:
    """Every run that did not complete, with why, and every file that could not be read."""
    bad = runs[runs.status != "completed"]
    def short(text: str, n: int = 90) -> str:   # one line on the page; the whole message is in results.csv
        text = " ".join(str(text).split())
        return text if len(text) <= n else text[:n - 1] + "…"
    rows = [{"run": r.run_id, "status": r.status, "detail": short(r.diverged_at or r.error or (
                 "(interrupted: the same command resumes it)" if r.status == "interrupted" else "(still running)")),
             "epochs done": r.epochs_done} for r in bad.itertuples()]
    rows += [{"run": p["file"], "status": "unreadable", "detail": p["problem"], "epochs done": 0}
             for p in problems]
    return pd.DataFrame(rows) if rows else pd.DataFrame({"status": ["every run completed; every file was readable"]})
