"""Reads every run's metrics.json into one table and makes the report's tables and figures.

Only reads: nothing here trains. Each distinct run counts once (a copied run folder does not count
twice); the cells hold runs of one protocol only; diverged and failed seeds are counted in every cell,
never dropped; runs on synthetic data and unreadable files are kept in view and labeled.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure  # not pyplot's figures: each is shown once, where a notebook displays it

from .config import ConfigError, RunConfig
from .io import write_json
from .paths import from_repo
from .stats import compare_norms

NORM_ORDER = ["none", "bn", "ln", "gn", "lrn"]
NORM_NAMES = {"none": "none", "bn": "BatchNorm", "ln": "LayerNorm", "gn": "GroupNorm", "lrn": "LRN"}
SHORT_NAMES = {"none": "none", "bn": "BN", "ln": "LN", "gn": "GN", "lrn": "LRN"}
REFERENCE_LR = 0.005
# The report chose lr 0.005 at batch 64 (its sweep), so the arms that take the step count (or the lr) out of
# the batch-size comparison are anchored there: batch 64 at the fixed design's epochs and lr is in all three.
ANCHOR_BATCH = 64
# What every run of a study must share. lr and epochs are not here: they are the study's designs (the lr
# sweep, equal steps, linear lr scaling), told apart by how they vary with the batch size (designs()).
PROTOCOL = ("dataset", "image_size", "width", "train_size", "test_size", "precision", "momentum",
            "dropout", "gn_groups")
DESIGNS = {  # design -> (short name, what varies with the batch size)
    "fixed": ("fixed epochs and lr", "the report's design: epochs and lr the same at every batch size, so a "
                                     "small batch takes more SGD steps"),
    "equal_steps": ("equal steps", f"every batch size takes the SGD steps batch {ANCHOR_BATCH} takes: epochs "
                                   f"proportional to the batch size, lr fixed"),
    "lr_scaled": ("linear lr scaling", f"lr = {REFERENCE_LR:g} x batch / {ANCHOR_BATCH} (Goyal et al. 2017), "
                                       "epochs fixed"),
}
# The report's protocol, for the like-for-like comparison with its numbers
REPORT_PROTOCOL = {"dataset": "cifar10", "image_size": 224, "width": 1.0, "epochs": 10, "train_size": 0,
                   "test_size": 0, "momentum": 0.9, "dropout": 0.5, "gn_groups": 4}
STATUS_RANK = {"completed": 0, "diverged": 1, "failed": 2, "running": 3}


class ProtocolError(ValueError):
    """Runs of more than one protocol in one folder: averaging them would mix different experiments."""


def load_runs(runs_dir: str | Path) -> tuple[pd.DataFrame, list[dict[str, str]], int]:
    """One row per distinct run below ``runs_dir`` (by result key: a copied run folder counts once), the
    files that could not be used, and how many duplicate folders were set aside."""
    runs_dir = Path(runs_dir)
    rows, problems = [], []
    for p in sorted(runs_dir.rglob("metrics.json")):
        try:
            m = json.loads(p.read_text(encoding="utf-8"))
            rows.append(_row(m, p, runs_dir))
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
            problems.append({"file": str(p.relative_to(runs_dir)),
                             "problem": f"unreadable metrics.json ({type(e).__name__}: {e})"})
    df = pd.DataFrame(rows)
    if df.empty:
        return df, problems, 0
    # the most finished record of each key, then the latest
    df = df.assign(_rank=df.status.map(STATUS_RANK)).sort_values(["_rank", "updated_at"], ascending=[True, False])
    unique = df.drop_duplicates("key").drop(columns="_rank").sort_values("path").reset_index(drop=True)
    return unique, problems, len(df) - len(unique)


def _row(m: dict[str, Any], path: Path, runs_dir: Path) -> dict[str, Any]:
    c, env, final = m["config"], m.get("env") or {}, m.get("final") or {}
    status = m["status"]
    if status not in STATUS_RANK:
        raise ValueError(f"unknown status {status!r}")
    try:
        cfg = RunConfig.from_dict(c)
    except ConfigError as e:
        raise ValueError(f"config not readable: {e}") from None
    precision = env.get("precision") or cfg.precision
    done = status == "completed"
    hist = m.get("history") or []
    ds = m.get("dataset") or {}
    return {
        "run_id": m.get("run_id", path.parent.name), "path": str(path.parent.relative_to(runs_dir)),
        "status": status, "key": json.dumps(cfg.result_key(precision), sort_keys=True),
        "norm": cfg.norm, "batch_size": cfg.batch_size, "lr": cfg.lr, "momentum": cfg.momentum, "seed": cfg.seed,
        "epochs": cfg.epochs, "dataset": cfg.dataset, "image_size": cfg.image_size, "width": cfg.width,
        "train_size": cfg.train_size, "test_size": cfg.test_size, "dropout": cfg.dropout,
        "gn_groups": cfg.gn_groups, "precision": precision,
        "train_images": ds.get("train_images"), "test_images": ds.get("test_images"),
        "synthetic": bool(ds.get("synthetic", cfg.dataset == "synthetic")),
        "test_acc": float(final["test_acc"]) if done and final.get("test_acc") is not None else math.nan,
        "best_test_acc": float(final.get("best_test_acc", math.nan)) if done else math.nan,
        "epochs_done": len(hist),
        "train_seconds": float(sum(h.get("train_seconds", 0.0) for h in hist)),
        "images_per_s": float(np.mean([h["images_per_s"] for h in hist])) if hist else math.nan,
        "device_name": env.get("device_name", "?"), "torch": env.get("torch", "?"),
        "cpu_threads": env.get("cpu_threads"), "updated_at": m.get("updated_at", ""),
        "diverged_at": json.dumps(m.get("diverged_at")) if m.get("diverged_at") else "",
        "error": (m.get("error") or "")[:300],
        "curve": [h.get("test_acc") for h in hist],
    }


def load_reference(path: str | Path) -> dict[str, Any]:
    ref = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    table = {(norm, int(bs)): float(acc) for norm, row in ref["test_accuracy"].items() for bs, acc in row.items()}
    sweep = {float(lr): float(acc) for lr, acc in ref["lr_sweep"]["test_accuracy"].items()}
    return {"table": table, "sweep": sweep, "source": ref.get("source", "")}


def parse_select(text: str) -> dict[str, Any]:
    """``"dataset=digits, epochs=4"`` -> {"dataset": "digits", "epochs": 4}; keys must be protocol fields."""
    out = {}
    for item in (t.strip() for t in (text or "").split(",")):
        if not item:
            continue
        if "=" not in item:
            raise ProtocolError(f"select takes field=value pairs separated by commas, got {item!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in PROTOCOL + ("epochs", "lr", "norm", "batch_size", "seed"):
            raise ProtocolError(f"select: unknown field {k!r}; use one of {', '.join(PROTOCOL)}")
        out[k] = yaml.safe_load(v)
    return out


def _fmt_seeds(seeds) -> str:
    s = sorted(set(int(x) for x in seeds))
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}–{s[-1]}"
    return ", ".join(map(str, s))


def _fmt_protocol(p: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in p.items())


@dataclass
class Study:
    runs: pd.DataFrame
    reference: dict[str, Any]
    report_dir: Path
    problems: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    figures: dict[str, Any] = field(default_factory=dict)
    fixed_epochs: int = 0   # the epochs of the report's design (fixed epochs and lr) in these runs

    @classmethod
    def load(cls, runs_dir: str, reference: str, report_dir: str, select: str = "") -> "Study":
        runs_dir, report_dir = from_repo(runs_dir), from_repo(report_dir)
        if not runs_dir.is_dir():
            raise FileNotFoundError(f"runs folder {runs_dir} does not exist; run a grid first "
                                    f"(python -m alexlib.grid params/<grid>.yaml --out {runs_dir})")
        df, problems, dups = load_runs(runs_dir)
        if df.empty:
            raise FileNotFoundError(f"no metrics.json under {runs_dir}" +
                                    (f" that could be read ({len(problems)} unreadable)" if problems else ""))
        for k, v in parse_select(select).items():
            df = df[np.isclose(df[k], v)] if isinstance(v, (int, float)) and not isinstance(v, bool) else df[df[k] == v]
        if df.empty:
            raise ProtocolError(f"no run under {runs_dir} matches select={select!r}")
        _check_one_protocol(df, runs_dir)
        df, fixed_epochs = assign_designs(df.reset_index(drop=True), runs_dir)
        return cls(df, load_reference(from_repo(reference)), report_dir, problems, dups, fixed_epochs=fixed_epochs)

    # ---- subsets and labels ----
    @property
    def done(self) -> pd.DataFrame:
        return self.runs[self.runs.status == "completed"]

    def main_grid(self, completed: bool = True) -> pd.DataFrame:
        """The report's design (the report's lr, the same epochs at every batch size): the norm x batch-size
        question (completed runs only, or every status)."""
        d = self.done if completed else self.runs
        return d[d.design == "fixed"]

    def sweep(self) -> pd.DataFrame:
        d = self.runs
        return d[(d.norm == "none") & (d.batch_size == ANCHOR_BATCH) & (d.epochs == self.fixed_epochs)
                 & d.design.isin(["fixed", "lr_sweep"])]

    def arm(self, design: str, completed: bool = False) -> pd.DataFrame:
        """The runs of one design, with the batch-64 runs it shares with the fixed design."""
        d = self.done if completed else self.runs
        if design == "fixed":
            return d[d.design == "fixed"]
        own = d[d.design == design]
        anchor = d[(d.design == "fixed") & (d.batch_size == ANCHOR_BATCH)]
        if design == "equal_steps" and (own.batch_size == ANCHOR_BATCH).any():
            anchor = anchor.iloc[0:0]  # the family has its own batch-64 runs (other epochs than fixed's)
        anchor = anchor[anchor.norm.isin(set(self.runs[self.runs.design == design].norm))]  # norms the arm ran
        return pd.concat([own, anchor]) if not own.empty else own

    def designs(self) -> list[str]:
        return [k for k in DESIGNS if not self.arm(k).empty]

    def is_synthetic(self) -> bool:
        return bool(self.runs.synthetic.any())

    def protocol(self) -> dict[str, Any]:
        return {k: self.runs[k].iloc[0] for k in PROTOCOL} | {"epochs": self.fixed_epochs}

    def comparable(self) -> bool:
        """Whether the runs follow the report's protocol, so its numbers are a like-for-like comparison."""
        p = self.protocol()
        return all(p[k] == v for k, v in REPORT_PROTOCOL.items())

    def label(self, df: pd.DataFrame | None = None) -> str:
        """Data, image size, width, epochs, seeds, device and precision of the runs behind a table or figure."""
        d = self.runs if df is None or df.empty else df

        def vals(col, fmt=str):
            return ", ".join(fmt(v) for v in sorted(d[col].dropna().unique())) or "?"
        warn = "**SYNTHETIC DATA: NOT A RESULT.** " if d.synthetic.any() else ""
        return (f"{warn}Data: {vals('dataset')} ({_images(d)}); image {vals('image_size')} px; width "
                f"{vals('width', lambda w: f'{w:g}')}{' (not the report network)' if (d.width != 1.0).any() else ''}; "
                f"epochs {vals('epochs')}; seeds {_fmt_seeds(d.seed)}; device {vals('device_name')}; "
                f"precision {vals('precision')}; CPU threads {vals('cpu_threads', lambda t: f'{t:g}')}; "
                f"torch {vals('torch')}.")

    def short_label(self, df: pd.DataFrame | None = None) -> str:
        d = self.runs if df is None or df.empty else df
        synth = "SYNTHETIC: NOT A RESULT | " if d.synthetic.any() else ""
        return (f"{synth}{'/'.join(sorted(d.dataset.unique()))} ({_images(d)}), "
                f"{'/'.join(map(str, sorted(d.image_size.unique())))} px, "
                f"width {'/'.join(f'{w:g}' for w in sorted(d.width.unique()))}, epochs "
                f"{'/'.join(map(str, sorted(d.epochs.unique())))}, seeds {_fmt_seeds(d.seed)}, "
                f"{'/'.join(sorted(d.device_name.unique()))}, {'/'.join(sorted(d.precision.unique()))}")

    def comparison_note(self) -> str:
        if self.comparable():
            return "The runs follow the report's protocol: the report's column is a like-for-like comparison."
        differs = {k: self.protocol()[k] for k, v in REPORT_PROTOCOL.items() if self.protocol()[k] != v}
        return ("**Not comparable to the report's numbers:** these runs differ from its protocol "
                f"({_fmt_protocol(differs)}); its column is shown for reference only, without differences, "
                "and the figures do not draw it.")

    def header_markdown(self) -> str:
        n = self.runs.status.value_counts().to_dict()
        counts = ", ".join(f"{v} {k}" for k, v in sorted(n.items()))
        lines = [f"**{len(self.runs)} runs** ({counts}).", "", self.label()]
        other = int((self.runs.design == "other").sum())
        if other:
            lines += ["", f"{other} run(s) fit none of the designs (the report's, equal steps, linear lr scaling, the lr "
                          "sweep at batch 64): they are in results.csv and the time table, not in the accuracy tables."]
        if self.duplicates:
            lines += ["", f"{self.duplicates} run folder(s) held a run already counted (same configuration, "
                          "e.g. a copied folder): each run is counted once."]
        if self.problems:
            lines += ["", f"**{len(self.problems)} metrics file(s) could not be read**: see the last section."]
        return "\n".join(lines)

    # ---- tables ----
    def cells(self) -> pd.DataFrame:
        """One row per norm x batch size at the report's lr: mean and sd over completed seeds, and how
        many seeds completed, diverged, failed or are still running."""
        d = self.main_grid(completed=False)
        rows = []
        for (norm, bs), g in d.groupby(["norm", "batch_size"]):
            acc = g[g.status == "completed"].test_acc
            count = g.status.value_counts()
            threads = sorted({int(t) for t in g.cpu_threads.dropna()})
            rows.append({"norm": norm, "batch_size": int(bs), "mean": acc.mean(), "std": acc.std(),
                         "n_completed": int(count.get("completed", 0)), "n_diverged": int(count.get("diverged", 0)),
                         "n_failed": int(count.get("failed", 0)), "n_running": int(count.get("running", 0)),
                         # seeds of one cell run on other devices or thread counts are not bit-comparable
                         "mixed": "; ".join(m for m in (
                             f"threads {'/'.join(map(str, threads))}" if len(threads) > 1 else "",
                             f"devices {' / '.join(sorted(set(g.device_name)))}" if g.device_name.nunique() > 1 else "")
                             if m)})
        cells = pd.DataFrame(rows, columns=["norm", "batch_size", "mean", "std", "n_completed", "n_diverged",
                                            "n_failed", "n_running", "mixed"])
        cells["report"] = [self.reference["table"].get((r.norm, r.batch_size), math.nan) for r in cells.itertuples()]
        cells["diff"] = cells["mean"] - cells["report"] if self.comparable() else math.nan
        cells["norm"] = pd.Categorical(cells.norm, [n for n in NORM_ORDER if n in set(cells.norm)])
        return cells.sort_values(["norm", "batch_size"]).reset_index(drop=True)

    def accuracy_table(self) -> pd.DataFrame:
        c = self.cells()
        if c.empty:
            return pd.DataFrame({"note": [f"no runs at lr {REFERENCE_LR}"]})
        comparable = self.comparable()
        c = c.assign(ours=c.apply(_fmt_cell, axis=1),
                     report_s=c.report.map(lambda v: "" if math.isnan(v) else f"{v:.2f}"),
                     diff_s=c["diff"].map(lambda v: "" if math.isnan(v) else f"{v:+.2f}"))
        values = ["ours", "report_s"] + (["diff_s"] if comparable else [])
        wide = c.pivot(index="norm", columns="batch_size", values=values)
        names = {"ours": "ours: mean ± sd (n)", "report_s": "report" if comparable else "report (other protocol)",
                 "diff_s": "diff"}
        wide = wide.rename(columns=names, level=0)
        wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0, sort_remaining=False)
        wide.index = [NORM_NAMES.get(n, n) for n in wide.index]
        wide.columns.names = ["batch size", ""]
        return wide

    @functools.cached_property
    def _comparisons(self):
        """Computed once: the table, its note and summary.json all read it (Tukey's intervals are slow)."""
        d = self.main_grid()
        groups: dict[int, dict[str, dict[int, float]]] = {}
        for r in d.itertuples():
            groups.setdefault(int(r.batch_size), {}).setdefault(r.norm, {})[int(r.seed)] = float(r.test_acc)
        return compare_norms(groups)

    def comparisons(self):
        return self._comparisons

    def significance_table(self) -> pd.DataFrame:
        """Every pair of norms at every batch size: the difference in mean test accuracy (points) with its
        95 % confidence interval, and whether it is shown at family-wise alpha 0.05. Narrow enough for the
        PDF's page: short norm names, the method in ``significance_note`` when it is one for all rows."""
        comps = self.comparisons()
        if not comps:
            return pd.DataFrame({"note": ["needs 2+ norms with 2+ completed seeds at a batch size"]})
        nb = "\u00a0"  # keeps "[a, b]" on one line
        rows = [{"batch": c.batch_size, "difference": f"{SHORT_NAMES[c.a]}{nb}−{nb}{SHORT_NAMES[c.b]}",
                 "points": f"{c.diff:+.2f}",
                 "95 % CI": "" if math.isnan(c.ci_low) else f"[{c.ci_low:+.1f},{nb}{c.ci_high:+.1f}]",
                 "p (adj.)": _p(c.p), "shown?": {True: "yes", False: "not shown", None: "no spread"}[c.shown],
                 "seeds": c.n, "method": c.method} for c in comps]
        t = pd.DataFrame(rows).set_index(["batch", "difference"])
        return t.drop(columns="method") if t.method.nunique() == 1 else t

    def significance_note(self) -> str:
        comps = self.comparisons()
        methods = sorted({c.method for c in comps})
        if not comps:
            return ""
        where = f"{len(comps)} comparisons"
        return (f"Method: {'; '.join(methods)}, over {where}. Norms: "
                + ", ".join(f"{SHORT_NAMES[n]} = {NORM_NAMES[n]}" for n in NORM_ORDER if n != "none") + ".")

    def lr_table(self) -> pd.DataFrame:
        s = self.sweep()
        if s.empty:
            return pd.DataFrame({"note": ["no runs with norm none, batch 64 in this folder"]})
        rows = []
        for lr, g in s.groupby("lr"):
            ok = g[g.status == "completed"].test_acc
            rows.append({"lr": lr, "mean": ok.mean(), "sd": ok.std(), "n_completed": int(ok.count()),
                         "n_diverged": int((g.status == "diverged").sum()),
                         "n_failed": int((g.status == "failed").sum()),
                         "report": self.reference["sweep"].get(lr, math.nan)})
        t = pd.DataFrame(rows).set_index("lr")
        if self.comparable():
            t["diff"] = t["mean"] - t["report"]
        else:
            t = t.rename(columns={"report": "report (other protocol)"})
        return t.round(2)

    # ---- batch size vs step count ----
    def design_cells(self) -> pd.DataFrame:
        """Mean ± sd (n) per norm, design and batch size, with each design's SGD steps and lr per run."""
        rows = []
        for design in self.designs():
            d = self.arm(design)
            for (norm, bs), g in d.groupby(["norm", "batch_size"]):
                acc = g[g.status == "completed"].test_acc
                count = g.status.value_counts()
                r = g.iloc[0]
                steps = int(r.epochs) * math.ceil(r.train_images / bs) if r.train_images == r.train_images else None
                rows.append({"design": design, "norm": norm, "batch_size": int(bs), "epochs": int(r.epochs),
                             "lr": float(r.lr), "steps": steps, "mean": acc.mean(), "std": acc.std(),
                             "n_completed": int(count.get("completed", 0)),
                             "n_diverged": int(count.get("diverged", 0)), "n_failed": int(count.get("failed", 0)),
                             "n_running": int(count.get("running", 0)), "mixed": ""})
        return pd.DataFrame(rows, columns=["design", "norm", "batch_size", "epochs", "lr", "steps", "mean", "std",
                                           "n_completed", "n_diverged", "n_failed", "n_running", "mixed"])

    def designs_table(self) -> pd.DataFrame:
        """Norms down, design x batch size across: the three designs side by side."""
        c = self.design_cells()
        if len(self.designs()) < 2:
            return pd.DataFrame({"note": ["only the report's design (fixed epochs and lr) in these runs: add the "
                                          "equal_steps / lr_scaled arms (params/fashion.yaml, params/paper_steps.yaml)"]})
        c = c.assign(cell=c.apply(_fmt_cell, axis=1),
                     design_name=c.design.map(lambda k: DESIGNS[k][0]),
                     col=c.apply(lambda r: f"{r.batch_size} ({r.epochs} ep, lr {r.lr:g})", axis=1))
        order = [DESIGNS[k][0] for k in self.designs()]
        wide = c.pivot_table(index="norm", columns=["design_name", "col"], values="cell", aggfunc="first")
        cols = sorted(wide.columns, key=lambda k: (order.index(k[0]), int(k[1].split(" ")[0])))
        wide = wide[cols].fillna("")
        wide = wide.reindex(sorted(wide.index, key=NORM_ORDER.index))
        wide.index = [NORM_NAMES.get(n, n) for n in wide.index]
        wide.columns.names = ["design", "batch size"]
        return wide

    def designs_note(self) -> str:
        c = self.design_cells()
        lines = []
        for k in self.designs():
            d = c[c.design == k]
            steps = ", ".join(f"batch {r.batch_size}: {r.steps:,} steps" for r in
                              d.drop_duplicates("batch_size").sort_values("batch_size").itertuples() if r.steps)
            lines.append(f"- **{DESIGNS[k][0]}**: {DESIGNS[k][1]} ({steps}).")
        return "\n".join(lines)

    @functools.cached_property
    def _batch_effects(self):
        from .claims import batch_effects
        return batch_effects(self)

    def batch_effect_table(self) -> pd.DataFrame:
        rows = sorted(self._batch_effects, key=lambda r: (NORM_ORDER.index(r["norm"]), list(DESIGNS).index(r["design"])))
        if not rows:
            return pd.DataFrame({"note": ["needs a design with batch 64 and a smaller batch size"]})
        t = pd.DataFrame([{
            "norm": NORM_NAMES[r["norm"]], "design": r["design_name"],
            f"batch {r['large']} − batch {r['small']}": "" if math.isnan(r["effect"]) else f"{r['effect']:+.2f}",
            "95 % CI": "" if math.isnan(r["ci_low"]) else f"[{r['ci_low']:+.1f},\u00a0{r['ci_high']:+.1f}]",
            "p (Holm)": _p(r["p"]), "shown?": {True: "yes", False: "not shown", None: "n/a"}[r["shown"]],
            "vs the report's design": r["verdict"]} for r in rows])
        t = t.groupby(["norm", "design"], sort=False).first()
        return t

    def batch_effect_note(self) -> str:
        return ("Batch-size effect = mean test accuracy at batch 64 minus at the design's smallest batch size "
                "(points; positive: the larger batch is better), Welch's t-test, its p Holm-adjusted over the table (the 95 % "
                "interval is each test's own, unadjusted; decisions follow the adjusted p). *survives*: shown in the report's design and, with the same sign, when steps (or "
                "lr) are equalized; *reverses*: shown with the opposite sign; *not shown when equalized*: the "
                "report's-design effect may be the step count (with few seeds, not shown is not the same as absent).")

    # ---- the report's claims ----
    @functools.cached_property
    def _claims(self):
        from .claims import report_claims
        return report_claims(self)

    def claims(self):
        return self._claims

    def claims_table(self) -> pd.DataFrame:
        rows = [{"#": c.id, "the report says": c.claim, "tested here": c.statement, "verdict": c.verdict,
                 "evidence (points, 95 % CI, adjusted p)": "; ".join(c.evidence)} for c in self.claims()]
        return pd.DataFrame(rows).set_index("#")

    def claims_markdown(self) -> str:
        """One block per claim: what the report says, what is tested, the verdict, the numbers behind it."""
        out = []
        for c in self.claims():
            out += [f"**{c.id}. {c.claim}**  ", f"Tested: {c.statement}  ", f"Verdict: **{c.verdict}** ({c.test}).", ""]
            out += [f"- {e}" for e in c.evidence] + [""]
        return "\n".join(out)

    def claims_note(self) -> str:
        from .claims import STABLE_POINTS, judged_on, report_self_check
        lines = [f"Judged on: {judged_on(self)}.", "",
                 "Verdicts: *supported* (every part shown in the claimed direction at α = 0.05), *not supported* "
                 "(a part shown in the opposite direction), *inconclusive* (no part contradicts it, some part is "
                 "not shown at this many seeds), *not testable with these runs* (a cell it needs is missing). "
                 f"\"Stable across batch sizes\" is read as: no batch size more than {STABLE_POINTS:g} points below "
                 "the norm's best (the 95 % interval of each drop under the margin).", "",
                 "What the report's own numbers say about themselves:"]
        lines += [f"- {t}" for t in report_self_check(self.reference)]
        sd = self.cells()
        sd = sd[(sd.norm == "none") & (sd.batch_size == 64)]
        if not sd.empty and not math.isnan(sd["std"].iloc[0]):
            lines.append(f"- Here the seed-to-seed sd of that cell is {sd['std'].iloc[0]:.2f} points "
                         f"(n={int(sd.n_completed.iloc[0])}, {self.short_label()}).")
        return "\n".join(lines)

    def time_table(self) -> pd.DataFrame:
        d = self.runs[self.runs.epochs_done > 0]
        d = d.assign(design=d.design.map(lambda k: DESIGNS[k][0] if k in DESIGNS else k.replace("_", " ")))
        t = d.groupby(["design", "norm", "batch_size"]).agg(
            runs=("run_id", "count"), train_s_mean=("train_seconds", "mean"), img_per_s=("images_per_s", "mean"))
        t.loc[("all", "all", "all"), :] = [len(d), d.train_seconds.sum(), d.images_per_s.mean()]
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
        cells = self.cells()
        order = [NORM_NAMES[n] for n in NORM_ORDER if n in set(cells.norm)]
        sizes = sorted(cells.batch_size.unique())
        fig = Figure(figsize=(10, 4.6))
        ax = fig.subplots()
        if not cells.empty:
            if not d.empty:
                sns.barplot(data=d, x="batch_size", y="test_acc", hue="norm_name", hue_order=order, order=sizes,
                            errorbar="sd", capsize=0.1, ax=ax, palette="deep")
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
                    ref = self.reference["table"].get((norm, int(bs)))
                    if ref is not None and self.comparable():
                        ax.plot([x - width / 2.5, x + width / 2.5], [ref, ref], color="crimson", lw=2,
                                label="report (1 run)" if first_ref else None)
                        first_ref = False
            ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
            ax.legend(title="norm", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.set(xlabel="batch size", ylabel="test accuracy %", ylim=(0, 100),
               title="Test accuracy after the last epoch (bars: mean ± sd over completed seeds; dots: runs)")
        return self._finish(fig, "accuracy_bars", self.main_grid(completed=False))

    def designs_chart(self):
        """One panel per design: test accuracy per norm at each of its batch sizes (mean ± sd, dots: runs)."""
        import seaborn as sns
        designs = self.designs()
        fig = Figure(figsize=(3.6 * max(1, len(designs)) + 1.2, 3.6))
        axes = fig.subplots(1, max(1, len(designs)), sharey=True, squeeze=False)[0]
        shown = pd.DataFrame()
        for ax, design in zip(axes, designs):
            d = self.arm(design, completed=True).assign(norm_name=lambda x: x.norm.map(SHORT_NAMES))
            shown = pd.concat([shown, self.arm(design)])
            order = [SHORT_NAMES[n] for n in NORM_ORDER if n in set(d.norm)]
            sizes = sorted(d.batch_size.unique())
            if not d.empty:
                sns.barplot(data=d, x="norm_name", y="test_acc", hue="batch_size", order=order, hue_order=sizes,
                            errorbar="sd", capsize=0.1, ax=ax, palette="crest")
                sns.stripplot(data=d, x="norm_name", y="test_acc", hue="batch_size", order=order, hue_order=sizes,
                              dodge=True, palette="dark:black", size=2.5, ax=ax, legend=False)
                if design == designs[-1]:
                    ax.legend(title="batch size", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
                else:
                    ax.get_legend().remove()
            ax.set(title=DESIGNS[design][0], xlabel="", ylabel="test accuracy %", ylim=(0, 100))
        return self._finish(fig, "designs", shown)

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
        if self.comparable():
            ref = sorted(self.reference["sweep"].items())
            ax.plot([r[0] for r in ref], [r[1] for r in ref], "s--", color="crimson", label="report (1 run)")
        ax.set(xscale="log", xlabel="learning rate", ylabel="test accuracy %", title="lr sweep: none, batch 64")
        if ax.get_legend_handles_labels()[0]:
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
        runs = self.runs.drop(columns=["curve", "key"])
        for name, df in (("results.csv", runs), ("cells.csv", self.cells()), ("designs.csv", self.design_cells())):
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
            "protocol": {k: (v.item() if hasattr(v, "item") else v) for k, v in self.protocol().items()},
            "comparable_to_report": self.comparable(), "duplicate_folders": self.duplicates,
            "status": self.runs.status.value_counts().to_dict(), "unreadable": self.problems,
            "comparisons": [vars(c) | {"shown": c.shown} for c in self.comparisons()],
            "designs": {k: DESIGNS[k][1] for k in self.designs()}, "fixed_epochs": self.fixed_epochs,
            "batch_effects": self._batch_effects,
            "claims": [c.as_dict() for c in self.claims()]})
        paths.append(self.report_dir / "summary.json")
        return paths


