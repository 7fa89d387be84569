"""The report's tables: the DataFrames the summary notebook shows, formatted from the cells, the analysis and
the claims (numbers to strings, long to wide, one short name per norm, headers in words). Nothing here computes
a statistic: every interval is printed with the level its decision used.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ...train.net.norms import NORMS, SHORT_NAMES
from ...vocab import ALPHA, BEYOND_LIMIT, DESIGNS, STATUS_RANK
from ..domain.learning import CHANCE_BAND, NEAR_CHANCE, STILL, STILL_LEARNING
from ..domain.records import ENVIRONMENT, env_values
from ..inference.planner import run_cell
from ..inference.stats import unbounded
from ..inference.verdicts import Claim, Part

# a norm as prose names it: 'no norm at batch 2' where a table's column says 'none'
SAID = {**SHORT_NAMES, "none": "no norm"}

NB = "\u00a0"  # a no-break space: keeps "[a, b]" on one line in the PDF
FLAG_MARKS = {NEAR_CHANCE: "‡", STILL: "†"}
FLAG_RULES = (f"‡: {NEAR_CHANCE} (below chance + {CHANCE_BAND:g} points); †: {STILL} (the last epoch added more "
              f"than {STILL_LEARNING:g} points).")
DESIGN_SHORT = {"fixed": "report's", "equal_steps": "equal steps", "lr_scaled": "lr scaled"}
CHANGE_SHORT = {"larger when equalized": "larger", "smaller when equalized": "smaller", "reverses": "reverses",
                "no change shown": "no", "not testable": "n/a"}


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


def marks(flags: list[str]) -> str:
    return "".join(FLAG_MARKS[f] for f in flags if f in FLAG_MARKS)


def interval(lo: float, hi: float, level: float | None = None) -> str:
    """``[lo, hi]``: every interval of a report holds at the one level its page 1 states (``LEVEL_TEXT``), so none
    prints its own; one that reaches the bounds of the measure (±100 points) says its seeds cannot bound it."""
    if lo != lo:
        return ""
    if unbounded(lo, hi):
        return "too few seeds to bound it"
    return f"[{lo:+.1f},{NB}{hi:+.1f}]"


def estimate(est: float, lo: float, hi: float, unit: str = "") -> str:
    """A difference with its interval, ``+3.2 [+1.0, +5.4]``; where the seeds cannot bound it, the words in
    parentheses, so that a sentence reads on after it (``unit``: e.g. " points", put after the number)."""
    iv = interval(lo, hi)
    return f"{est:+.1f}{unit} " + (f"({iv})" if unbounded(lo, hi) else iv)


def part_estimate(p: Part, unit: str = "") -> str:
    """A claim's part as its estimate and interval (``estimate``); empty for a part with no interval."""
    iv = p.interval
    return "" if iv is None else estimate(iv.estimate, iv.low, iv.high, unit)


LEVEL_TEXT = (f"Every interval is {100 * (1 - ALPHA):g}{NB}%, simultaneous over its family (a claim's parts, a "
              "table's rows: Bonferroni; a part's two looks: O'Brien–Fleming)")


def level_text(level: float) -> str:
    """A confidence level in percent with the digits that keep it below 100 (99.99 %, not 100 %)."""
    d = 1
    while round(100 * level, d) >= 100 and d < 5:
        d += 1
    return f"{100 * level:.{d}f}".rstrip("0").rstrip(".") + f"{NB}%"


def p_text(p: float) -> str:
    """A p value with the digits a small threshold needs (2.1e-04, not <0.001)."""
    return "n/a" if p != p else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def accuracy_table(cells: pd.DataFrame, comparable: bool, flags: dict[tuple[str, int], list[str]]) -> pd.DataFrame:
    """One block of rows per norm, batch sizes across (so the table fits a page): this study's cell, the report's
    number beneath it, and their difference where the protocols compare; a cell flagged near chance (‡) or still
    learning (†) carries its mark."""
    c = cells
    if c.empty:
        return pd.DataFrame({"note": ["no runs of the report's design"]})
    n = common_n(c)
    c = c.assign(ours=[fmt_cell(r, n) + marks(flags.get((r["norm"], int(r["batch_size"])), []))
                       for _, r in c.iterrows()],
                 report_s=c.report.map(lambda v: "" if math.isnan(v) else f"{v:.2f}"),
                 diff_s=c["diff"].map(lambda v: "" if math.isnan(v) else f"{v:+.2f}"))
    names = {"ours": f"here (n={n})" if n is not None else "here (n per cell)",
             "report_s": "report" if comparable else "report*", "diff_s": "diff"}
    rows = ["ours", "report_s"] + (["diff_s"] if comparable else [])
    long = c.melt(id_vars=["norm", "batch_size"], value_vars=rows, var_name="row")
    long = long[(long.row == "ours") | long.groupby(["norm", "row"]).value.transform(lambda v: (v != "").any())]
    order = {nm: i for i, nm in enumerate(NORMS)}
    wide = long.pivot(index=["norm", "row"], columns="batch_size", values="value").fillna("")
    wide = wide.sort_index(key=lambda ix: ix.map(lambda v: order.get(v, len(order)) if ix.name == "norm"
                                                else rows.index(v)))
    wide.index = pd.MultiIndex.from_tuples([(SHORT_NAMES.get(a, a), names[b]) for a, b in wide.index],
                                           names=["norm", ""])
    wide.columns.name = "batch size"
    return wide


