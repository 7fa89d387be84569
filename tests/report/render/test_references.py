"""The references: one registry; every citation in a committed report has an entry and is listed in its References,
and every entry is cited, in the text, by at least one committed report."""
import html
import re

import pytest

from alexlib.report.render.references import REFERENCES, cite, cited_in, references_markdown, uncited_forms

from conftest import REPO

COMMITTED = sorted(p.parent for p in (REPO / "reports").glob("*/report.html"))


def split(report) -> tuple[str, str]:
    """(the report's text without its References, the References section's text)."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", (report / "report.html").read_text())))
    text = text[text.find("AlexNet × normalization × batch size: the study"):]
    head, refs = text.split("References ¶", 1) if "References ¶" in text else text.split(" References ", 1)
    return head, refs   # the References are the report's last section


def test_short_forms_are_unique_and_a_missing_key_is_an_error():
    shorts = [r.short for r in REFERENCES.values()]
    assert len(set(shorts)) == len(shorts)
    assert cite("gn") == "Wu & He 2018"
    with pytest.raises(KeyError, match="no reference 'smith'"):
        cite("smith")


def test_a_citation_with_no_entry_is_found():
    assert uncited_forms("as in Smith & Jones 2020 and Wu & He 2018") == {"Smith & Jones 2020"}
    assert uncited_forms("Goyal et al. 2017; Dunn 1961; Lihua Xianxue n.d.") == set()
    assert cited_in("O'Brien &\n  Fleming 1979") == ["obf"]
    assert "Group normalization" in references_markdown("(Wu & He 2018)")
    assert "Dunn" not in references_markdown("(Wu & He 2018)")


@pytest.mark.parametrize("report", COMMITTED, ids=lambda p: p.name)
def test_every_citation_has_its_entry_listed_and_every_listed_entry_is_cited(report):
    text, refs = split(report)
    assert not uncited_forms(text), uncited_forms(text)
    cited = set(cited_in(text))
    listed = {k for k, r in REFERENCES.items() if r.entry.replace("*", "")[:40] in refs}
    assert cited == listed, (cited - listed, listed - cited)
    assert {"report", "alexnet", "bn", "ln", "gn", "dunn"} <= cited


def test_every_entry_is_cited_by_a_committed_report():
    cited = set().union(*(cited_in(split(r)[0]) for r in COMMITTED))
    assert set(REFERENCES) - cited == set()