def assign_designs(df: pd.DataFrame, runs_dir: Path | str = "") -> tuple[pd.DataFrame, int]:
    """Label each run with the design it belongs to, from how its epochs and lr relate to its batch size:

    - ``fixed``: lr 0.005 and the fixed epochs E, which are the epochs at lr 0.005 that the most batch
      sizes share (the report's design);
    - ``equal_steps``: lr 0.005 and epochs = c x batch / 64 for one c other than E's family: every batch size
      takes the steps batch 64 takes in c epochs (c = E shares fixed's batch-64 runs);
    - ``lr_scaled``: E epochs and lr = 0.005 x batch / 64 at a batch size other than 64;
    - ``lr_sweep``: E epochs, batch 64, another lr; ``other``: none of these (kept in view, not in tables).
    Runs at lr 0.005 with epochs fitting neither the fixed design nor one equal-steps family are two
    protocols: ``ProtocolError``."""
    df = df.copy()
    if df.empty:
        return df.assign(design=pd.Series(dtype=str)), 0
    at_lr = np.isclose(df.lr, REFERENCE_LR)
    base = df[at_lr] if at_lr.any() else df
    by_epochs = base.groupby("epochs").agg(sizes=("batch_size", "nunique"), runs=("run_id", "count"))
    fixed = int(max(by_epochs.index, key=lambda e: (by_epochs.sizes[e], by_epochs.runs[e], e)))
    steps_c = df.epochs * ANCHOR_BATCH / df.batch_size  # the epochs batch 64 would take for the same steps
    design = np.where(at_lr & (df.epochs == fixed), "fixed", "other").astype(object)
    family = at_lr & (df.epochs != fixed)
    if family.any():
        cs = sorted(set(np.round(steps_c[family], 9)))
        sizes = set(df.batch_size[family]) | ({ANCHOR_BATCH} if cs == [fixed] else set())
        if len(cs) > 1 or len(sizes) < 2:
            listing = "; ".join(f"{int(r.runs)} runs with epochs={e}" for e, r in by_epochs.iterrows())
            raise ProtocolError(
                f"{runs_dir} holds runs of {len(by_epochs)} protocols, which differ in epochs ({listing}) at lr "
                f"{REFERENCE_LR:g} in a way that is neither one fixed number of epochs nor one equal-steps arm "
                f"(epochs proportional to the batch size). Their numbers are not comparable, so they are not "
                f"averaged together: choose one with the summary's select parameter (e.g. "
                f"select='epochs={int(by_epochs.index[0])}'), or keep each grid in its own runs folder.")
        design[family.to_numpy()] = "equal_steps"
    other_lr = ~at_lr & (df.epochs == fixed)
    scaled = other_lr & np.isclose(df.lr * ANCHOR_BATCH / df.batch_size, REFERENCE_LR) & (df.batch_size != ANCHOR_BATCH)
    design[scaled.to_numpy()] = "lr_scaled"
    design[(other_lr & (df.batch_size == ANCHOR_BATCH)).to_numpy()] = "lr_sweep"
    return df.assign(design=design), fixed