MUTED = {"color": "#767676"}   # the report's single run: shown, but not what the eye lands on first


def muted(table: pd.DataFrame, columns: tuple[str, ...] = ("report", "report*")):
    """A pandas Styler of ``table`` with the report's rows (or columns) in grey (HTML and PDF)."""
    st = table.style.set_uuid("muted")   # fixed ids: the same runs give the same HTML (nbval, report digests)
    if isinstance(table.index, pd.MultiIndex):
        rows = [r for r in table.index if r[-1] in columns]
        return st.set_properties(subset=pd.IndexSlice[rows, :], **MUTED) if rows else st
    cols = [c for c in table.columns if (c[-1] if isinstance(c, tuple) else c) in columns]
    return st.set_properties(subset=cols, **MUTED) if cols else st


def wide_html(table: pd.DataFrame, widths: list[int]) -> str:
    """A table whose cells are sentences, as HTML that wraps them: the index and each column at ``widths``
    percent of the page, left-aligned, ``**bold**`` kept bold."""
    import html
    import re
    cols = [table.index.name or "", *table.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)

    def cell(v) -> str:
        return "<td>" + re.sub(r"[*][*](.+?)[*][*]", r"<b>\1</b>", html.escape(str(v))) + "</td>"
    body = "".join("<tr>" + "".join(cell(v) for v in (i, *row)) + "</tr>" for i, row in zip(table.index, table.values))
    group = "".join(f'<col style="width: {w}%">' for w in widths)
    return f'<table class="wide"><colgroup>{group}</colgroup><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def is_table(table: pd.DataFrame) -> bool:
    """Whether the report shows ``table`` as a table (not as its one-line note: ``as_shown``)."""
    return not (len(table) == 1 and list(table.columns) in (["note"], ["status"]))


def as_shown(table: pd.DataFrame):
    """A table as the report shows it: a one-cell table that only says there is nothing to tabulate (a "note"
    or "status" column) as a line of text."""
    if not is_table(table):
        from IPython.display import Markdown
        return Markdown(f"*{table.iloc[0, 0]}*")
    return table


def part_rows(parts: list[Part]) -> pd.DataFrame:
    """One claim's parts: the difference (the claimed direction and size), its interval and level, the p the
    decision used against what it had to be below, and the outcome with the stage that reached it."""
    rows = []
    for p in parts:
        iv = p.interval
        rows.append({"part": p.what, "claimed": p.claimed().replace(" ", NB),
                     "here": "" if iv is None or iv.estimate != iv.estimate else f"{iv.estimate:+.2f}",
                     "interval": "" if iv is None else interval(iv.low, iv.high, iv.level),
                     "p (needed)": "" if p.p != p.p else f"{p_text(p.p)} (<{NB}{p_text(p.needed)})",
                     "outcome": p.outcome + (f", stage {p.stage}" if p.stage == 2 else "")
                     + (" (blocked: seeds lost)" if p.blocked and p.outcome == "open" else "")})
    if not rows:   # a claim whose cells these runs do not hold (a study in progress): said, not an empty table
        rows.append({"part": "none yet: these runs hold none of the cells it compares", "claimed": "", "here": "",
                     "interval": "", "p (needed)": "", "outcome": "not testable"})
    return pd.DataFrame(rows).set_index("part")


def lr_table(sweep_cells: pd.DataFrame, comparable: bool, flags: dict[float, list[str]]) -> pd.DataFrame:
    """One row per lr of the sweep: here (mean ± sd, n), the report's value."""
    if sweep_cells.empty:
        return pd.DataFrame({"note": ["no runs without normalization at batch 64 here"]})
    rows = [{"lr": f"{r.lr:g}", "here": f"{r.mean:.2f}{NB}±{NB}{r.sd:.2f} (n={r.n_completed})" + marks(flags.get(r.lr, [])),
             "report" if comparable else "report*": f"{r.report:.2f}" if r.report == r.report else ""}
            for r in sweep_cells.itertuples()]
    return pd.DataFrame(rows).set_index("lr")


