"""The committed reports are what their committed records say: each rebuilds from reports/<grid>/records with
the same numbers, byte for byte (so a change of analysis shows up here until the reports are rebuilt)."""
import pytest

from alexlib.report.render.export import RECORDS, copy_records
from alexlib.report.study import Study

from conftest import REF, REPO, fake_run

COMMITTED = [p.parent.name for p in sorted((REPO / "reports").glob(f"*/{RECORDS}")) if (p.parent / "report.html").exists()]
# A study whose runs take hours commits its records as they land, before its report exists: in progress
IN_PROGRESS = [p.parent.name for p in sorted((REPO / "reports").glob(f"*/{RECORDS}")) if p.parent.name not in COMMITTED]
# Reports made before records were kept beside them, each with why and how to make its records
WITHOUT_RECORDS: dict[str, str] = {}
DATA_FILES = ("results.csv", "cells.csv", "designs.csv", "summary.json")


def test_every_committed_report_has_its_records():
    reports = sorted(p.parent.name for p in (REPO / "reports").glob("*/report.html"))
    assert reports and sorted(set(reports) - set(WITHOUT_RECORDS)) == COMMITTED
    assert not set(WITHOUT_RECORDS) & set(COMMITTED), "a report with records: take it off WITHOUT_RECORDS"


@pytest.mark.parametrize("grid", COMMITTED)
def test_a_committed_report_rebuilds_from_its_committed_records(grid, tmp_path):
    committed = REPO / "reports" / grid
    s = Study.load(str(committed / RECORDS), REF, str(tmp_path))
    s.write()
    for name in DATA_FILES:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), (
            f"reports/{grid}/{name} is not what its records give: rebuild it with "
            f"python -m alexlib.report reports/{grid}/{RECORDS} --out reports/{grid}")


def _pre_registered(grid: str) -> bool:
    from alexlib.report.domain import registration
    path = registration.FOLDER / f"{grid}.yaml"
    return path.exists() and registration.load(path).pre_registered


# a pre-registered study, in progress or finished: only finished runs of its grid or of a second stage its stages.json
# planned (seeds on demand: the registered second look), each made after its registration
PRE_REGISTERED = [g for g in COMMITTED + IN_PROGRESS if _pre_registered(g)]


@pytest.mark.parametrize("grid", PRE_REGISTERED)
def test_a_pre_registered_study_commits_only_finished_runs_of_its_registered_grid(grid):
    import json

    import yaml

    from alexlib.grid.plan import load_grid
    from alexlib.report.domain import registration
    reg = registration.load(registration.FOLDER / f"{grid}.yaml")
    assert reg.pre_registered and reg.check([]) == []
    from alexlib.stages import read_stages
    planned = {c.run_id() for c in load_grid(REPO / "params" / f"{grid}.yaml", REPO / "runs" / grid).runs}
    stages = read_stages(REPO / "reports" / grid / RECORDS)
    added = {rid for st in stages for rid in st.runs}
    assert all(st.planned_at > reg.registered_at for st in stages) and not added & planned
    planned |= added
    for m in (REPO / "reports" / grid / RECORDS).glob("*/metrics.json"):
        rec = json.loads(m.read_text())
        assert rec["status"] in ("completed", "diverged", "failed") and m.parent.name in planned
        assert rec["updated_at"] > reg.registered_at and "data_dir" not in yaml.safe_dump(rec.get("dataset"))
        assert all(rec["started_at"] > st.planned_at for st in stages if m.parent.name in st.runs)   # planned first