def _check_one_protocol(df: pd.DataFrame, runs_dir: Path) -> None:
    found = df.groupby(list(PROTOCOL), dropna=False).size().reset_index(name="runs")
    if len(found) == 1:
        return
    varying = [k for k in PROTOCOL if found[k].nunique(dropna=False) > 1]
    listing = "; ".join(f"{r.runs} runs with " + ", ".join(f"{k}={getattr(r, k)}" for k in varying)
                        for r in found.itertuples())
    raise ProtocolError(
        f"{runs_dir} holds runs of {len(found)} protocols, which differ in {', '.join(varying)} ({listing}). "
        f"Their numbers are not comparable, so they are not averaged together: choose one with the summary's "
        f"select parameter (e.g. select='{varying[0]}={found[varying[0]].iloc[0]}'), or keep each grid in its own "
        f"runs folder.")


def _images(d: pd.DataFrame) -> str:
    def n(col):
        v = sorted({int(x) for x in d[col].dropna()})
        return "/".join(f"{x:,}" for x in v) or "?"
    return f"{n('train_images')} train / {n('test_images')} test images"


def _fmt_cell(r) -> str:
    lost = [f"{int(r[k])} {w}" for k, w in (("n_diverged", "diverged"), ("n_failed", "failed"),
                                             ("n_running", "running")) if r[k]]
    tail = ("; " + ", ".join(lost)) if lost else ""
    if r.get("mixed"):
        tail += f"; mixed {r['mixed']}"
    if r["n_completed"] == 0:
        return f"— (n=0{tail})"
    sd = "" if math.isnan(r["std"]) else f" ± {r['std']:.2f}"
    return f"{r['mean']:.2f}{sd} (n={int(r['n_completed'])}{tail})"


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")
