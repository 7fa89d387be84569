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
