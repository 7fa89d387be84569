"""The README quotes the committed report: every verdict its claims tables give is the one summary.json holds, and
every interval they print is one summary.json has (so a number or a verdict in the README cannot differ)."""
import json
import re

from conftest import REPO


def _rows(text: str) -> dict[str, str]:
    """Claim id -> its README table row, for the rows that start with a claim id ('| 1. ', '| G2. ')."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| (G?\d)\. .*$", text, re.M)}


def test_the_readmes_claims_tables_are_what_the_fashion_report_says():
    text = (REPO / "README.md").read_text()
    summary = json.loads((REPO / "reports" / "fashion" / "summary.json").read_text())
    rows = _rows(text)
    verdicts = {c["id"]: c["verdict"] for c in summary["claims"]}
    assert set(rows) == set(verdicts), (sorted(rows), sorted(verdicts))
    intervals = set()
    for c in summary["claims"]:
        for p in c["parts"]:
            if p["diff"] is not None:
                intervals.add((round(p["ci_low"], 1), round(p["ci_high"], 1)))
    for cid, row in rows.items():
        said = re.search(r"\*\*([a-z ]+)\*\*", row.split("|")[-2]).group(1)
        assert said == verdicts[cid], (cid, said, verdicts[cid])
        for lo, hi in re.findall(r"\[([−+-]?\d+\.\d), ([−+-]?\d+\.\d)\]", row):
            got = (float(lo.replace("−", "-")), float(hi.replace("−", "-")))
            assert got in intervals, (cid, got)
