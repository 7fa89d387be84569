"""How far each cell learned: the flags fixed before the data (near chance: below chance + 10 points; still
learning: the last epoch added more than 2 points on average) and convergence (epochs to 90 % of the best cell)."""
import math

from alexlib.report.domain import learning as L

from conftest import cell, study


def runs_with(tmp_path):
    cell(tmp_path, "none", 8, 15.0, epochs=3)    # digits: 10 classes, chance 10 %: 15 is within the band
    cell(tmp_path, "bn", 8, 80.0, epochs=3)
    cell(tmp_path, "gn", 8, 60.0, first=20.0, epochs=3)
    return study(tmp_path).runs


def test_near_chance_is_below_chance_plus_ten_points(tmp_path):
    runs = runs_with(tmp_path)
    assert L.chance(runs) == 10.0
    assert L.cell_flags(runs) == {("none", 8): [L.NEAR_CHANCE]}


def test_still_learning_is_a_last_epoch_gain_over_two_points_on_average(tmp_path):
    runs = runs_with(tmp_path)
    rising = runs.norm == "bn"
    runs.loc[rising, "curve"] = runs.loc[rising, "curve"].map(lambda c: c[:-2] + [c[-1] - 2.5, c[-1]])
    assert L.cell_flags(runs)[("bn", 8)] == [L.STILL]
    runs.loc[rising, "curve"] = runs.loc[rising, "curve"].map(lambda c: c[:-2] + [c[-1] - 1.5, c[-1]])
    assert ("bn", 8) not in L.cell_flags(runs)


def test_convergence_counts_the_epochs_to_ninety_percent_of_the_best_cell(tmp_path):
    runs = runs_with(tmp_path)
    best = runs[runs.norm == "bn"].test_acc.mean()
    assert L.reach_threshold(runs) == math.floor(0.9 * best)
    conv = L.convergence(runs).set_index("norm")
    assert conv.loc["bn", "epochs_mean"] == 1 and conv.loc["bn", "reached"] == 3
    assert conv.loc["gn", "reached"] == 0 and math.isnan(conv.loc["gn", "epochs_mean"])   # 60 % never reaches 72
    assert math.isclose(conv.loc["gn", "first_mean"], 20.0, abs_tol=0.01)
