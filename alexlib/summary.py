"""Reads every run's metrics.json into one table and makes the report's tables and figures.

Only reads: nothing here trains. Runs on synthetic data, diverged and failed runs and unreadable files
are all kept in view and labeled, never averaged into the results.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure  # not pyplot's figures: each is shown once, where a notebook displays it

from .io import write_json
from .paths import from_repo

NORM_ORDER = ["none", "bn", "ln", "gn", "lrn"]
NORM_NAMES = {"none": "none", "bn": "BatchNorm", "ln": "LayerNorm", "gn": "GroupNorm", "lrn": "LRN"}
REFERENCE_LR, REFERENCE_MOMENTUM = 0.005, 0.9
ALPHA = 0.05


def load_runs(runs_dir: str | Path) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """One row per metrics.json below ``runs_dir``, and a list of files that could not be used."""
    rows, problems = [], []
    for p in sorted(Path(runs_dir).rglob("metrics.json")):
        try:
            m = json.loads(p.read_text(encoding="utf-8"))
            rows.append(_row(m, p))
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
            problems.append({"file": str(p), "problem": f"unreadable metrics.json ({type(e).__name__}: {e})"})
    df = pd.DataFrame(rows)
    return df, problems


def _row(m: dict[str, Any], path: Path) -> dict[str, Any]:
    c, env, final = m["config"], m.get("env") or {}, m.get("final") or {}
    status = m["status"]
    if status not in ("completed", "diverged", "failed", "running"):
        raise ValueError(f"unknown status {status!r}")
    done = status == "completed"
    hist = m.get("history") or []
    return {
        "run_id": m.get("run_id", path.parent.name), "path": str(path.parent), "status": status,
        "norm": c["norm"], "batch_size": int(c["batch_size"]), "lr": float(c["lr"]),
        "momentum": float(c["momentum"]), "seed": int(c["seed"]), "epochs": int(c["epochs"]),
        "dataset": c["dataset"], "image_size": int(c["image_size"]), "width": float(c["width"]),
        "train_size": c.get("train_size"), "test_size": c.get("test_size"),
        "synthetic": bool((m.get("dataset") or {}).get("synthetic", c["dataset"] == "synthetic")),
        "test_acc": float(final["test_acc"]) if done and final.get("test_acc") is not None else math.nan,
        "best_test_acc": float(final.get("best_test_acc", math.nan)) if done else math.nan,
        "epochs_done": len(hist),
        "train_seconds": float(sum(h.get("train_seconds", 0.0) for h in hist)),
        "images_per_s": float(np.mean([h["images_per_s"] for h in hist])) if hist else math.nan,
        "device_name": env.get("device_name", "?"), "precision": env.get("precision", "?"),
        "torch": env.get("torch", "?"),
        "diverged_at": json.dumps(m.get("diverged_at")) if m.get("diverged_at") else "",
        "error": (m.get("error") or "")[:300],
        "curve": [h.get("test_acc") for h in hist],
    }


def load_reference(path: str | Path) -> dict[str, Any]:
    ref = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    table = {(norm, int(bs)): float(acc) for norm, row in ref["test_accuracy"].items() for bs, acc in row.items()}
    sweep = {float(lr): float(acc) for lr, acc in ref["lr_sweep"]["test_accuracy"].items()}
    return {"table": table, "sweep": sweep, "source": ref.get("source", "")}


def _fmt_seeds(seeds) -> str:
    s = sorted(set(int(x) for x in seeds))
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}–{s[-1]}"
    return ", ".join(map(str, s))


@dataclass
class Study:
    runs: pd.DataFrame
    reference: dict[str, Any]
    report_dir: Path
    problems: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, runs_dir: str, reference: str, report_dir: str) -> "Study":
        runs_dir, report_dir = from_repo(runs_dir), from_repo(report_dir)
        if not runs_dir.is_dir():
            raise FileNotFoundError(f"runs folder {runs_dir} does not exist; run a grid first "
                                    f"(python -m alexlib.grid params/<grid>.yaml --out {runs_dir})")
        df, problems = load_runs(runs_dir)
        if df.empty:
            raise FileNotFoundError(f"no metrics.json under {runs_dir}" +
                                    (f" that could be read ({len(problems)} unreadable)" if problems else ""))
        return cls(df, load_reference(from_repo(reference)), report_dir, problems)

    # ---- subsets and labels ----
    @property
    def done(self) -> pd.DataFrame:
        return self.runs[self.runs.status == "completed"]

    def main_grid(self) -> pd.DataFrame:
        """Completed runs at the report's lr and momentum: the norm x batch-size question."""
        d = self.done
        return d[np.isclose(d.lr, REFERENCE_LR) & np.isclose(d.momentum, REFERENCE_MOMENTUM)]

    def sweep(self) -> pd.DataFrame:
        d = self.runs
        return d[(d.norm == "none") & (d.batch_size == 64) & np.isclose(d.momentum, REFERENCE_MOMENTUM)]

    def is_synthetic(self) -> bool:
        return bool(self.runs.synthetic.any())

    def label(self, df: pd.DataFrame | None = None) -> str:
        """Data, image size, width, epochs, seeds, device and precision of the runs behind a table or figure."""
        d = self.runs if df is None or df.empty else df

        def vals(col, fmt=str):
            return ", ".join(fmt(v) for v in sorted(d[col].unique()))
        warn = "**SYNTHETIC DATA: NOT A RESULT.** " if d.synthetic.any() else ""
        sizes = f"{vals('train_size')}/{vals('test_size')}".replace("0/0", "full splits")
        return (f"{warn}Data: {vals('dataset')} (train/test images: {sizes}); image {vals('image_size')} px; width {vals('width', lambda w: f'{w:g}')}"
                f"{' (not the report network)' if (d.width != 1.0).any() else ''}; epochs {vals('epochs')}; "
                f"seeds {_fmt_seeds(d.seed)}; device {vals('device_name')}; precision {vals('precision')}; "
                f"torch {vals('torch')}.")

    def short_label(self, df: pd.DataFrame | None = None) -> str:
        d = self.runs if df is None or df.empty else df
        synth = "SYNTHETIC: NOT A RESULT | " if d.synthetic.any() else ""
        return (f"{synth}{'/'.join(sorted(d.dataset.unique()))}, {'/'.join(map(str, sorted(d.image_size.unique())))} px, "
                f"width {'/'.join(f'{w:g}' for w in sorted(d.width.unique()))}, seeds {_fmt_seeds(d.seed)}, "
                f"{'/'.join(sorted(d.device_name.unique()))}, {'/'.join(sorted(d.precision.unique()))}")

    def comparison_note(self) -> str:
        """Whether the report's column is a like-for-like comparison (CIFAR-10, 224 px, width 1,
        10 epochs, full splits) or only a reference."""
        d = self.main_grid()
        same = (not d.empty and set(d.dataset) == {"cifar10"} and set(d.image_size) == {224}
                and set(d.width) == {1.0} and set(d.epochs) == {10} and set(d.train_size) <= {0, None}
                and set(d.test_size) <= {0, None})
        if same:
            return "The runs follow the report's protocol: the report's column is a like-for-like comparison."
        return ("**Not comparable to the report's numbers:** these runs differ from the report's protocol "
                "(CIFAR-10, full splits, 224 px, width 1, 10 epochs); its column is shown for reference only.")

    def header_markdown(self) -> str:
        n = self.runs.status.value_counts().to_dict()
        counts = ", ".join(f"{v} {k}" for k, v in sorted(n.items()))
        lines = [f"**{len(self.runs)} runs** ({counts}).", "", self.label()]
        if self.problems:
            lines += ["", f"**{len(self.problems)} metrics file(s) could not be read**: see the last section."]
        return "\n".join(lines)

    # ---- tables ----
    def cells(self) -> pd.DataFrame:
        g = self.main_grid().groupby(["norm", "batch_size"]).test_acc
        cells = g.agg(mean="mean", std="std", n="count").reset_index()
        cells["report"] = [self.reference["table"].get((r.norm, r.batch_size), math.nan)
                           for r in cells.itertuples()]
        cells["diff"] = cells["mean"] - cells["report"]
        cells["norm"] = pd.Categorical(cells.norm, [n for n in NORM_ORDER if n in set(cells.norm)])
        return cells.sort_values(["norm", "batch_size"])

    def accuracy_table(self) -> pd.DataFrame:
        c = self.cells()
        if c.empty:
            return pd.DataFrame({"note": ["no completed runs at lr 0.005, momentum 0.9"]})
        def fmt(r):
            sd = "" if math.isnan(r["std"]) else f" ± {r['std']:.2f}"
            return f"{r['mean']:.2f}{sd} (n={int(r['n'])})"
        c = c.assign(ours=c.apply(fmt, axis=1),
                     report_s=c.report.map(lambda v: "" if math.isnan(v) else f"{v:.2f}"),
                     diff_s=c["diff"].map(lambda v: "" if math.isnan(v) else f"{v:+.2f}"))
        wide = c.pivot(index="norm", columns="batch_size", values=["ours", "report_s", "diff_s"])
        wide = wide.rename(columns={"ours": "ours: mean ± sd (n)", "report_s": "report", "diff_s": "diff"}, level=0)
        wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0, sort_remaining=False)
        wide.index = [NORM_NAMES.get(n, n) for n in wide.index]
        wide.columns.names = ["batch size", ""]
        return wide

    def significance_table(self) -> pd.DataFrame:
        import warnings
        from scipy import stats
        d = self.main_grid()
        with warnings.catch_warnings():  # identical seeds (e.g. all at chance) make the tests degenerate
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._significance(d, stats)

    def _significance(self, d: pd.DataFrame, stats) -> pd.DataFrame:
        rows = []
        for bs, g in d.groupby("batch_size"):
            groups = {n: x.test_acc.dropna().to_numpy() for n, x in g.groupby("norm")}
            groups = {n: v for n, v in groups.items() if len(v)}
            means = {n: v.mean() for n, v in groups.items()}
            ranked = sorted(means, key=means.get, reverse=True)
            seeds = sorted({len(v) for v in groups.values()})
            row = {"batch": bs, "norms": len(groups), "seeds": "/".join(map(str, seeds)),
                   "spread of means": _r(max(means.values()) - min(means.values())) if means else "",
                   "seed sd": _r(_pooled_sd(list(groups.values())))}
            testable = len(groups) >= 2 and min(seeds) >= 2 and any(np.var(v) > 0 for v in groups.values())
            if testable:
                anova = stats.f_oneway(*groups.values()).pvalue
                welch = stats.ttest_ind(groups[ranked[0]], groups[ranked[1]], equal_var=False).pvalue
                row.update({"ANOVA p": _p(anova), "best": f"{ranked[0]} {means[ranked[0]]:.2f}",
                            "runner-up": f"{ranked[1]} {means[ranked[1]]:.2f}", "Welch p": _p(welch),
                            "norms differ?": "yes" if anova < ALPHA else "not shown",
                            "best beats runner-up?": "yes" if welch < ALPHA else "not shown"})
            else:
                row["norms differ?"] = "needs 2+ norms with 2+ seeds"
            rows.append(row)
        out = pd.DataFrame(rows)
        return out.set_index("batch") if not out.empty else out

    def lr_table(self) -> pd.DataFrame:
        s = self.sweep()
        if s.empty:
            return pd.DataFrame({"note": ["no runs with norm none, batch 64 in this folder"]})
        rows = []
        for lr, g in s.groupby("lr"):
            ok = g[g.status == "completed"].test_acc
            rows.append({"lr": lr, "mean": ok.mean(), "sd": ok.std(), "n": int(ok.count()),
                         "not completed": int((g.status != "completed").sum()),
                         "report": self.reference["sweep"].get(lr, math.nan)})
        t = pd.DataFrame(rows).set_index("lr")
        t["diff"] = t["mean"] - t["report"]
        return t.round(2)

    def time_table(self) -> pd.DataFrame:
        d = self.runs[self.runs.epochs_done > 0]
        t = d.groupby(["norm", "batch_size"]).agg(runs=("run_id", "count"), train_s_mean=("train_seconds", "mean"),
                                                  img_per_s=("images_per_s", "mean"))
        t.loc[("all", "all"), :] = [len(d), d.train_seconds.sum(), d.images_per_s.mean()]
        t = t.rename(columns={"train_s_mean": "train s per run (mean; total on the 'all' row)",
                              "img_per_s": "train img/s"})
        return t.round(1)

    def problems_table(self) -> pd.DataFrame:
        bad = self.runs[self.runs.status != "completed"]
        rows = [{"run": r.run_id, "status": r.status, "detail": r.diverged_at or r.error or "(still running)",
                 "epochs done": r.epochs_done} for r in bad.itertuples()]
        rows += [{"run": p["file"], "status": "unreadable", "detail": p["problem"], "epochs done": 0}
                 for p in self.problems]
        return pd.DataFrame(rows) if rows else pd.DataFrame({"status": ["every run completed; every file was readable"]})

    # ---- figures ----
    def bar_chart(self):
        import seaborn as sns
        d = self.main_grid().assign(norm_name=lambda x: x.norm.map(NORM_NAMES))
        order = [NORM_NAMES[n] for n in NORM_ORDER if n in set(d.norm)]
        sizes = sorted(d.batch_size.unique())
        fig = Figure(figsize=(10, 4.6))
        ax = fig.subplots()
        if not d.empty:
            sns.barplot(data=d, x="batch_size", y="test_acc", hue="norm_name", hue_order=order, order=sizes,
                        errorbar="sd", capsize=0.1, ax=ax, palette="deep")
            width = 0.8 / max(1, len(order))
            first = True
            for i, bs in enumerate(sizes):
                for j, name in enumerate(order):
                    norm = [k for k, v in NORM_NAMES.items() if v == name][0]
                    x = i - 0.4 + width * (j + 0.5)
                    pts = d[(d.batch_size == bs) & (d.norm == norm)].test_acc
                    ax.scatter([x] * len(pts), pts, s=9, color="black", zorder=3)
                    ref = self.reference["table"].get((norm, int(bs)))
                    if ref is not None:
                        ax.plot([x - width / 2.5, x + width / 2.5], [ref, ref], color="crimson", lw=2,
                                label="report (1 run)" if first else None)
                        first = False
            ax.legend(title="norm", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.set(xlabel="batch size", ylabel="test accuracy %",
               title="Test accuracy after the last epoch (bars: mean ± sd over seeds; dots: runs)")
        return self._finish(fig, "accuracy_bars", d)

    def learning_curves(self):
        from matplotlib.ticker import MaxNLocator
        d = self.main_grid()
        sizes = sorted(d.batch_size.unique()) or [0]
        fig = Figure(figsize=(3.2 * len(sizes) + 1, 3.4))
        axes = fig.subplots(1, len(sizes), sharey=True, squeeze=False)
        for ax, bs in zip(axes[0], sizes):
            for norm in [n for n in NORM_ORDER if n in set(d.norm)]:
                curves = [c for c in d[(d.batch_size == bs) & (d.norm == norm)].curve if c]
                if curves:
                    n = min(map(len, curves))
                    m = np.mean([c[:n] for c in curves], axis=0)
                    ax.plot(range(1, n + 1), m, "o-", ms=3, label=NORM_NAMES[norm])
            ax.set(title=f"batch {bs}", xlabel="epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0][0].set_ylabel("test accuracy %")
        if axes[0][-1].get_legend_handles_labels()[0]:
            axes[0][-1].legend(fontsize=8)
        return self._finish(fig, "learning_curves", d)

    def lr_chart(self):
        s = self.sweep()
        s = s[s.status == "completed"]
        fig = Figure(figsize=(5.5, 3.6))
        ax = fig.subplots()
        if not s.empty:
            g = s.groupby("lr").test_acc.agg(["mean", "std"]).reset_index()
            ax.errorbar(g.lr, g["mean"], yerr=g["std"].fillna(0), fmt="o-", capsize=3, label="ours (mean ± sd)")
        ref = sorted(self.reference["sweep"].items())
        ax.plot([r[0] for r in ref], [r[1] for r in ref], "s--", color="crimson", label="report (1 run)")
        ax.set(xscale="log", xlabel="learning rate", ylabel="test accuracy %", title="lr sweep: none, batch 64")
        ax.legend(fontsize=8)
        return self._finish(fig, "lr_sweep", s)

    def _finish(self, fig, name: str, d: pd.DataFrame):
        """Every figure carries the label of the runs behind it (red when any is synthetic)."""
        fig.text(0.01, 0.005, self.short_label(d), fontsize=6, color="crimson" if self.is_synthetic() else "gray")
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        self.figures[name] = fig
        return fig

    # ---- output ----
    def write(self) -> list[Path]:
        """results.csv (one row per run), cells.csv, the figures as PNG, and a small JSON index."""
        self.report_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        runs = self.runs.drop(columns=["curve"])
        for name, df in (("results.csv", runs), ("cells.csv", self.cells())):
            p = self.report_dir / name
            tmp = p.with_suffix(".csv.tmp")
            df.to_csv(tmp, index=False)
            tmp.replace(p)
            paths.append(p)
        for name, fig in self.figures.items():
            p = self.report_dir / f"{name}.png"
            fig.savefig(p, dpi=120)
            paths.append(p)
        write_json(self.report_dir / "summary.json", {
            "label": self.label(), "synthetic": self.is_synthetic(), "runs": len(self.runs),
            "status": self.runs.status.value_counts().to_dict(), "unreadable": self.problems})
        paths.append(self.report_dir / "summary.json")
        return paths


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _r(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.2f}"


def _pooled_sd(groups: list[np.ndarray]) -> float:
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    if dof == 0:
        return math.nan
    return float(math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups if len(g) > 1) / dof))