def batch_effect_table(batch_effects: list[dict[str, Any]]) -> pd.DataFrame:
    """Per norm and design: batch 64 − the smallest batch, its interval and level, whether shown, and how
    equalizing steps (or lr) changed it, tested as a change."""
    rows = sorted(batch_effects, key=lambda r: (NORMS.index(r["norm"]), list(DESIGNS).index(r["design"])))
    if not rows:
        return pd.DataFrame({"note": ["needs a design with batch 64 and a smaller batch size"]})
    t = pd.DataFrame([{
        "norm": SHORT_NAMES[r["norm"]], "design": DESIGN_SHORT[r["design"]],
        f"batch {r['large']} − {r['small']}": "" if math.isnan(r["effect"]) else f"{r['effect']:+.2f}",
        "interval": interval(r["ci_low"], r["ci_high"], r.get("level")),
        "shown?": {True: "yes", False: "no", None: "n/a"}[r["shown"]] + (f" ({r['decided_in']})" if r.get("decided_in") else ""),
        "change": "" if "change" not in r else f"{r['change']:+.2f}",
        "change interval": "" if "change" not in r else interval(r["change_low"], r["change_high"], r["change_level"]),
        "change shown": CHANGE_SHORT.get(r["verdict"], r["verdict"])} for r in rows])
    t = t.groupby(["norm", "design"], sort=False).first()
    return t[[c for c in t.columns if (t[c] != "").any()]]


def convergence_table(conv: pd.DataFrame) -> pd.DataFrame:
    """Batch sizes across; down, per norm: test accuracy after the first epoch, then the epochs and the SGD steps
    a seed took to reach the threshold (mean ± sd over the seeds that reached it; 'k of n reached it' beside)."""
    if conv.empty:
        return pd.DataFrame({"note": ["no completed runs of the report's design"]})
    target = conv.threshold.iloc[0]

    def pm(m, sd, fmt):
        return "" if m != m else fmt(m) + ("" if sd != sd else f"{NB}±{NB}{fmt(sd)}")

    def never(r):
        return "" if r.reached == r.seeds else f" ({r.reached} of {r.seeds} reached it)"   # one form, reached or not
    rows = []
    for r in conv.itertuples():
        steps_sd = r.epochs_sd * r.steps_mean / r.epochs_mean if r.reached and r.epochs_sd == r.epochs_sd else float("nan")
        rows += [("after epoch 1 (%)", r.norm, r.batch_size, pm(r.first_mean, r.first_sd, lambda v: f"{v:.1f}")),
                 (f"epochs to {target:g} %", r.norm, r.batch_size,
                  f"never (0 of {r.seeds} reached it)" if not r.reached else pm(r.epochs_mean, r.epochs_sd, lambda v: f"{v:.1f}") + never(r)),
                 (f"SGD steps to {target:g} %", r.norm, r.batch_size,
                  "" if not r.reached else pm(r.steps_mean, steps_sd, lambda v: f"{v:,.0f}"))]
    t = pd.DataFrame(rows, columns=["measure", "norm", "batch", "v"])
    wide = t.pivot_table(index=["measure", "norm"], columns="batch", values="v", aggfunc="first").fillna("")
    order = [m for m in dict.fromkeys(t.measure)]
    wide = wide.reindex(sorted(wide.index, key=lambda k: (order.index(k[0]), NORMS.index(k[1]))))
    wide.index = wide.index.set_levels([wide.index.levels[0], [SHORT_NAMES[n] for n in wide.index.levels[1]]])
    wide.index.names = ["", ""]
    wide.columns.name = "batch size"
    return wide


def environment_table(runs: pd.DataFrame) -> pd.DataFrame:
    """What the runs ran on: each provenance field's values, with the number of runs behind each."""
    return pd.DataFrame([{"": name, "value (runs)": env_values(runs, col)} for col, name in ENVIRONMENT.items()
                         if col in runs]).set_index("")


