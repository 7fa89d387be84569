"""The report's figures, drawn from the runs table and the cells: accuracy bars per norm and batch size,
the differences between norms with their intervals (a forest plot), the designs side by side, learning curves,
and the lr sweep. Every norm has one colour in every figure (``vocab.NORM_COLORS``, colour-blind-safe).

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

from ..vocab import DESIGNS, NORM_COLORS, NORM_NAMES, NORMS, REPORT_COLOR, SHORT_NAMES
from .runs import arm, completed, designs, is_synthetic, main_grid, sweep
from .stats import Comparison
from .texts import short_label

PAGE_WIDTH = 7.5   # inches: a figure this wide fills the PDF's text width at its natural size


def bar_chart(runs: pd.DataFrame, cells: pd.DataFrame, report: dict[tuple[str, int], float],
              comparable: bool) -> Figure:
    """Test accuracy per norm at each batch size of the report's design: mean ± sd bars, a dot per run,
    n✕ where a cell lost n seeds, and the report's single run (``report``) where comparable."""
    d = main_grid(runs).assign(norm_name=lambda x: x.norm.map(NORM_NAMES))
    order = [NORM_NAMES[n] for n in NORMS if n in set(cells.norm)]
    sizes = sorted(cells.batch_size.unique())
    fig = Figure(figsize=(PAGE_WIDTH, 2.9))
    ax = fig.subplots()
    if not cells.empty:
        if not d.empty:
            palette = {NORM_NAMES[n]: NORM_COLORS[n] for n in NORMS}
            sns.barplot(data=d, x="batch_size", y="test_acc", hue="norm_name", hue_order=order, order=sizes,
                        errorbar="sd", capsize=0.1, ax=ax, palette=palette, err_kws={"linewidth": 1})
        width = 0.8 / max(1, len(order))
        first_ref, first_lost = True, True
        for i, bs in enumerate(sizes):
            for j, name in enumerate(order):
                norm = [k for k, v in NORM_NAMES.items() if v == name][0]
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
        ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
        ax.legend(title="norm", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title_fontsize=8)
    ax.set(xlabel="batch size (images per SGD step)", ylabel="test accuracy (%)", ylim=(0, 100))
    ax.set_title("Test accuracy after the last epoch (bars: mean ± sd over completed seeds; dots: runs)", fontsize=9)
    return _finish(fig, runs, main_grid(runs, only_completed=False))


def forest(runs: pd.DataFrame, comparisons: list[Comparison]) -> Figure:
    """Every pair of norms at every batch size: the difference in mean test accuracy with its interval at its
    decision's level (Holm over the table), zero marked; a filled dot where the difference is shown, a hollow one
    where it is not. Each pair is drawn in one orientation (the later norm of ``NORMS`` minus the earlier) in
    every panel, so a row reads the same across batch sizes."""
    sizes = sorted({c.batch_size for c in comparisons}) or [0]
    pairs = sorted({tuple(sorted((c.a, c.b), key=NORMS.index)) for c in comparisons},
                   key=lambda p: (NORMS.index(p[0]), NORMS.index(p[1])))
    fig = Figure(figsize=(PAGE_WIDTH, 0.28 * max(1, len(pairs)) + 1.3))
    axes = fig.subplots(1, len(sizes), sharey=True, sharex=True, squeeze=False)[0]
    for ax, bs in zip(axes, sizes):
        for y, (lo_norm, hi_norm) in enumerate(pairs):
            c = next((c for c in comparisons if c.batch_size == bs and {c.a, c.b} == {lo_norm, hi_norm}), None)
            if c is None or c.diff != c.diff:
                continue
            sign = 1 if c.a == hi_norm else -1
            lo, hi = sorted((sign * c.ci_low, sign * c.ci_high))
            color = "black" if c.shown else "#8C8C8C"
            if lo == lo:
                ax.plot([lo, hi], [y, y], color=color, lw=1.4, solid_capstyle="butt")
            ax.plot([sign * c.diff], [y], "o", ms=4.5, color=color, mfc=color if c.shown else "white", zorder=3)
        ax.axvline(0, color="crimson", lw=0.8, zorder=1)
        ax.set_title(f"batch {bs}", fontsize=9)
        ax.grid(axis="x", color="#E5E5E5", lw=0.6)
        ax.tick_params(labelsize=8)
    if pairs:
        axes[0].set_yticks(range(len(pairs)), [f"{SHORT_NAMES[h]} − {SHORT_NAMES[lo]}" for lo, h in pairs])
        axes[0].set_ylim(len(pairs) - 0.5, -0.5)
    else:
        axes[0].text(0.5, 0.5, "no two norms with 2+ completed seeds at a batch size", ha="center",
                     transform=axes[0].transAxes, fontsize=8)
    fig.supxlabel("difference in test accuracy (points); filled: shown at family-wise α = 0.05 (Holm), "
                  "hollow: not shown; bars: interval at that level", fontsize=8, y=0.055)
    return _finish(fig, runs, main_grid(runs), rect_bottom=0.09)


