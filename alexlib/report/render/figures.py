"""The report's figures, drawn from the runs table and the cells: accuracy bars per norm and batch size,
the differences between norms with their intervals (a forest plot), the designs side by side, and learning
curves with their seed bands. Every norm has one colour in every figure (``alexlib.train.net.norms``,
colour-blind-safe).

Each returns a matplotlib ``Figure`` (not pyplot's: each is shown once, where a notebook displays it) whose
foot names the runs behind it, in red when any run is synthetic. The report's own values are drawn only
where the protocol is the report's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...train.net.norms import NORM_COLORS, NORMS, SHORT_NAMES
from ...vocab import REPORT_BATCHES
from ..domain.runs import arm, is_synthetic, main_grid
from ..inference.stats import Comparison, unbounded
from .style import PAGE_WIDTH, REPORT_COLOR
from .texts import short_label


def bar_chart(runs: pd.DataFrame, cells: pd.DataFrame, report: dict[tuple[str, int], float],
              comparable: bool, chance_acc: float = 10.0) -> Figure:
    """Test accuracy per norm at each batch size of the report's design: mean ± sd bars, a dot per run,
    n✕ where a cell lost n seeds, the chance line, and the report's single run (``report``) where comparable."""
    d = main_grid(runs).assign(norm_name=lambda x: x.norm.map(SHORT_NAMES))
    order = [SHORT_NAMES[n] for n in NORMS if n in set(cells.norm)]
    sizes = sorted(cells.batch_size.unique())
    fig = Figure(figsize=(PAGE_WIDTH, 2.6))   # what it draws: its caption (``captions``)
    ax = fig.subplots()
    if not cells.empty:
        if not d.empty:
            palette = {SHORT_NAMES[n]: NORM_COLORS[n] for n in NORMS}
            sns.barplot(data=d, x="batch_size", y="test_acc", hue="norm_name", hue_order=order, order=sizes,
                        errorbar="sd", capsize=0.1, ax=ax, palette=palette, err_kws={"linewidth": 1})
        width = 0.8 / max(1, len(order))
        first_ref, first_lost = True, True
        for i, bs in enumerate(sizes):
            for j, name in enumerate(order):
                norm = [k for k, v in SHORT_NAMES.items() if v == name][0]
                x = i - 0.4 + width * (j + 0.5)
                pts = d[(d.batch_size == bs) & (d.norm == norm)].test_acc
                ax.scatter([x] * len(pts), pts, s=9, color="black", zorder=3)
                cell = cells[(cells.batch_size == bs) & (cells.norm == norm)]
                lost = int(cell.n_diverged.sum() + cell.n_failed.sum())
                if lost:  # seeds that did not finish: marked where the bar is (or would be)
                    y = (pts.mean() if len(pts) else 0) + 1.5
                    ax.text(x, y, f"{lost}✕", ha="center", va="bottom", fontsize=7, color="crimson", zorder=4,
                            label=None)
                    if first_lost:
                        ax.plot([], [], "x", color="crimson", label="n✕: seeds diverged/failed")
                        first_lost = False
                ref = report.get((norm, int(bs)))
                if ref is not None and comparable:
                    ax.plot([x - width / 2.5, x + width / 2.5], [ref, ref], color=REPORT_COLOR, lw=2, ls=(0, (1, 1)),
                            label="report (1 run)" if first_ref else None, gid="report")
                    first_ref = False
        ax.axhline(chance_acc, color="crimson", lw=0.8, ls="--", zorder=1, label=f"chance ({chance_acc:g} %)")
        ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
        ax.legend(title="norm", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title_fontsize=8)
    ax.set(xlabel="batch size (images per SGD step)", ylabel="test accuracy (%)", ylim=(0, 100))
    return _finish(fig, runs, main_grid(runs, only_completed=False))


