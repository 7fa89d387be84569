"""The report's prose: labels that say what the runs were."""
from alexlib.report.render import texts as X

from conftest import fake_run, study


def test_labels_say_the_subset_sizes(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", train_size=5000, test_size=0, train_images=5000, test_images=10000)
    s = study(tmp_path)
    assert "5,000 train / 10,000 test images" in X.label(s.runs)
    assert "full" not in X.label(s.runs) and "500" not in X.label(s.runs).replace("5,000", "")
    assert "5,000 train / 10,000 test images" in X.short_label(s.runs)
    assert "digits (scikit-learn)" in X.label(s.runs)   # one name for the dataset, as every table gives it
