"""alexlib.lab.explore: a study's runs and epochs as tables (the committed one too), chosen runs' curves, a grid's
state."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alexlib.io import FolderLock
from alexlib.lab import explore
from alexlib.train.config import RunConfig

from conftest import REPO, fake_run, grid_file


def test_the_committed_study_one_row_per_record_and_per_record_and_epoch():
    folder = REPO / "reports" / "fashion" / "records"
    records = [json.loads(p.read_text()) for p in folder.rglob("metrics.json")]
    s = explore.load(folder)
    assert len(s.runs) == len(records) and s.runs.run_id.is_unique
    assert len(s.history) == sum(len(m["history"]) for m in records)
    assert s.runs.status.value_counts().to_dict() == {
        st: sum(m["status"] == st for m in records) for st in {m["status"] for m in records}}
    # every config field, the final metrics and the environment that moves numbers, per run
    assert {"norm", "batch_size", "lr", "seed", "image_size", "width", "test_acc", "best_test_acc", "device_name",
            "precision", "torch", "cpu_threads", "code_digest", "protocol"} <= set(s.runs.columns)
    assert {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s"} <= set(s.history.columns)
    one = next(m for m in records if m["status"] == "completed")
    row = s.runs.set_index("run_id").loc[one["run_id"]]
    assert row.test_acc == one["final"]["test_acc"]
    assert s.history[s.history.run_id == one["run_id"]].test_acc.tolist() == [h["test_acc"] for h in one["history"]]
    assert s.runs.protocol.nunique() == 2   # 63 px and the 95 px arm, in one table


def test_mixed_protocols_and_an_unreadable_record_are_rows_not_errors(tmp_path):
    fake_run(tmp_path, norm="bn", batch_size=8, seed=0, acc=80.0)
    fake_run(tmp_path, norm="bn", batch_size=8, seed=1, acc=84.0)
    fake_run(tmp_path, norm="gn", batch_size=8, image_size=95, acc=70.0)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{")
    s = explore.load(tmp_path)
    assert len(s.runs) == 4 and s.runs.status.value_counts()["unreadable"] == 1
    assert s.runs.dropna(subset=["protocol"]).protocol.nunique() == 2
    cells = s.cells()
    bn = cells[cells.norm == "bn"].iloc[0]
    assert (bn.seeds, bn["mean"], bn["min"], bn["max"]) == (2, 82.0, 80.0, 84.0)
    assert len(s.select(norm="gn").runs) == 1 and len(s.select(norm="gn").history) == 2
    with pytest.raises(KeyError, match="no column 'nrom'"):
        s.select(nrom="gn")


def test_plot_draws_a_band_where_seeds_share_a_cell_and_labels_what_differs(tmp_path):
    fake_run(tmp_path, norm="bn", batch_size=8, seed=0, acc=80.0, first_acc=40.0)
    fake_run(tmp_path, norm="bn", batch_size=8, seed=1, acc=84.0, first_acc=50.0)
    fake_run(tmp_path, norm="gn", batch_size=8, lr=0.01, acc=70.0)
    fig = explore.plot(explore.load(tmp_path))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["bn, batch 8, lr 0.005 (2 seeds)", "gn, batch 8, lr 0.01"]
    assert len(ax.collections) == 1   # one band: only the bn cell has several seeds
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 40.0 and band[:, 1].max() == 84.0
    with pytest.raises(KeyError, match="per-epoch metric"):
        explore.plot(explore.load(tmp_path), metric="accuracy")


def test_protocols_apart_where_dropout_differs_and_a_copied_folder_is_marked(tmp_path):
    fake_run(tmp_path, norm="gn", acc=70.0)
    fake_run(tmp_path, norm="gn", acc=60.0, dropout=0.0)
    import shutil
    first = next(p for p in tmp_path.iterdir() if "gn" in p.name)
    shutil.copytree(first, tmp_path / "copy" / first.name)
    s = explore.load(tmp_path)
    assert len(s.runs) == 3 and s.runs.duplicate.sum() == 1
    assert len(s.cells()) == 2   # dropout 0 is another protocol, not a third seed
    assert any(p.endswith("dropout 0") for p in s.runs.protocol)


def test_plot_draws_completed_runs_unless_asked(tmp_path):
    fake_run(tmp_path, norm="bn", seed=0, acc=80.0)
    fake_run(tmp_path, norm="bn", seed=1, acc=80.0, status="diverged")
    s = explore.load(tmp_path)
    one = explore.plot(s).axes[0].get_legend().get_texts()[0].get_text()
    both = explore.plot(s, status=["completed", "diverged"]).axes[0].get_legend().get_texts()[0].get_text()
    assert "seeds" not in one and "(2 seeds)" in both


@pytest.mark.parametrize("grid_says, recorded, held, state", [
    ("done", "completed", False, "done"), ("done", "diverged", False, "diverged"),
    ("resume", "running", True, "running"), ("new", None, True, "running"),
    ("resume", "failed", False, "failed"), ("new", "failed", False, "failed"),
    ("resume", "interrupted", False, "to resume"), ("new", "interrupted", False, "to run"),   # no checkpoint
    ("resume", "running", False, "to resume"), ("new", None, False, "to run"),
])
def test_a_runs_state_follows_what_the_grid_would_do(grid_says, recorded, held, state):
    assert explore._state(grid_says, recorded, held) == state


def test_load_refuses_what_is_neither_a_folder_nor_a_grid(tmp_path):
    with pytest.raises(FileNotFoundError, match="nor a grid in params/ .*fashion"):
        explore.load(tmp_path / "nothing")


def test_status_says_done_running_to_resume_failed_and_to_run(tmp_path):
    g = grid_file(tmp_path, runs=5)
    out = tmp_path / "runs"
    from alexlib.grid.plan import load_grid
    runs = load_grid(g, out).runs
    fake_run(out / "x", status="completed")          # another folder: not this grid's
    done, running, resume, failed, _ = runs
    _write(done, "completed", 2)
    _write(failed, "failed", 1)
    _write(resume, "interrupted", 1)
    _write(running, "running", 1)
    for c in (resume, running):   # each left its checkpoint behind (its contents are not read here)
        (Path(c.out_dir) / "checkpoint.pt").write_bytes(b"")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom alexlib.io import FolderLock\n"
                               f"FolderLock({str(running.out_dir)!r}, 'test').acquire()\nprint('held', flush=True)\n"
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        df = explore.status(g, out=out, at_once=2)
    finally:
        holder.kill()
        holder.wait()
    states = dict(zip(df.run_id, df.state))
    assert [states[c.run_id()] for c in runs] == ["done", "running", "to resume", "failed", "to run"]
    assert df.set_index("run_id").loc[running.run_id(), "epoch"] == 1
    assert df.set_index("run_id").loc[done.run_id(), "left_s"] == 0.0
    assert "1 done, 1 running, 1 to resume, 1 to run, 1 failed" in df.attrs["line"]
    # the lock left behind by a process that ended does not count as running
    assert explore.status(g, out=out, estimate=False).set_index("run_id").loc[running.run_id(), "state"] == "to resume"
    assert FolderLock(running.out_dir).acquire()   # and nothing here held it


def _write(c: RunConfig, status: str, epochs: int) -> None:
    os.makedirs(c.out_dir, exist_ok=True)
    hist = [{"epoch": e, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": 50.0 + e,
             "seconds": 1.0, "train_seconds": 1.0, "eval_seconds": 0.1, "images_per_s": 100.0}
            for e in range(1, epochs + 1)]
    m = {"run_id": c.run_id(), "config": c.to_dict(), "status": status, "history": hist,
         "env": {"precision": "fp32", "cpu_threads": 1}, "schema": 3}
    if status == "failed":
        m["error"] = "RuntimeError: test"
    with open(os.path.join(c.out_dir, "metrics.json"), "w") as f:
        f.write(json.dumps(m))