def accuracy_vs_batch(runs: pd.DataFrame, cells: pd.DataFrame, report: dict[tuple[str, int], float],
                      comparable: bool, chance_acc: float = 10.0, design: pd.DataFrame | None = None) -> Figure:
    """Test accuracy against batch size on a log axis, as the Group Normalization paper draws its error: a line
    per norm through the cells' means with the seeds' band (± sd) and a dot per run, the chance line, the report's
    single runs where the protocol is the report's, and the batch sizes below the report's shaded."""
    d = main_grid(runs)
    sizes = sorted(cells.batch_size.unique())
    fig = Figure(figsize=(PAGE_WIDTH, 2.4))
    ax = fig.subplots()
    norms = [n for n in NORMS if n in set(cells.norm)]
    if sizes and min(sizes) < min(REPORT_BATCHES):
        ax.axvspan(min(sizes) / 1.3, min(REPORT_BATCHES) / 1.45, color="0.93", zorder=0,
                   label="below the report's sizes")
    for i, norm in enumerate(norms):
        c = cells[(cells.norm == norm) & cells["mean"].notna()].sort_values("batch_size")
        color = NORM_COLORS[norm]
        ax.plot(c.batch_size, c["mean"], "-", marker="o", ms=3.5, lw=1.4, color=color, label=SHORT_NAMES[norm])
        ax.fill_between(c.batch_size, c["mean"] - c["std"].fillna(0), c["mean"] + c["std"].fillna(0), color=color,
                        alpha=0.15, lw=0)
        pts = d[d.norm == norm]
        offset = 2 ** ((i - (len(norms) - 1) / 2) * 0.04)   # side by side, a few percent apart on the log axis
        ax.scatter(pts.batch_size * offset, pts.test_acc, s=5, color=color, alpha=0.7, zorder=3, lw=0)
        if comparable:
            ref = [(bs, report[(norm, bs)]) for bs in sizes if (norm, bs) in report]
            if ref:
                ax.scatter(*zip(*ref), marker="_", s=60, color=REPORT_COLOR, zorder=4,
                           label="report (1 run)" if i == 0 else None)
    design = design if design is not None else cells.iloc[0:0]   # the paper's design's cells (lr ∝ batch), dotted
    design = design[design["mean"].notna()]
    for i, norm in enumerate(n for n in norms if n in set(design.norm)):
        c = design[design.norm == norm].sort_values("batch_size")
        ax.plot(c.batch_size, c["mean"], ":", marker="s", ms=3, lw=1.3, color=NORM_COLORS[norm], mfc="white",
                label="lr ∝ batch (the paper's design)" if i == 0 else None)
    ax.axhline(chance_acc, color="crimson", lw=0.8, ls="--", zorder=1, label=f"chance ({chance_acc:g} %)")
    ax.set_xscale("log", base=2)
    if sizes:
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
    ax.set(xlabel="batch size (images per SGD step, log scale)", ylabel="test accuracy (%)", ylim=(0, 100))
    ax.legend(title="norm", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title_fontsize=8)
    return _finish(fig, runs, main_grid(runs, only_completed=False))


def forest(runs: pd.DataFrame, comparisons: list[Comparison]) -> Figure:
    """Every pair of norms at every batch size: the difference in mean test accuracy with its interval at its
    family's one level (Bonferroni over the table), zero marked; a filled dot where the difference is shown, a hollow one
    where it is not. Each pair is drawn in one orientation (the later norm of ``NORMS`` minus the earlier) in
    every panel, so a row reads the same across batch sizes."""
    sizes = sorted({c.batch_size for c in comparisons}) or [0]
    pairs = sorted({tuple(sorted((c.a, c.b), key=NORMS.index)) for c in comparisons},
                   key=lambda p: (NORMS.index(p[0]), NORMS.index(p[1])))
    fig = Figure(figsize=(PAGE_WIDTH, 0.22 * max(1, len(pairs)) + 1.2))
    axes = fig.subplots(1, len(sizes), sharey=True, squeeze=False)[0]
    for ax, bs in zip(axes, sizes):
        # each panel's axis fits its differences and the intervals that bound them (not those cut at ±100
        # points, whose seeds are too few to bound them: they run to the panel's edge)
        ends = [abs(v) for c in comparisons if c.batch_size == bs and c.diff == c.diff
                for v in (c.diff, *((c.ci_low, c.ci_high) if not unbounded(c.ci_low, c.ci_high) else ()))]
        span = min(100.0, 1.1 * max(ends, default=1.0))
        for y, (lo_norm, hi_norm) in enumerate(pairs):
            c = next((c for c in comparisons if c.batch_size == bs and {c.a, c.b} == {lo_norm, hi_norm}), None)
            if c is None or c.diff != c.diff:
                continue
            sign = 1 if c.a == hi_norm else -1
            lo, hi = sorted((sign * c.ci_low, sign * c.ci_high))
            color = "black" if c.shown else "#8C8C8C"
            if lo == lo:   # an interval past the axis runs to its edge (the axis fits the differences)
                ax.plot([max(lo, -span), min(hi, span)], [y, y], color=color, lw=1.4, solid_capstyle="butt")
            ax.plot([sign * c.diff], [y], "D" if c.decided_in else "o", ms=4.5, color=color,
                    mfc=color if c.shown else "white", zorder=3)
        ax.axvline(0, color="crimson", lw=0.8, zorder=1)
        ax.set_xlim(-span, span)
        ax.set_title(f"batch {bs}", fontsize=9)
        ax.grid(axis="x", color="#E5E5E5", lw=0.6)
        ax.tick_params(labelsize=8)
    if pairs:
        axes[0].set_yticks(range(len(pairs)), [f"{SHORT_NAMES[h]} − {SHORT_NAMES[lo]}" for lo, h in pairs])
        axes[0].set_ylim(len(pairs) - 0.5, -0.5)
    else:
        axes[0].text(0.5, 0.5, "no two norms with 2+ completed seeds at a batch size", ha="center",
                     transform=axes[0].transAxes, fontsize=8)
    fig.supxlabel("difference in test accuracy (points)", fontsize=7, y=0.055)
    return _finish(fig, runs, main_grid(runs), rect_bottom=0.09)


