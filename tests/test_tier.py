"""The fast tier's one crossing of the whole pipeline (``make test``): real runs trained in-process (tiny, on
the CPU), their records, the report built from them by the summary notebook, and the page a reader opens."""
import json
import re

from alexlib.report.render.export import build_report
from alexlib.train import train

from conftest import tiny


def test_train_record_report_and_page(tmp_path):
    runs = tmp_path / "runs"
    accs = {}
    for norm in ("bn", "gn"):
        for seed in (0, 1):
            m = train(tiny(tmp_path, norm=norm, seed=seed, lr=0.005, out_dir=str(runs / f"{norm}-{seed}")))
            assert m["status"] == "completed"
            accs[norm, seed] = m["final"]["test_acc"]
    on_disk = json.loads((runs / "bn-0" / "metrics.json").read_text())
    assert on_disk["final"]["test_acc"] == accs["bn", 0] and len(on_disk["history"]) == 2
    out = tmp_path / "report"
    build_report(runs, out, pdf=False)
    page = (out / "report.html").read_text()
    assert "SYNTHETIC" in page   # the data is named on the page a reader opens
    cells = {(r["norm"], int(r["batch_size"])): r for r in _csv(out / "cells.csv")}
    mean_bn = (accs["bn", 0] + accs["bn", 1]) / 2
    assert abs(float(cells["bn", 16]["mean"]) - mean_bn) < 1e-6
    assert re.search(rf"{mean_bn:.2f}", page), "the page shows the cell mean the runs gave"


def _csv(path):
    import csv
    with open(path) as f:
        return list(csv.DictReader(f))


def test_every_slow_module_named_is_a_test_file():
    """The slow tier names its modules by path (conftest.SLOW_MODULES): a test file moved or renamed is renamed
    there too, or it would run in the fast tier."""
    from conftest import REPO, SLOW_MODULES
    missing = [p for p in SLOW_MODULES if not (REPO / p).is_file()]
    assert not missing, missing
