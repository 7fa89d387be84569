"""The report's figures: the report's values drawn only where the protocol is the report's."""
import shutil

from conftest import fake_run, study


def _report_lines(fig):
    return [l for l in fig.axes[0].lines if l.get_gid() == "report" and len(l.get_xdata())]


def test_the_reports_values_are_drawn_only_where_the_protocol_is_the_reports(tmp_path):
    for norm in ("none", "bn"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=60.0 + seed)
    s = study(tmp_path)
    assert not s.comparable() and not _report_lines(s.bar_chart())
    assert "Not comparable" in s.comparison_note() and "diff" not in s.accuracy_table().columns.get_level_values(1)
    shutil.rmtree(tmp_path / "runs")
    for norm in ("none", "bn"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=80.0 + seed, dataset="cifar10",
                     image_size=224, width=1.0, epochs=10, train_images=50000, test_images=10000)
    s = study(tmp_path, select="")
    assert s.comparable() and len(_report_lines(s.bar_chart())) == 2
    assert "diff" in s.accuracy_table().columns.get_level_values(1)
