"""Export: the report folder's files, and the report itself. ``write_report`` writes results.csv (one row per
run), cells.csv (per norm x batch size), designs.csv (per design, norm and batch size), every figure as PNG, and
summary.json (``summary_index``), the index a script reads instead of the notebook, each written whole (a
temporary file, then a rename), so a reader never sees half of one. ``build_report`` executes
notebooks/summary.ipynb over a runs folder and writes report.html and report.pdf (code hidden) beside them.

The PDF comes from WeasyPrint (a pip package, installed by `make test` / `make report`; it needs the Pango
library, present on Debian/Ubuntu desktops and installed by .ci/run where missing), and from a headless
Chromium where WeasyPrint cannot load: ALEXLIB_PDF=weasyprint|chromium chooses.

    python -m alexlib.report runs/paper --out reports/paper
    python -m alexlib.report reports/paper/records --out reports/paper     # rebuilt from the committed records
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

import alexlib

from ...io import atomic_path, save_figure, write_csv, write_json, write_text
from ...notebooks import execute
from ...paths import SUMMARY_NOTEBOOK, from_repo
from ...stages import STAGES, SecondStage
from ...train.config import Help
from ...train.record import METRICS, record_paths
from ...vocab import DESIGNS, PROTOCOL
from ..domain.analysis import Analysis
from ..domain.claims import SOURCES, claim_spec
from ..domain.runs import comparable, designs, is_synthetic
from .texts import label

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
LOCAL_MATHJAX = "/usr/share/javascript/mathjax/MathJax.js"  # Debian's libjs-mathjax, for offline HTML
RECORDS = "records"  # reports/<grid>/records/<run>/metrics.json: the raw records behind the report
STAMP = "inputs.sha256"  # the digest of what the report was made from
METHOD = "docs/STATISTICS.md"  # the method, the report's appendix B


# ---------------------------------------------------------------------------------------------------
# The report folder's files
# ---------------------------------------------------------------------------------------------------
DPI = 120


def write_report(report_dir: Path, runs: pd.DataFrame, cells: pd.DataFrame, design_cells: pd.DataFrame,
                 figures: dict[str, Figure], index: dict[str, Any]) -> list[Path]:
    """Write the report folder; returns the paths written: the CSVs, the PNGs (``figures``: file stem ->
    figure), then summary.json (``index``: see ``summary_index``)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    # a run's curve (a list) stays in its metrics.json; its key (JSON) only tells duplicates apart
    tables = {"results.csv": runs.drop(columns=["curve", "loss_curve", "key", "layers_last"], errors="ignore"), "cells.csv": cells, "designs.csv": design_cells}
    paths = [write_csv(report_dir / name, df) for name, df in tables.items()]
    paths += [save_figure(report_dir / f"{name}.png", fig, dpi=DPI) for name, fig in figures.items()]
    write_json(report_dir / "summary.json", index)
    return paths + [report_dir / "summary.json"]


