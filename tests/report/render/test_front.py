"""Page 1: the protocol beside the report's, and one row per claim with the report's numbers, ours for the same
cells and the verdict in words, flagged cells named."""
import pytest

from alexlib.report.render import front as P1

from conftest import cell, study


def full_grid(tmp_path, bn8=80.0):
    for norm, acc in (("none", 60.0), ("bn", 82.0), ("ln", 81.0), ("gn", 81.5)):
        for bs in (8, 16, 32, 64):
            cell(tmp_path, norm, bs, bn8 if (norm, bs) == ("bn", 8) else acc)
    return study(tmp_path)


def test_every_claim_has_its_row_with_both_sides_numbers(tmp_path):
    s = full_grid(tmp_path)
    t = s.reproduced_table()
    from alexlib.report.domain.claims import CLAIMS
    report, paper = ([c.id for c in CLAIMS if c.source == k] for k in ("report", "gn_paper"))   # the registry's
    assert len(t) == len([c for c in s.claims() if c.id in report]) == len(report)   # the report's block
    assert [i.split(".")[0] for i in s.reproduced_table(source="gn_paper").index] == paper
    assert list(t.columns) == ["the report", "here (means)", "verdict"]
    row2 = t.loc[[i for i in t.index if i.startswith("2.")][0]]
    assert "39.1" in row2["the report"] and "60.0" in row2["here (means)"]
    assert all(v.removeprefix("*demo:* ").startswith("**") for v in t.verdict)   # fake runs are digits: a demo


def test_a_claim_resting_on_a_cell_near_chance_says_so(tmp_path):
    s = full_grid(tmp_path, bn8=12.0)
    t = s.reproduced_table()
    row3 = t.loc[[i for i in t.index if i.startswith("3.")][0]]
    assert "rests on near chance BN 8" in row3.verdict


def test_the_protocol_table_sets_the_report_beside_this_study(tmp_path):
    s = full_grid(tmp_path)
    t = P1.protocol_table(s.runs)
    assert list(t.columns) == ["the report", "here"]
    assert "CIFAR-10" in t.loc["data", "the report"] and "8, 16, 32, 64" in t.loc["batch sizes", "here"]


def test_a_new_claim_is_one_registry_entry_with_its_page_1_line(tmp_path, monkeypatch):
    """A claim registered in claims.py (words, statement, parts, page-1 cells) is judged and shown on page 1 with
    nothing else changed; its page-1 line is a required part of the entry."""
    from alexlib.report.domain import claims as CL
    from alexlib.report.inference.verdicts import Part
    monkeypatch.setattr(CL, "CLAIMS", list(CL.CLAIMS))
    before = sum(c.source == "report" for c in CL.CLAIMS)   # read from the registry, not listed here

    new = str(max(int(c.id) for c in CL.CLAIMS if c.id.isdigit()) + 1)   # an id the registry does not hold

    @CL.claim(new, "GN beats LN at batch 16.", "GN above LN at batch 16 (the direction only).",
              page1=lambda v: f"GN {v.at('gn', 16)} vs LN {v.at('ln', 16)} at batch 16")
    def _added(ev):
        q, sign = CL.pair_key("fixed", 16, "gn", "ln")
        return [Part("gn-ln 16", "GN − LN at batch 16", CL.pair_at(ev, "gn", "ln", 16), +1, 0.0,
                     (("gn", 16), ("ln", 16)), quantity=q, sign=sign)]
    s = full_grid(tmp_path)
    t = s.reproduced_table()
    assert len(t) == before + 1 and t.iloc[-1]["here (means)"] == "GN 81.5 vs LN 81.0 at batch 16"
    assert t.iloc[-1]["verdict"].removeprefix("*demo:* ").startswith("**")
    with pytest.raises(ValueError, match="registered twice"):
        CL.claim(new, "", "", page1=lambda v: "")(_added)
    with pytest.raises(TypeError):
        CL.claim(new + "1", "", "")   # no page-1 line: not a claim


@pytest.mark.parametrize("stage", [1, 2])
def test_a_part_against_its_claim_says_when_its_estimate_combines_both_looks(stage):
    """A part decided at its second look prints the two looks' median-unbiased estimate, which a reader comparing it
    with the cells' means would otherwise take for an error (a referee did: -7.2 printed where the cells' means differ by 7.6)."""
    from alexlib.report.inference import looks
    from alexlib.report.inference.verdicts import AGAINST, Claim, Part
    part = Part("lr", "none, batch 64: lr 0.005 − lr 0.01", None, outcome=AGAINST, stage=stage,
                interval=looks.Interval(-10.7, -3.9, -7.2, 0.95, stage))
    lines = P1.headlines([Claim("6", "lr 0.005 is best", "", [part], "not reproduced")], {}, lambda *a: "")
    (line,) = [s for s in lines if s.startswith("Against a source's words")]
    assert "-7.2 [-10.7,\u00a0-3.9]" in line
    assert ("both looks combined, median-unbiased" in line) == (stage == 2)
