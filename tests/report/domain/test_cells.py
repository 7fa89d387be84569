"""The numbers per cell: lost seeds counted in every view (cells, design cells, the lr sweep), never
averaged in as zero; cells whose seeds ran on other devices or thread counts say so."""
import pandas as pd

from alexlib.report.domain.cells import cell_numbers, design_cells, mixed, mixed_cells

from conftest import fake_run, study


def test_diverged_and_failed_seeds_are_counted_in_every_cell_view(tmp_path):
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=0, acc=39.0)
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=1, status="diverged")
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=2, status="failed")
    for seed in (0, 1, 2):
        fake_run(tmp_path / "runs", norm="bn", batch_size=8, seed=seed, acc=80.0 + seed)
        fake_run(tmp_path / "runs", norm="gn", batch_size=8, seed=seed, status="diverged")
    s = study(tmp_path)
    cells = s.cells.set_index("norm")
    assert (cells.loc["none", ["n_completed", "n_diverged", "n_failed"]].tolist()) == [1, 1, 1]
    assert (cells.loc["gn", ["n_completed", "n_diverged", "n_failed"]].tolist()) == [0, 3, 0]
    table = s.accuracy_table()
    # cells do not share one n: each says its own, on one line (no-break spaces inside a number)
    assert table.loc[("none", "here (n per cell)"), 8] == "39.00 (n=1; 1 diverged, 1 failed)"
    assert table.loc[("GN", "here (n per cell)"), 8] == "—\u00a0(n=0; 3 diverged)"
    assert table.loc[("BN", "here (n per cell)"), 8] == "81.00\u00a0±\u00a01.00 (n=3)"
    s.write()
    csv = (tmp_path / "rep" / "cells.csv").read_text().splitlines()
    assert csv[0].startswith("norm,batch_size,mean,std,n_completed,n_diverged,n_failed")
    fig = s.bar_chart()
    marks = sorted(t.get_text() for t in fig.axes[0].texts)
    assert marks == ["2✕", "3✕"]


def test_the_lr_sweep_and_the_designs_count_lost_seeds_as_the_cells_do(tmp_path):
    for seed, status in enumerate(("completed", "completed", "diverged", "failed")):
        fake_run(tmp_path / "runs", norm="none", batch_size=64, seed=seed, lr=0.01, status=status, acc=50.0 + seed)
        fake_run(tmp_path / "runs", norm="none", batch_size=64, seed=seed, status=status, acc=60.0 + seed)
        # equal steps: batch 32 at 1 epoch takes the steps of batch 64 at the fixed 2 epochs
        fake_run(tmp_path / "runs", norm="none", batch_size=32, seed=seed, epochs=1, status=status)
    s = study(tmp_path)
    lr = s.sweep_cells().set_index("lr")
    assert lr.loc[0.01, ["mean", "n_completed", "n_diverged", "n_failed"]].tolist() == [50.5, 2, 1, 1]
    assert round(lr.loc[0.01, "sd"], 2) == 0.71 and lr.loc[0.005, ["n_completed", "n_diverged", "n_failed"]].tolist() == [2, 1, 1]
    assert s.lr_table().loc["0.01", "here"] == "50.50\u00a0±\u00a00.71 (n=2)"
    designs = design_cells(s.runs).set_index(["design", "batch_size"])
    assert designs.loc[("equal_steps", 32), ["n_completed", "n_diverged", "n_failed", "n_running"]].tolist() == [2, 1, 1, 0]
    assert s.cells[["n_completed", "n_diverged", "n_failed", "n_running"]].values.tolist() == [[2, 1, 1, 0]]


def test_cell_numbers_count_every_status_and_average_only_completed_seeds():
    g = pd.DataFrame({"status": ["completed", "completed", "diverged", "running"],
                      "test_acc": [70.0, 72.0, float("nan"), float("nan")]})
    assert cell_numbers(g) == {"mean": 71.0, "std": 2 ** 0.5, "n_completed": 2, "n_diverged": 1, "n_failed": 0,
                               "n_interrupted": 0, "n_running": 1}


def test_cells_whose_seeds_ran_with_other_thread_counts_or_devices_say_so(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", seed=0, acc=80.0, cpu_threads=1)
    fake_run(tmp_path / "runs", norm="bn", seed=1, acc=82.0, cpu_threads=2)
    fake_run(tmp_path / "runs", norm="gn", seed=0, acc=70.0, device_name="CPU a")
    fake_run(tmp_path / "runs", norm="gn", seed=1, acc=72.0, device_name="CPU b")
    fake_run(tmp_path / "runs", norm="ln", seed=0, acc=75.0)
    s = study(tmp_path)
    cells = s.cells.set_index("norm")
    assert cells.loc["bn", "mixed"] == "threads 1/2" and cells.loc["gn", "mixed"] == "devices CPU a / CPU b"
    assert cells.loc["ln", "mixed"] == ""
    assert s.accuracy_table().loc[("BN", "here (n per cell)"), 64] == "81.00\u00a0±\u00a01.41 (n=2; mixed threads 1/2)"


def test_a_record_that_predates_a_field_is_not_a_different_machine():
    runs = pd.DataFrame({"design": "fixed", "norm": ["bn", "bn", "gn", "gn"], "batch_size": 64,
                         "device_name": "CPU a", "cpu_threads": 1, "cpu_capability": ["?", "AVX512", "AVX2", "AVX512"]})
    assert mixed(runs[runs.norm == "bn"]) == ""
    assert mixed_cells(runs) == ["GN batch 64: CPU kernels AVX2 / AVX512"]
