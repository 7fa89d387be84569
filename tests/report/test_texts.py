"""The report's prose: labels that say what the runs were."""
from conftest import fake_run, study


def test_labels_say_the_subset_sizes(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", train_size=5000, test_size=0, train_images=5000, test_images=10000)
    s = study(tmp_path)
    assert "5,000 train / 10,000 test images" in s.label()
    assert "full" not in s.label() and "500" not in s.label().replace("5,000", "")
    assert "5,000 train / 10,000 test images" in s.short_label()
