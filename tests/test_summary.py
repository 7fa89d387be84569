"""Numbers a reader can cite: each run counted once, cells of one protocol, lost seeds counted, labels
that say what the runs were, the report's values only where comparable."""
import shutil

import pytest

from alexlib.summary import ProtocolError, Study, load_runs

from conftest import REPO, fake_run

REF = str(REPO / "params" / "reference.yaml")


def study(tmp_path, select=""):
    return Study.load(str(tmp_path / "runs"), REF, str(tmp_path / "rep"), select)


# --------------------------------------------------------------------------------------------------
# cells hold one protocol, each run once
# --------------------------------------------------------------------------------------------------
def test_runs_of_two_protocols_are_not_averaged_together(tmp_path):
    for seed in (0, 1):
        fake_run(tmp_path / "runs", norm="bn", seed=seed, acc=90.0)
        fake_run(tmp_path / "runs", norm="bn", seed=seed, acc=40.0, epochs=4)
    with pytest.raises(ProtocolError, match=r"2 protocols, which differ in epochs .*select='epochs=2'"):
        study(tmp_path)
    s = study(tmp_path, select="epochs=4")
    cells = s.cells()
    assert len(cells) == 1 and cells["mean"][0] == 40.0 and cells.n_completed[0] == 2


def test_precision_and_subset_size_are_part_of_the_protocol(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", precision="bf16")
    fake_run(tmp_path / "runs", norm="gn", precision="fp32")
    with pytest.raises(ProtocolError, match="precision"):
        study(tmp_path)
    shutil.rmtree(tmp_path / "runs")
    fake_run(tmp_path / "runs", norm="bn", train_size=100)
    fake_run(tmp_path / "runs", norm="gn", train_size=200)
    with pytest.raises(ProtocolError, match="train_size"):
        study(tmp_path)


def test_a_copied_run_folder_counts_once(tmp_path):
    a = fake_run(tmp_path / "runs", norm="bn", seed=0, acc=80.0)
    fake_run(tmp_path / "runs", norm="bn", seed=1, acc=70.0)
    shutil.copytree(a, tmp_path / "runs" / "backup" / a.name)
    df, problems, dups = load_runs(tmp_path / "runs")
    assert len(df) == 2 and dups == 1 and not problems
    s = study(tmp_path)
    assert s.cells().n_completed[0] == 2 and s.cells()["mean"][0] == 75.0
    assert "1 run folder(s) held a run already counted" in s.header_markdown()


# --------------------------------------------------------------------------------------------------
# lost seeds are counted, everywhere
# --------------------------------------------------------------------------------------------------
def test_diverged_and_failed_seeds_are_counted_in_every_cell_view(tmp_path):
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=0, acc=39.0)
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=1, status="diverged")
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=2, status="failed")
    for seed in (0, 1, 2):
        fake_run(tmp_path / "runs", norm="bn", batch_size=8, seed=seed, acc=80.0 + seed)
        fake_run(tmp_path / "runs", norm="gn", batch_size=8, seed=seed, status="diverged")
    s = study(tmp_path)
    cells = s.cells().set_index("norm")
    assert (cells.loc["none", ["n_completed", "n_diverged", "n_failed"]].tolist()) == [1, 1, 1]
    assert (cells.loc["gn", ["n_completed", "n_diverged", "n_failed"]].tolist()) == [0, 3, 0]
    table = s.accuracy_table()
    assert table.loc["none", (8, "ours: mean ± sd (n)")] == "39.00 (n=1; 1 diverged, 1 failed)"
    assert table.loc["GroupNorm", (8, "ours: mean ± sd (n)")] == "— (n=0; 3 diverged)"
    s.write()
    csv = (tmp_path / "rep" / "cells.csv").read_text().splitlines()
    assert csv[0].startswith("norm,batch_size,mean,std,n_completed,n_diverged,n_failed")
    fig = s.bar_chart()
    marks = sorted(t.get_text() for t in fig.axes[0].texts)
    assert marks == ["2✕", "3✕"]


def test_cells_whose_seeds_ran_with_other_thread_counts_or_devices_say_so(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", seed=0, acc=80.0, cpu_threads=1)
    fake_run(tmp_path / "runs", norm="bn", seed=1, acc=82.0, cpu_threads=2)
    fake_run(tmp_path / "runs", norm="gn", seed=0, acc=70.0, device_name="CPU a")
    fake_run(tmp_path / "runs", norm="gn", seed=1, acc=72.0, device_name="CPU b")
    fake_run(tmp_path / "runs", norm="ln", seed=0, acc=75.0)
    s = study(tmp_path)
    cells = s.cells().set_index("norm")
    assert cells.loc["bn", "mixed"] == "threads 1/2" and cells.loc["gn", "mixed"] == "devices CPU a / CPU b"
    assert cells.loc["ln", "mixed"] == ""
    assert s.accuracy_table().loc["BatchNorm", (64, "ours: mean ± sd (n)")] == "81.00 ± 1.41 (n=2; mixed threads 1/2)"


# --------------------------------------------------------------------------------------------------
# labels and the report's values
# --------------------------------------------------------------------------------------------------
def test_labels_say_the_subset_sizes(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", train_size=5000, test_size=0, train_images=5000, test_images=10000)
    s = study(tmp_path)
    assert "5,000 train / 10,000 test images" in s.label()
    assert "full" not in s.label() and "500" not in s.label().replace("5,000", "")
    assert "5,000 train / 10,000 test images" in s.short_label()


def _crimson_lines(fig):
    return [l for l in fig.axes[0].lines if l.get_color() == "crimson" and len(l.get_xdata())]


def test_the_reports_values_are_drawn_only_where_the_protocol_is_the_reports(tmp_path):
    for norm in ("none", "bn"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=60.0 + seed)
    s = study(tmp_path)
    assert not s.comparable() and not _crimson_lines(s.bar_chart())
    assert "Not comparable" in s.comparison_note() and "diff" not in s.accuracy_table().columns.get_level_values(1)
    shutil.rmtree(tmp_path / "runs")
    for norm in ("none", "bn"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=80.0 + seed, dataset="cifar10",
                     image_size=224, width=1.0, epochs=10, train_images=50000, test_images=10000)
    s = study(tmp_path, select="")
    assert s.comparable() and len(_crimson_lines(s.bar_chart())) == 2
    assert "diff" in s.accuracy_table().columns.get_level_values(1)