def test_records_are_copied_beside_the_report_and_never_over_themselves(tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        fake_run(runs, norm="bn", seed=seed)
    (next(runs.iterdir()) / "checkpoint.pt").write_bytes(b"x")
    out = copy_records(runs, tmp_path / "rep" / RECORDS)
    got = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert got == sorted(p.relative_to(runs) for p in runs.rglob("metrics.json"))
    assert copy_records(out, out) == out and len(list(out.rglob("metrics.json"))) == 2


def test_report_help_shows_the_select_form(capsys):
    from alexlib.report.render.export import main
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--select FIELD=VALUE[,FIELD=VALUE]" in text and "dataset=fashion_mnist,image_size=63" in text


def test_a_report_whose_inputs_did_not_change_is_left_as_it_is(tmp_path, capsys):
    """make report / make demo twice: the second leaves the report's files untouched (git status clean);
    a changed record rebuilds it."""
    from alexlib.report.render.export import STAMP, build_report
    runs = tmp_path / "runs"
    for seed in (0, 1):
        fake_run(runs, norm="bn", seed=seed)
        fake_run(runs, norm="gn", seed=seed)
    out = tmp_path / "rep"
    build_report(runs, out, pdf=False, only_if_changed=True)
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert (out / STAMP).is_file() and (out / "report.html").is_file()
    build_report(runs, out, pdf=False, only_if_changed=True)
    assert "report unchanged" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == files
    fake_run(runs, norm="gn", seed=2)
    build_report(runs, out, pdf=False, only_if_changed=True)
    assert (out / "report.html").stat().st_mtime_ns != files[out / "report.html"]


def test_the_pdf_renderer_is_weasyprint_then_chromium_and_says_what_to_install(monkeypatch):
    import sys

    from alexlib.report.render import export as R
    monkeypatch.delenv("ALEXLIB_PDF", raising=False)
    assert R.pdf_renderer() == "weasyprint"   # installed by requirements.txt: no browser needed
    monkeypatch.setitem(sys.modules, "weasyprint", None)   # as where it cannot load
    monkeypatch.setattr(R, "find_browser", lambda: "/usr/bin/chromium")
    assert R.pdf_renderer() == "chromium"
    monkeypatch.setattr(R, "find_browser", lambda: None)
    with pytest.raises(R.NoRenderer, match="libpango-1.0-0.*chromium"):
        R.pdf_renderer()
    monkeypatch.setenv("ALEXLIB_PDF", "latex")
    with pytest.raises(R.NoRenderer, match="weasyprint, chromium or unset"):
        R.pdf_renderer()


@pytest.mark.parametrize("grid", COMMITTED)
def test_a_committed_summary_holds_one_value_and_one_interval_per_quantity(grid):
    """A quantity two parts (or a part and a table) show has one estimate and one interval, at one level, never
    past what a difference of accuracies allows."""
    import json
    s = json.loads((REPO / "reports" / grid / "summary.json").read_text())
    seen: dict[str, tuple] = {}
    for c in s["claims"]:
        for p in c["parts"]:
            if p["diff"] is None or not p["quantity"]:
                continue
            flip = p.get("sign", 1)
            value = tuple(round(v, 9) for v in (p["diff"], p["ci_low"], p["ci_high"]))
            assert p["level"] == 0.95
            assert -100 <= p["ci_low"] <= p["ci_high"] <= 100
            key = (p["quantity"], flip)
            assert seen.setdefault(key, value) == value, (grid, p["quantity"])
    levels = {r["level"] for r in s["comparisons"] if r.get("level") is not None}
    assert levels <= {0.95}, levels


@pytest.mark.parametrize("grid", COMMITTED)
def test_no_table_or_figure_of_a_committed_report_leaves_its_page(grid):
    """Read from the PDF's own layout (pdftotext -bbox): every word lies inside the page less half its 12 mm
    margin, and the report is ten pages at most (a reader gets the answers from ten)."""
    import os
    import re
    import shutil
    import subprocess
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must read the PDF's layout: pdftotext (poppler-utils) is missing")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run(["pdftotext", "-bbox", str(REPO / "reports" / grid / "report.pdf"), "-"],
                         capture_output=True, text=True, check=True).stdout
    pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', out, re.S)
    assert 0 < len(pages) <= 10, f"reports/{grid}/report.pdf has {len(pages)} pages"
    half_margin = 6 / 25.4 * 72   # points
    outside = []
    for i, (w, h, body) in enumerate(pages, 1):
        for x0, y0, x1, y1, word in re.findall(
                r'xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">([^<]*)<', body):
            if float(x1) > float(w) - half_margin or float(y1) > float(h) - half_margin or float(x0) < half_margin:
                outside.append(f"page {i}: {word!r} at x {float(x0):.0f}-{float(x1):.0f}")
    assert not outside, outside[:10]


@pytest.mark.parametrize("grid", COMMITTED)
def test_page_one_holds_the_findings_and_every_claim_of_both_ledgers(grid):
    """A reader who stops at page 1 has the plain findings and each claim's verdict: the first page's text holds
    "In brief", the registration line, and the last claim of each source's ledger the report shows."""
    import json
    import os
    import shutil
    import subprocess
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must read the PDF: pdftotext (poppler-utils) is missing")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    page1 = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(REPO / "reports" / grid / "report.pdf"),
                            "-"], capture_output=True, text=True, check=True).stdout
    assert "In brief" in page1 and ("registered" in page1)
    claims = json.loads((REPO / "reports" / grid / "summary.json").read_text())["claims"]
    shown = [c["id"] for c in claims if not c["id"].startswith("G")]
    shown += [c["id"] for c in claims if c["id"].startswith("G") and c["verdict"] != "not testable"]
    for last in {shown[-1], [c for c in shown if not c.startswith("G")][-1]}:
        assert f"\n {last}. " in page1 or f"\n{last}. " in page1, f"claim {last} is not on page 1 of reports/{grid}"
