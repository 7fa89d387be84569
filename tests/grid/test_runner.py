"""One run of the grid: what the runner records when the run notebook fails, and what it never overwrites."""
import json

from alexlib.grid import runner as R
from alexlib.train.config import RunConfig

from conftest import fake_run, study


def test_a_failing_notebook_never_overwrites_another_runs_record(tmp_path, monkeypatch):
    other = fake_run(tmp_path / "runs", norm="bn", batch_size=8, seed=0)
    before = (other / "metrics.json").read_bytes()
    cfg = RunConfig(dataset="digits", image_size=63, width=0.25, epochs=2, norm="bn", batch_size=8,
                    momentum=0.0, out_dir=str(other))  # another config pointed at that folder

    def fails(*a, **k):
        raise RuntimeError("out_dir already holds a different run (momentum: 0.9 there, 0.0 now)")

    monkeypatch.setattr(R, "run_notebook", fails)
    m = R.execute(cfg)
    assert m["status"] == "failed" and "different run" in m["error"]
    assert (other / "metrics.json").read_bytes() == before


def test_a_notebook_that_fails_after_training_keeps_its_completed_record(tmp_path, monkeypatch):
    folder = fake_run(tmp_path / "runs", norm="bn", seed=0)
    before = (folder / "metrics.json").read_bytes()
    cfg = RunConfig.from_dict(json.loads(before)["config"]).replace(out_dir=str(folder))

    def plot_fails(*a, **k):
        raise RuntimeError("a plot cell failed")

    monkeypatch.setattr(R, "run_notebook", plot_fails)
    said = []
    m = R.execute(cfg, log=said.append)
    assert m["status"] == "completed" and (folder / "metrics.json").read_bytes() == before
    assert "completed, but the notebook failed after training" in said[0]


def test_a_failure_the_grid_records_keeps_the_runs_protocol(tmp_path, monkeypatch):
    for seed in (0, 1):
        fake_run(tmp_path / "runs", norm="bn", seed=seed)
    cfg = RunConfig(dataset="digits", image_size=63, width=0.25, epochs=2, norm="bn", seed=2)
    cfg = cfg.replace(out_dir=str(tmp_path / "runs" / cfg.run_id()))

    def kernel_died(*a, **k):
        raise RuntimeError("DeadKernelError: Kernel died")

    monkeypatch.setattr(R, "run_notebook", kernel_died)
    assert R.execute(cfg)["status"] == "failed"
    cells = study(tmp_path).cells   # one protocol: the failure carries the precision it would have run at
    assert cells[["n_completed", "n_failed"]].values.tolist() == [[2, 1]]
