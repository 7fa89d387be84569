"""The README quotes the committed reports: every verdict its claims tables give is the one the study's
summary.json holds, and every interval they print is one that summary.json has (so a number or a verdict in the
README cannot differ from its report). Each findings section names the studies its table's columns quote."""
import json
import re

import pytest

from conftest import REPO

# a findings section (the start of its heading) -> its table's verdict columns (counted from the right) and the
# committed report each quotes
SECTIONS = {
    "## What it found on CIFAR-10 (JPEG q75 copy)": {-3: "cifar10_jpeg", -2: "fashion"},
    "## What it found on Fashion-MNIST": {-2: "fashion"},
}


def _section(text: str, heading: str) -> str:
    """The README's text from ``heading`` to the next heading of its level."""
    start = text.index("\n" + heading) + 1
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _rows(text: str) -> dict[str, str]:
    """Claim id -> its README table row, for the rows that start with a claim id ('| 1. ', '| G2. ')."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| (G?\d)\. .*$", text, re.M)}


def _summary(grid: str) -> tuple[dict[str, str], set[tuple[float, float]]]:
    summary = json.loads((REPO / "reports" / grid / "summary.json").read_text())
    intervals = {(round(p["ci_low"], 1), round(p["ci_high"], 1))
                 for c in summary["claims"] for p in c["parts"] if p["diff"] is not None}
    return {c["id"]: c["verdict"] for c in summary["claims"]}, intervals


@pytest.mark.parametrize("heading", SECTIONS)
def test_the_readmes_claims_tables_are_what_the_committed_reports_say(heading):
    rows = _rows(_section((REPO / "README.md").read_text(), heading))
    for column, grid in SECTIONS[heading].items():
        verdicts, intervals = _summary(grid)
        assert set(rows) == set(verdicts), (heading, sorted(rows), sorted(verdicts))
        for cid, row in rows.items():
            cell = row.split("|")[column]
            said = re.search(r"\*\*([a-z ]+)\*\*", cell).group(1)
            assert said == verdicts[cid], (heading, grid, cid, said, verdicts[cid])
            for lo, hi in re.findall(r"\[([−+-]?\d+\.\d), ([−+-]?\d+\.\d)\]", cell):
                got = (float(lo.replace("−", "-")), float(hi.replace("−", "-")))
                assert got in intervals, (heading, grid, cid, got)


def test_every_findings_section_is_checked():
    headings = re.findall(r"^## What it found.*$", (REPO / "README.md").read_text(), re.M)
    assert headings and all(any(h.startswith(k) for k in SECTIONS) for h in headings), headings
