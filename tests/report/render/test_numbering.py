"""Figure and table numbers: consecutive and unique in each kind, in the notebook's order, and every number the
text names is a figure or table the report has; held on the committed reports as they are typeset (HTML and PDF)."""
import html
import re
import shutil
import subprocess

import pytest

from alexlib.report.render.numbering import FIGURE, TABLE, Numbering, outline

from conftest import REPO

COMMITTED = sorted(p.parent for p in (REPO / "reports").glob("*/report.html"))
CAPTION = re.compile(r"\b(Figure|Table) (\d+)\.(?!\d)")
NAMED = re.compile(r"\b(Figure|Table)s? (\d+)((?:(?:, | and |–)\d+)*)")


def html_text(path) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", path.read_text())))


def body(text: str) -> str:
    """The text without its style sheet and the document's code (captions and prose)."""
    return text[text.find("AlexNet × normalization × batch size: the study"):]


def captions(text: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {FIGURE: [], TABLE: []}
    for kind, n in CAPTION.findall(text):
        out[kind].append(int(n))
    return out


def named(text: str) -> set[tuple[str, int]]:
    """Every (kind, number) the text names: 'Figure 2', 'Tables 7–12', 'Tables 2 and 3', 'Figures 1, 3 and 4'."""
    out = set()
    for kind, first, rest in NAMED.findall(text):
        nums = [int(first)] + [int(x) for x in re.findall(r"\d+", rest)]
        if "–" in rest:
            nums = list(range(nums[0], nums[-1] + 1))
        out |= {(kind, n) for n in nums}
    return out


def check(text: str) -> None:
    caps = captions(text)
    for kind, nums in caps.items():
        assert nums == list(range(1, len(nums) + 1)), f"{kind} captions out of order or repeated: {nums}"
    missing = {(k, n) for k, n in named(text) if n not in caps[k]}
    assert not missing, f"named but not in the report: {sorted(missing)}"


def test_numbers_run_from_one_in_each_kind_and_a_key_has_one_number():
    n = Numbering(outline({"protocol", "accuracy_bars", "accuracy", "differences"}, ["1", "2"]))
    # the protocol is the method's (appendix C), after the claims' tables
    assert [n.ref(k) for k in ("accuracy_bars", "accuracy", "claim:1", "claim:2", "differences", "protocol")] == [
        "Figure 1", "Table 1", "Table 2", "Table 3", "Figure 2", "Table 4"]
    assert n.see("claim:1", "claim:2", "protocol", "differences") == "(Tables 2–4; Figure 2)"
    assert n.see("claim:1", "claim:2", "accuracy") == "(Tables 1–3)" and n.see("plan") == ""
    assert n.caption("accuracy", "Accuracy.") == "**Table 1.** Accuracy."
    with pytest.raises(KeyError, match="plan"):
        n.ref("plan")
    with pytest.raises(ValueError, match="twice"):
        Numbering([(TABLE, "a"), (FIGURE, "a")])


def test_the_checks_can_fail():
    with pytest.raises(AssertionError, match="out of order"):
        check("Table 1. a Table 3. b")
    with pytest.raises(AssertionError, match="Table', 4"):
        check("Table 1. a Table 2. b, see (Tables 2–4)")
    with pytest.raises(AssertionError, match="Figure', 2"):
        check("Figure 1. a (Figures 1 and 2)")
    check("Table 1. a Table 2. b Figure 1. c (Tables 1 and 2; Figure 1)")


@pytest.mark.parametrize("report", COMMITTED, ids=lambda p: p.name)
def test_a_committed_report_numbers_its_figures_and_tables_and_names_only_those(report):
    text = body(html_text(report / "report.html"))
    check(text)
    caps = captions(text)
    assert caps[FIGURE] and caps[TABLE]
    assert named(text) - {(k, n) for k in caps for n in caps[k]} == set()
    if shutil.which("pdftotext"):   # the PDF carries the same numbers as the HTML
        pdf = subprocess.run(["pdftotext", str(report / "report.pdf"), "-"], capture_output=True, text=True).stdout
        assert captions(" ".join(pdf.split())) == caps
