"""The re-encoding arm: re-encoded minus original, paired on the seed, per cell, one family."""
from alexlib.report.domain.reencoding import reencoding_effect

from conftest import fake_run


def test_a_cell_that_loses_two_points_on_every_seed_shows_it_and_an_unmoved_one_does_not(tmp_path):
    for seed, (bn, gn) in enumerate([(80.0, 84.0), (81.0, 85.0), (79.0, 83.5), (80.5, 84.2)]):
        for norm, acc in (("bn", bn), ("gn", gn)):
            fake_run(tmp_path / "orig", norm=norm, batch_size=32, seed=seed, acc=acc)
        fake_run(tmp_path / "jpeg", norm="bn", batch_size=32, seed=seed, acc=bn - 2.0 + 0.05 * seed, dataset="synthetic")
        fake_run(tmp_path / "jpeg", norm="gn", batch_size=32, seed=seed, acc=gn + (0.3, -0.3, 0.2, -0.2)[seed],
                 dataset="synthetic")
    t = reencoding_effect(tmp_path / "orig", tmp_path / "jpeg").set_index("norm")
    assert t.loc["bn", "seeds"] == 4 and abs(t.loc["bn", "diff"] + 1.925) < 0.03 and t.loc["bn", "shown"]
    assert t.loc["bn", "high"] < 0 and not t.loc["gn", "shown"] and t.loc["gn", "low"] < 0 < t.loc["gn", "high"]
    assert set(t.level) == {0.95}


def test_the_table_says_what_each_interval_rules_out_against_the_margin(tmp_path):
    """Changed where the interval leaves 0; no change beyond the margin where it sits inside ±margin; otherwise how
    large a change it leaves open; an interval the seeds cannot bound says so."""
    import pandas as pd

    from alexlib.report.render.tables import reencoding_table
    rows = [dict(norm="bn", batch_size=2, seeds=3, original=15.8, reencoded=19.7, diff=3.9, low=-19.9, high=27.7),
            dict(norm="bn", batch_size=32, seeds=3, original=86.1, reencoded=86.2, diff=0.2, low=-1.0, high=1.3),
            dict(norm="gn", batch_size=32, seeds=4, original=85.0, reencoded=83.0, diff=-2.0, low=-3.1, high=-0.9),
            dict(norm="gn", batch_size=2, seeds=2, original=70.0, reencoded=60.0, diff=-10.0, low=-140.0, high=120.0)]
    t = reencoding_table(pd.DataFrame(rows), 5.0)
    assert list(t["what it says"]) == ["not told apart from 0; a change of up to 28 points not ruled out",
                                       "no change beyond ±5 points", "changed", "too few seeds to bound it"]
    assert list(t.index) == ["BN, batch 2", "BN, batch 32", "GN, batch 32", "GN, batch 2"]


def test_the_arm_is_read_for_the_cifar_copy_only_and_from_its_committed_records():
    from alexlib.report.domain.reencoding import ARMS, arm_effect, arm_runs
    assert arm_effect("fashion_mnist").empty and arm_effect("digits").empty
    t = arm_effect("cifar10_jpeg")   # the committed arm: Fashion-MNIST and its JPEG q75 re-encoding, BN and GN at 2, 32
    assert {(r.norm, r.batch_size) for r in t.itertuples()} == {("bn", 2), ("bn", 32), ("gn", 2), ("gn", 32)}
    assert set(t.seeds) == {3} and len(arm_runs("cifar10_jpeg")) == 12 and set(ARMS) == {"cifar10_jpeg"}