def plan_table(claims: list[Claim], near_chance: set = frozenset(), grown: set = frozenset()) -> pd.DataFrame:
    """Per claim with open parts: how many, the size they are to be decided at, and the seeds per cell a second
    stage would need to decide each (vocab.POWER at that size, given the first look); parts whose cells are all
    ``near_chance`` are counted apart (more training, not more seeds, would decide them), and so are parts that
    took both looks or read a cell a stage already ``grown`` (a cell is grown once)."""
    grown = set(grown) | {run_cell(cell) for cell in grown}   # the sweep's lr 0.005 is none at batch 64
    rows = []
    for c in claims:
        open_ = [p for p in c.parts if p.outcome == "open"]
        if not open_:
            continue
        total = len(open_)
        stuck = [p for p in open_ if p.cells and all(cell in near_chance for cell in p.cells)]
        spent = [p for p in open_ if p not in stuck and (p.stage2 is not None or any(
            run_cell(cell) in grown or cell in grown for cell in p.cells))]   # both looks taken, or a grown cell
        open_ = [p for p in open_ if p not in stuck and p not in spent]
        need = [p.seeds_needed() for p in open_]
        known = [n for n in need if n is not None]
        said = [f"{min(known)}" if known and min(known) == max(known) else f"{min(known)}–{max(known)}" if known else "",
                f"{len(need) - len(known)} {BEYOND_LIMIT}" if len(known) < len(need) else "",
                f"{len(spent)} after their second look (or on a cell a stage grew): a new study" if spent else "",
                (f"{len(stuck)} near chance" if open_ or spent else "none: its cells are near chance") if stuck else ""]
        rows.append({"claim": c.id, "open parts": f"{total} of {len(c.parts)}",
                     "size to decide (points)": ", ".join(dict.fromkeys(f"{p.distance():g}" for p in open_)),
                     "seeds per cell (each part)": "; ".join(s for s in said if s)})
    if not rows:
        return pd.DataFrame({"note": ["no part of a claim is open"]})
    return pd.DataFrame(rows).set_index("claim")


def time_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Training seconds per run (mean; evaluation excluded), norms down and batch sizes across, the report's
    design; the other designs and the total on one line below it."""
    d = runs[runs.epochs_done > 0]
    fixed = d[d.design == "fixed"]
    t = fixed.pivot_table(index="norm", columns="batch_size", values="train_seconds", aggfunc="mean").round(0)
    t = t.loc[[n for n in NORMS if n in t.index]]
    t.index = [SHORT_NAMES[n] for n in t.index]
    t.columns.name = "batch size"
    return t.map(lambda v: "" if v != v else f"{v:,.0f}{NB}s")


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
    if not rows:
        return pd.DataFrame({"status": ["every run completed; every file was readable"]}, index=pd.Index(["all"], name="run"))
    return pd.DataFrame(rows).set_index("run")   # the run names the row: no row numbers


def against_table(ag) -> pd.DataFrame:
    """The per-cell comparison as the report shows it."""
    c = ag.cells
    if c.empty:
        return pd.DataFrame({"note": ["no cell in common"]})
    rows = [{"cell": f"{r.design.replace('_', ' ')}: {SHORT_NAMES.get(r.norm, r.norm)} batch {r.batch_size}"
                     + (f" lr {r.lr:g}" if r.design == "lr_sweep" else ""),
             "seeds": r.seeds, "here": f"{r.here:.2f}", "committed": f"{r.committed:.2f}",
             "paired difference": f"{r.diff:+.2f}" + ("" if r.ci_low != r.ci_low else
                                                     f" [{r.ci_low:+.2f},{NB}{r.ci_high:+.2f}]{NB}95{NB}%"),
             "margin": f"±{r.margin:.2f}", "": r.decision} for r in c.itertuples()]
    return pd.DataFrame(rows).set_index("cell")


def reencoding_table(effect: pd.DataFrame, margin: float) -> pd.DataFrame:
    """``reencoding.reencoding_effect`` as the report shows it: per cell the original and re-encoded means, their
    difference with its interval, and what the interval says against ±``margin`` points."""
    def said(r) -> str:
        if unbounded(r.low, r.high):
            return "too few seeds to bound it"
        if r.low > 0 or r.high < 0:
            return "changed"
        if -margin <= r.low and r.high <= margin:
            return f"no change beyond ±{margin:g} points"
        return f"not told apart from 0; a change of up to {max(-r.low, r.high):.0f} points not ruled out"
    rows = [{"cell": f"{SHORT_NAMES[r.norm]}, batch {r.batch_size}", "seeds": r.seeds,
             "original": f"{r.original:.1f}", "re-encoded": f"{r.reencoded:.1f}",
             "re-encoded − original": f"{r.diff:+.1f} {interval(r.low, r.high)}", "what it says": said(r)}
            for r in effect.itertuples()]
    return pd.DataFrame(rows).set_index("cell")
