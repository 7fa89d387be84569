"""The first page's findings: plain sentences generated from the numbers, on studies whose truth is set: a
plain effect is said as shown, no effect is never said as one, and every number a sentence cites is a number
in summary.json."""
import json
import re

import numpy as np

from conftest import cell, fake_run, study

SIZES = (8, 16, 32, 64)


def _study(tmp_path, gaps, sd=1.0, seed=0):
    """none at 70 %, each norm at 70 + gaps[norm] at every batch size; seed-to-seed spread ``sd`` (a random
    seed effect shared by the norms, as a seed fixes the initialization and data order for all of them)."""
    rng = np.random.default_rng(seed)
    for bs in SIZES:
        shared = rng.normal(0, sd, 3)
        for norm, gap in {"none": 0.0, **gaps}.items():
            for s in range(3):
                fake_run(tmp_path / "runs", norm=norm, batch_size=bs, seed=s,
                         acc=round(70.0 + gap + shared[s] + rng.normal(0, sd / 2), 2))
    return study(tmp_path)


def test_a_plain_effect_is_said_with_its_average_and_interval(tmp_path):
    s = _study(tmp_path, {"bn": 10.0, "ln": 10.0, "gn": 10.0})
    text = s.findings_markdown()
    assert "**BN, LN and GN each beat no normalization at every batch size**" in text
    assert "12 of 12 comparisons shown" in text
    parts = s.analysis.parts()
    for n in ("bn", "ln", "gn"):   # the average is claim 1's part: one interval, at the report's one level
        p = parts[f"mean:final:{n}-none"]
        iv = p.interval
        assert p.outcome == "shown" and iv.low < iv.estimate < iv.high and 8 < iv.estimate < 12
        assert f"{n.upper()} {iv.estimate:+.1f} [{iv.low:+.1f},\u00a0{iv.high:+.1f}]" in text
    assert "**Among BN, LN and GN no difference is shown**" in text and "would need about" in text


def test_no_effect_is_never_said_to_be_one(tmp_path):
    s = _study(tmp_path, {"bn": 0.0, "ln": 0.0, "gn": 0.0}, sd=2.0, seed=3)
    text = s.findings_markdown()
    assert "beat no normalization" not in text and "beats no normalization" not in text
    assert "no difference is shown" in text.replace("no difference from no normalization is shown", "no difference is shown")


def test_every_number_a_finding_cites_is_in_summary_json(tmp_path):
    s = _study(tmp_path, {"bn": 10.0, "ln": 2.0, "gn": 0.0, "lrn": -20.0})
    s.write()
    out = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert [f["text"] for f in out["findings"]] == [f["text"] for f in s.findings()]
    numbers = set()
    for c in out["claims"]:
        for p in c["parts"]:
            numbers |= {f"{p[k]:+.1f}" for k in ("diff", "ci_low", "ci_high") if p[k] is not None}
    for r in out["vs_none"].values():
        numbers |= {f"{r[k]:+.1f}" for k in ("diff", "ci_low", "ci_high")}
    for c in out["comparisons"]:
        numbers |= {f"{c['diff']:.1f}", f"{c['diff']:+.1f}"}
    for f in out["findings"]:
        if f["from"].startswith("comparisons"):
            said = re.sub(r"could show about \d+\.\d points|α = [0-9.e-]+", "", f["text"])   # power, not a difference
            for x in re.findall(r"[+-]?\d+\.\d", re.sub(r"\d+(\.\d+)?\u00a0%", "", said)):
                assert x in numbers or x.lstrip("+") in numbers, (x, f["text"])


def test_lost_runs_and_another_protocol_are_said(tmp_path):
    for bs in (8, 64):
        cell(tmp_path, "none", bs, 60.0)
        cell(tmp_path, "bn", bs, 80.0)
    fake_run(tmp_path / "runs", norm="gn", batch_size=8, seed=0, status="diverged")
    text = study(tmp_path).findings_markdown()
    assert "1 run diverged or failed (GN batch 8: 1)" in text
    assert "do not follow the report's CIFAR-10 protocol" in text