def learning_curves(runs: pd.DataFrame) -> Figure:
    """Per batch size of the report's design: test accuracy (top) and training loss (bottom) after each epoch,
    mean over the completed seeds with a band of ± one sd; the designs' batch-8 arms dashed (equal steps) and
    dotted (lr scaled); the legend outside the panels."""
    d = main_grid(runs)
    sizes = sorted(d.batch_size.unique()) or [0]
    fig = Figure(figsize=(PAGE_WIDTH, 3.4))
    axes = fig.subplots(2, len(sizes), sharey="row", sharex=False, squeeze=False)
    arms = {k: arm(runs, k, only_completed=True) for k in ("equal_steps", "lr_scaled")}
    styles = {"fixed": "-", "equal_steps": "--", "lr_scaled": ":"}
    for j, bs in enumerate(sizes):
        for design, dd in [("fixed", d)] + [(k, a[a.design == k]) for k, a in arms.items()]:
            for norm in [n for n in NORMS if n in set(dd.norm)]:
                g = dd[(dd.batch_size == bs) & (dd.norm == norm)]
                for row, col in ((0, "curve"), (1, "loss_curve")):
                    curves = [c for c in g[col] if isinstance(c, list) and c] if col in g else []
                    if not curves:
                        continue
                    n = min(map(len, curves))
                    m = np.array([c[:n] for c in curves], float)
                    x = np.arange(1, n + 1)
                    ax = axes[row][j]
                    ax.plot(x, m.mean(0), styles[design], marker="o" if n < 3 else None, ms=3, lw=1.2,
                            color=NORM_COLORS[norm], label=SHORT_NAMES[norm] if design == "fixed" else None)
                    if len(curves) > 1:
                        sd = m.std(0, ddof=1)
                        ax.fill_between(x, m.mean(0) - sd, m.mean(0) + sd, color=NORM_COLORS[norm], alpha=0.15, lw=0)
        axes[0][j].set_title(f"batch {bs}", fontsize=9)
        axes[1][j].set_xlabel("epoch", fontsize=8)
        for row in (0, 1):
            axes[row][j].xaxis.set_major_locator(MaxNLocator(integer=True))
            axes[row][j].tick_params(labelsize=7)
    axes[0][0].set_ylabel("test accuracy (%)", fontsize=8)
    axes[1][0].set_ylabel("training loss", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    from matplotlib.lines import Line2D
    if any(not a.empty for a in arms.values()):
        handles += [Line2D([], [], color="gray", ls="--"), Line2D([], [], color="gray", ls=":")]
        labels += ["equal steps (batch 8)", "lr scaled (batch 8)"]
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.86, 0.95), fontsize=7, frameon=False)
    fig.text(0.01, 0.005, short_label(runs, d), fontsize=6, color="crimson" if is_synthetic(runs) else "gray")
    fig.tight_layout(rect=(0, 0.04, 0.85, 1))
    return fig


def _finish(fig: Figure, runs: pd.DataFrame, shown: pd.DataFrame, rect_bottom: float = 0.05) -> Figure:
    """Every figure carries the label of the runs behind it (red when any run of the study is synthetic)."""
    fig.text(0.01, 0.005, short_label(runs, shown), fontsize=7.5, color="crimson" if is_synthetic(runs) else "#555555")
    fig.tight_layout(rect=(0, rect_bottom, 1, 1))
    return fig