def designs_chart(runs: pd.DataFrame) -> Figure:
    """One panel per design: test accuracy per norm at each of its batch sizes (mean ± sd, dots: runs)."""
    shown_designs = designs(runs)
    fig = Figure(figsize=(PAGE_WIDTH, 3.2))
    axes = fig.subplots(1, max(1, len(shown_designs)), sharey=True, squeeze=False)[0]
    shown = pd.DataFrame()
    for ax, design in zip(axes, shown_designs):
        d = arm(runs, design, only_completed=True).assign(norm_name=lambda x: x.norm.map(SHORT_NAMES))
        shown = pd.concat([shown, arm(runs, design)])
        order = [SHORT_NAMES[n] for n in NORMS if n in set(d.norm)]
        sizes = sorted(d.batch_size.unique())
        if not d.empty:
            sns.barplot(data=d, x="norm_name", y="test_acc", hue="batch_size", order=order, hue_order=sizes,
                        errorbar="sd", capsize=0.1, ax=ax, palette="crest")
            sns.stripplot(data=d, x="norm_name", y="test_acc", hue="batch_size", order=order, hue_order=sizes,
                          dodge=True, palette="dark:black", size=2.5, ax=ax, legend=False)
            if design == shown_designs[-1]:
                ax.legend(title="batch size", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
            else:
                ax.get_legend().remove()
        ax.set(xlabel="", ylabel="test accuracy (%)", ylim=(0, 100))
        ax.set_title(DESIGNS[design][0], fontsize=9)
    return _finish(fig, runs, shown)


def learning_curves(runs: pd.DataFrame) -> Figure:
    """Test accuracy after each epoch, mean over the completed seeds, a panel per batch size."""
    d = main_grid(runs)
    sizes = sorted(d.batch_size.unique()) or [0]
    fig = Figure(figsize=(PAGE_WIDTH, 2.8))
    axes = fig.subplots(1, len(sizes), sharey=True, squeeze=False)
    for ax, bs in zip(axes[0], sizes):
        for norm in [n for n in NORMS if n in set(d.norm)]:
            curves = [c for c in d[(d.batch_size == bs) & (d.norm == norm)].curve if c]
            if curves:
                n = min(map(len, curves))
                m = np.mean([c[:n] for c in curves], axis=0)
                ax.plot(range(1, n + 1), m, "o-", ms=3, label=NORM_NAMES[norm], color=NORM_COLORS[norm])
        ax.set(title=f"batch {bs}", xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel("test accuracy (%)")
    if axes[0][-1].get_legend_handles_labels()[0]:
        axes[0][-1].legend(fontsize=8)
    return _finish(fig, runs, d)


def lr_chart(runs: pd.DataFrame, report: dict[float, float], comparable: bool) -> Figure:
    """The lr sweep (no normalization, batch 64): mean ± sd per lr, and the report's sweep (``report``)
    where comparable."""
    s = completed(sweep(runs))
    fig = Figure(figsize=(0.6 * PAGE_WIDTH, 2.8))
    ax = fig.subplots()
    if not s.empty:
        g = s.groupby("lr").test_acc.agg(["mean", "std"]).reset_index()
        ax.errorbar(g.lr, g["mean"], yerr=g["std"].fillna(0), fmt="o-", capsize=3, label="ours (mean ± sd)",
                    color=NORM_COLORS["none"])
    if comparable:
        ref = sorted(report.items())
        ax.plot([r[0] for r in ref], [r[1] for r in ref], "s:", color=REPORT_COLOR, label="report (1 run)")
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="test accuracy (%)",
           title="lr sweep: none, batch 64")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _finish(fig, runs, s)


def _finish(fig: Figure, runs: pd.DataFrame, shown: pd.DataFrame, rect_bottom: float = 0.05) -> Figure:
    """Every figure carries the label of the runs behind it (red when any run of the study is synthetic)."""
    fig.text(0.01, 0.005, short_label(runs, shown), fontsize=6, color="crimson" if is_synthetic(runs) else "gray")
    fig.tight_layout(rect=(0, rect_bottom, 1, 1))
    return fig