def summary_index(runs: pd.DataFrame, protocol: dict[str, Any], fixed_epochs: int, duplicates: int,
                  problems: list[dict[str, str]], analysis: Analysis, findings: list[dict[str, str]],
                  flags: list[dict[str, Any]], convergence: pd.DataFrame, stages: list[SecondStage],
                  against: dict[str, Any] | None = None, small: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json: the first pages' findings, what the runs are and their statuses, each claim part by part
    (its outcome, margin, interval and level, the p its decision used), every comparison and batch-size effect
    (each with the level of its decision, or the claim that decided it), the flags, convergence, and the stages."""
    return {
        "findings": findings, "label": label(runs), "synthetic": is_synthetic(runs), "runs": len(runs),
        "protocol": {k: (v.item() if hasattr(v, "item") else v) for k, v in protocol.items()},
        "comparable_to_report": comparable(protocol), "duplicate_folders": duplicates,
        "status": runs.status.value_counts().to_dict(), "unreadable": problems,
        "claims": [c.as_dict() | {"source": claim_spec(c.id).source} for c in analysis.claims],
        "claims_in_the_papers_design": [c.as_dict() | {"source": claim_spec(c.id).source, "design": "lr_scaled"}
                                        for c in analysis.paper_design],
        "claim_sources": {k: {"title": v.title, "numbers": v.numbers,
                              "batch_sizes": list(v.sizes) if v.sizes else "all"} for k, v in SOURCES.items()},
        "comparisons": [vars(c) | {"shown": c.shown} for c in analysis.comparisons],
        "designs": {k: DESIGNS[k][1] for k in designs(runs)}, "fixed_epochs": fixed_epochs,
        "batch_effects": analysis.batch_effects, "vs_none": analysis.vs_none, "flags": flags,
        "convergence": convergence.to_dict(orient="records"),
        "stages": {"seeds_by_stage": runs.groupby("stage").size().to_dict() if "stage" in runs else {1: len(runs)},
                   "second": [s.to_json() for s in stages], "design": two_stage_design()},
        "small_batches": small or {}, "against_committed": against, "method": "docs/STATISTICS.md"}


def two_stage_design() -> dict[str, Any]:
    """The design the verdicts follow, as numbers: the weights, and each claim size's boundaries."""
    from ...vocab import ALPHA
    from ..inference import looks
    return {"looks": 2, "boundaries": "O'Brien-Fleming", "combination": "inverse normal", "weights": list(looks.WEIGHTS),
            "alpha": ALPHA, "per_part": "Bonferroni over a claim's parts: each one-sided test at alpha / (2 parts)"}


# ---------------------------------------------------------------------------------------------------
# The report: the summary notebook executed, exported to HTML and PDF
# ---------------------------------------------------------------------------------------------------
def find_browser() -> str | None:
    env = os.environ.get("ALEXLIB_BROWSER")
    if env:
        return env
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


TITLE = "AlexNet × normalization × batch size: results"


def execute_summary(runs_dir: Path, out_dir: Path, reference: str = "params/reference.yaml", select: str = "",
                    note: str = "", against: str = "") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / "summary.ipynb"
    execute(SUMMARY_NOTEBOOK, executed, {"runs_dir": str(runs_dir), "report_dir": str(out_dir), "reference": reference,
                                         "select": select, "note": note, "against": against})
    return executed


def to_html(executed: Path, html: Path, title: str = TITLE) -> Path:
    import nbformat
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    if Path(LOCAL_MATHJAX).exists():
        exporter.mathjax_url = "file://" + LOCAL_MATHJAX
    nb = nbformat.read(executed, as_version=4)
    nb.metadata["title"] = title  # the page's <title>, and so the PDF's title
    body, _ = exporter.from_notebook_node(nb)
    return write_text(html, body)


class NoRenderer(RuntimeError):
    pass


def pdf_renderer() -> str:
    """``weasyprint`` when it loads (its Pango library present), else ``chromium`` when one is found;
    ALEXLIB_PDF=weasyprint|chromium forces one. Raises NoRenderer saying what to install."""
    want = os.environ.get("ALEXLIB_PDF", "auto")
    if want not in ("auto", "weasyprint", "chromium"):
        raise NoRenderer(f"ALEXLIB_PDF must be weasyprint, chromium or unset, got {want!r}")
    why = ""
    if want in ("auto", "weasyprint"):
        try:
            importlib.import_module("weasyprint")  # loads Pango: an OSError where the library is missing
            return "weasyprint"
        except (ImportError, OSError) as e:
            why = f"WeasyPrint could not load ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
            if want == "weasyprint":
                raise NoRenderer(why + ". Install it with `make test` (pip) and the Pango library "
                                       "(Debian/Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0).") from None
    if find_browser():
        return "chromium"
    raise NoRenderer((why + "; and " if why else "") + "no Chromium found. Install WeasyPrint's Pango library "
                     "(Debian/Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0) or a Chromium "
                     "(apt-get install chromium; or set ALEXLIB_BROWSER to a Chrome/Chromium binary), then rerun.")


def to_pdf(html: Path, pdf: Path, renderer: str | None = None) -> Path:
    """The HTML page as a PDF (A4, as the page's CSS says), by ``renderer`` (default: ``pdf_renderer()``);
    no network is used."""
    renderer = renderer or pdf_renderer()
    if renderer == "weasyprint":
        return _weasyprint(html, pdf)
    return _chromium(html, pdf, find_browser() or "chromium")


def _weasyprint(html: Path, pdf: Path) -> Path:
    import logging

    from weasyprint import HTML
    from weasyprint.urls import URLFetcher
    logging.getLogger("weasyprint").setLevel(logging.ERROR)   # the lab template's CSS it does not use
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    # offline: the report's images and styles are inline or local files
    with atomic_path(pdf) as tmp:
        HTML(filename=str(html), base_url=str(html.parent),
             url_fetcher=URLFetcher(allowed_protocols=("file", "data"))).write_pdf(str(tmp))
    return pdf


def _chromium(html: Path, pdf: Path, browser: str) -> Path:
    """Headless Chromium prints the HTML page; no network is used."""
    with tempfile.TemporaryDirectory(prefix="alexlib-chromium-") as profile, atomic_path(pdf) as tmp:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
               "--no-pdf-header-footer", "--virtual-time-budget=10000", f"--print-to-pdf={tmp}", html.resolve().as_uri()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if r.returncode != 0 or tmp.stat().st_size == 0:
            raise RuntimeError(f"{browser} could not print {html} to PDF (exit {r.returncode}): {r.stderr[-800:]}")
    return pdf


def copy_records(runs_dir: Path, records: Path) -> Path:
    """Every run's metrics.json beside the report (no checkpoints, no executed notebooks: about 8 kB a run), and
    the stages a second stage added (stages.json), so a later change of analysis rebuilds the report from them in
    seconds and can be diffed. Nothing to do when the report is being rebuilt from those records."""
    if runs_dir.resolve() == records.resolve():
        return records
    fresh = records.with_name(records.name + ".tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    for m in record_paths(runs_dir):
        dst = fresh / m.parent.relative_to(runs_dir) / METRICS
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(m, dst)
    fresh.mkdir(parents=True, exist_ok=True)
    if (runs_dir / STAGES).is_file():
        shutil.copyfile(runs_dir / STAGES, fresh / STAGES)
    shutil.rmtree(records, ignore_errors=True)
    fresh.replace(records)
    return records


def inputs_digest(runs_dir: Path, reference: str, select: str, note: str, against: Path | None = None) -> str:
    """sha256 over everything a report is made from: every record below ``runs_dir``, the summary notebook,
    the reference numbers, alexlib's source, the pinned packages (an upgrade can change a figure), the select and
    the note."""
    h = hashlib.sha256()
    package = Path(alexlib.__file__).resolve().parent   # alexlib/, every subpackage
    pins = [p for p in [from_repo("requirements.txt")] if p.is_file()]
    files = record_paths(runs_dir) + [p for p in [runs_dir / STAGES] if p.is_file()] + \
        [SUMMARY_NOTEBOOK, from_repo(reference), from_repo(METHOD)] + pins + \
        sorted(package.rglob("*.py"))
    for p in files:
        name = p.relative_to(runs_dir) if p.is_relative_to(runs_dir) else \
            p.relative_to(package.parent) if p.is_relative_to(package.parent) else p.name
        h.update(str(name).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    for p in record_paths(against) if against else []:
        h.update(b"against\0" + p.read_bytes() + b"\0")
    h.update(f"{select}\0{note}".encode())
    return h.hexdigest()


def build_report(runs_dir: str | Path, out_dir: str | Path, reference: str = "params/reference.yaml",
                 pdf: bool = True, select: str = "", note: str = "", only_if_changed: bool = False,
                 against: str | Path | None = None) -> dict[str, Path]:
    """The summary notebook over ``runs_dir``, executed into ``out_dir``, then HTML and PDF. ``note``: a line
    the report opens with (the pipeline says there which grid it chose and why). ``only_if_changed``: leave a
    report whose inputs are the same as when it was made as it is (make report / make demo run twice leave
    git status clean). ``against``: a committed report (or its records) this run is checked against, read as it
    is now, before this report may rewrite that folder."""
    runs_dir, out_dir = from_repo(runs_dir), from_repo(out_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs folder {runs_dir} does not exist; run a grid into it first")
    with committed_copy(against, runs_dir) as then:
        return _build(runs_dir, out_dir, reference, pdf, select, note, only_if_changed, then)


@contextlib.contextmanager
def committed_copy(against: str | Path | None, runs_dir: Path):
    """The committed records to check against, copied aside (the report being built may rewrite them), or None."""
    if not against:
        yield None
        return
    src = from_repo(against)
    src = src / RECORDS if (src / RECORDS).is_dir() else src
    if not record_paths(src):
        raise FileNotFoundError(f"--against {against}: no records there (a committed report's folder or its records)")
    if src.resolve() == runs_dir.resolve():
        raise ValueError(f"--against {against}: that is the folder being reported on")
    with tempfile.TemporaryDirectory(prefix="alexlib-against-") as tmp:
        copy = Path(tmp) / "records"
        copy_records(src, copy)
        yield copy


def _build(runs_dir: Path, out_dir: Path, reference: str, pdf: bool, select: str, note: str, only_if_changed: bool,
           against: Path | None) -> dict[str, Path]:
    digest = inputs_digest(runs_dir, reference, select, note, against)
    stamp = out_dir / STAMP
    made = {"notebook": out_dir / "summary.ipynb", "html": out_dir / "report.html"}
    renderer = None
    if pdf:
        try:
            renderer = pdf_renderer()
            made["pdf"] = out_dir / "report.pdf"
        except NoRenderer as e:
            why_no_pdf = str(e)
    if only_if_changed and stamp.is_file() and stamp.read_text().strip() == digest and all(
            p.is_file() for p in made.values()):
        print(f"report unchanged: its inputs (records, notebook, code) are the ones it was made from ({out_dir})")
        return made
    executed = execute_summary(runs_dir, out_dir, reference, select, note, str(against or ""))
    copy_records(runs_dir, out_dir / RECORDS)
    title = f"{TITLE} ({out_dir.name})"
    made = {"notebook": executed, "html": to_html(executed, out_dir / "report.html", title)}
    if pdf:
        if renderer is None:
            print(f"PDF skipped: {why_no_pdf} The HTML report is at {made['html']}.", file=sys.stderr)
        else:
            made["pdf"] = to_pdf(made["html"], out_dir / "report.pdf", renderer)
    write_text(stamp, digest + "\n")
    if against is not None:
        from ...io import read_json
        summary = read_json(out_dir / "summary.json").get("against_committed") or {}
        if summary:
            from .texts import summary_line
            print(summary_line(summary, "the committed study"))
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.report", description=__doc__.splitlines()[0],
                                formatter_class=Help)
    p.add_argument("runs", help="a runs folder, e.g. runs/paper, or a report's records (reports/paper/records)")
    p.add_argument("--out", metavar="FOLDER", default=None, help="report folder; none: reports/<runs folder name>")
    p.add_argument("--reference", metavar="FILE", default="params/reference.yaml",
                   help="the report's published numbers (YAML)")
    p.add_argument("--no-pdf", action="store_true",
                   help="write HTML only (the PDF: WeasyPrint, else Chromium; ALEXLIB_PDF=weasyprint|chromium)")
    p.add_argument("--select", default="", metavar="FIELD=VALUE[,FIELD=VALUE]",
                   help="when the folder holds runs of several protocols, the one to report, e.g. "
                        "'dataset=digits' or 'dataset=fashion_mnist,image_size=63' (fields: "
                        + ", ".join(PROTOCOL + ("epochs", "lr", "norm", "batch_size", "seed")) + ")")
    p.add_argument("--against", metavar="FOLDER", default="",
                   help="a committed report (e.g. reports/fashion) to check this rerun against, cell by cell and verdict "
                        "by verdict; read before this report may rewrite it")
    a = p.parse_args(argv)
    try:
        made = build_report(a.runs, a.out or f"reports/{Path(a.runs).name}", a.reference, pdf=not a.no_pdf,
                            against=a.against or None,
                            select=a.select)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # papermill's execution error carries the notebook's traceback
        print(f"error: the summary notebook failed: {getattr(e, 'ename', type(e).__name__)}: "
              f"{getattr(e, 'evalue', e)}", file=sys.stderr)
        return 1
    for k, v in made.items():
        print(f"{k}: {v}")
    return 0

