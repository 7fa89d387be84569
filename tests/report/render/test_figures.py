"""The report's figures: the report's values drawn only where the protocol is the report's; the chance line;
learning curves with their seed bands and training loss."""
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
    assert "Not the report's protocol" in s.accuracy_note() and "diff" not in s.accuracy_table().index.get_level_values(1)
    shutil.rmtree(tmp_path / "runs")
    for norm in ("none", "bn"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=80.0 + seed, dataset="cifar10",
                     image_size=224, width=1.0, epochs=10, train_images=50000, test_images=10000)
    s = study(tmp_path, select="")
    assert s.comparable() and len(_report_lines(s.bar_chart())) == 2
    assert "diff" in s.accuracy_table().index.get_level_values(1)


def test_the_bar_chart_draws_chance_and_the_curves_draw_bands_and_loss(tmp_path):
    for norm in ("none", "bn"):
        for seed, j in enumerate((-1.0, 0.0, 1.0)):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=60.0 + j)
    s = study(tmp_path)
    bars = s.bar_chart()
    assert any(line.get_label().startswith("chance (10 %)") for line in bars.axes[0].lines)
    curves = s.learning_curves()
    acc_panel, loss_panel = curves.axes[0], curves.axes[1]
    assert acc_panel.collections and loss_panel.get_ylabel() == "training loss"   # a band per norm: fill_between
    assert [t.get_text() for t in curves.legends[0].get_texts()][:2] == ["none", "BN"]


