"""The small-batch section in words (alexlib.report.render.why): each arm of BN beside BN's and GN's cells, with
its intervals against each, and no sentence stronger than them."""
import pandas as pd

from alexlib.report.domain import smallbatch as SB
from alexlib.report.render import why as W


def arm_row(arm, bs, acc, bn, gn, vs_bn, vs_gn):
    """A row of ``smallbatch.norm_arms``: ``vs_*`` is (diff, low, high, shown)."""
    return {"arm": arm, "batch_size": bs, "arm_acc": acc, "arm_n": 3, "bn": bn, "bn_n": 3, "gn": gn, "gn_n": 3,
            **{f"vs_bn_{k}": v for k, v in zip(("diff", "low", "high", "shown"), vs_bn)},
            **{f"vs_gn_{k}": v for k, v in zip(("diff", "low", "high", "shown"), vs_gn)}}


def test_the_lead_sets_each_arm_against_bn_and_gn_with_its_intervals_and_what_it_could_not_show():
    arms = pd.DataFrame([
        arm_row("bn_gn5", 2, 78.0, 15.0, 78.0, (63.0, 50.0, 76.0, True), (0.0, -3.0, 3.0, False)),
        arm_row("bn_gn5", 32, 85.0, 85.2, 85.5, (-0.2, -1.0, 0.6, False), (-0.5, -1.2, 0.2, False)),
        arm_row("bn_pre5", 2, 40.0, 15.0, 78.0, (25.0, -100.0, 100.0, False), (-38.0, -50.0, -26.0, True)),
    ])
    text = W.lead(SB.SmallBatch(*(pd.DataFrame(),) * 3, arms=arms))
    assert text.startswith("- **What one change to BN recovers** (exploratory arms")
    assert ("BatchNorm, GroupNorm at conv5 at batch 2: 78.0 % against BN's 15.0 and GN's 78.0 (− BN: +63.0 "
            "[+50.0,\u00a0+76.0], shown; − GN: +0.0 [-3.0,\u00a0+3.0], not shown)"
            ) in text
    assert "(− BN: +25.0 (too few seeds to bound it), not shown; − GN: -38.0" in text
    assert "gap" not in text          # no share of a gap from two point estimates: the intervals say it
    assert "batch 32" not in text                                   # the lead speaks of the smallest batch
    table = W.arms_markdown(arms, lambda key, text: f"[{key}] {text}")
    assert table.startswith("[small_norm_arms] **What one change to BN recovers** (9 runs of the arms; BN, GN: first stage; exploratory")
    assert table.count("\n| BatchNorm") == 3
