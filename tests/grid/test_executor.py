"""The grid's core: a backend registered by name runs a grid through the shared steps, the folder lock comes
before anything is printed, and the ETA shares the runs left among the runs going at once."""
import json

from alexlib.grid import backends as B
from alexlib.grid import command as G
from alexlib.grid.executor import Executor, Finished, Slots, eta, run_plan
from alexlib.grid.plan import load_grid
from alexlib.io import FolderLock
from alexlib.vocab import counted

from conftest import grid_file


class Fake(Executor):
    """A backend that pretends: two runs at once, three threads each, every run completed in 10 s."""
    to = "to pretend"
    launched: list = []

    @classmethod
    def from_options(cls, options):
        return cls()

    def describe(self, todo):
        return Slots(2, 3, f"fake: {len(todo)} runs, 2 at once")

    def launch(self, batch):
        for cfg in batch.todo:
            self.launched.append(cfg)
            yield Finished(cfg, {"status": "completed", "final": {"test_acc": 50.0}}, 10.0, "on the fake")


def test_a_backend_registered_by_name_runs_a_grid_through_the_shared_steps(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(B.EXECUTORS, "fake", Fake)
    monkeypatch.setattr(Fake, "launched", [])
    out = tmp_path / "runs"
    assert G.main([str(grid_file(tmp_path, 4)), "--out", str(out), "--executor", "fake"]) == 0
    printed = capsys.readouterr().out
    assert "grid g: 4 runs, 0 already done, 4 to pretend (0 resuming)" in printed
    assert "fake: 4 runs, 2 at once" in printed
    assert "[  4/4] completed" in printed and "test 50.00%" in printed and "on the fake" in printed
    assert "grid g: all 4 runs done (0 diverged)" in printed
    assert len(json.loads((out / "grid.json").read_text())["runs"]) == 4
    assert [c.threads for c in Fake.launched] == [3] * 4  # the core hands each run its share of threads
    # the grid file's executor block names it just as well, through the Python API
    outcome = G.run(grid_file(tmp_path, 2, executor={"type": "fake"}), out, log=lambda s: None)
    assert len(outcome["completed"]) == 2


def test_a_second_runner_on_a_locked_folder_prints_only_the_lock_error(tmp_path, capsys):
    g, out = grid_file(tmp_path, 2), tmp_path / "runs"
    with FolderLock(out, "test holder"):
        assert G.main([str(g), "--out", str(out)]) == 2
        printed = capsys.readouterr()
        assert printed.out == "" and "is in use by test holder" in printed.err
        assert G.main([str(g), "--out", str(out), "--dry-run"]) == 0  # a dry run needs no lock
        assert "grid g: 2 runs, 0 already done, 2 to run" in capsys.readouterr().out


def test_the_eta_shares_the_runs_left_among_the_runs_at_once(tmp_path):
    out = tmp_path / "runs"
    lines = []
    run_plan(load_grid(grid_file(tmp_path, 4), out), out, Fake(), log=lines.append)
    etas = [line.split("ETA ")[1] for line in lines if line.startswith("[")]
    assert etas == ["0m15s", "0m10s", "0m05s", "0m00s"]  # 3, 2, 1, 0 runs left x 10 s each / 2 at once
    assert eta(3, [10.0, 20.0], 1) == 45.0 and eta(5, [], 2) == 0.0


def test_runs_from_other_training_code_are_counted_reused_and_retrained_on_request(tmp_path, monkeypatch, capsys):
    """A finished run is reused whatever code made it; the grid says how many came from other training code (and
    how many records name none); --rerun-changed trains those again, their records kept aside."""
    from alexlib.train.record import training_code_digest
    monkeypatch.setitem(B.EXECUTORS, "fake", Fake)
    monkeypatch.setattr(Fake, "launched", [])
    g, out = grid_file(tmp_path, 3), tmp_path / "runs"
    plan = load_grid(g, out)
    for c, code in zip(plan.runs, ("0123456789ab", training_code_digest(), None)):
        folder = out / c.run_id()
        folder.mkdir(parents=True)
        rec = {"run_id": c.run_id(), "config": c.to_dict(), "status": "completed", "history": [],
               "final": {"test_acc": 50.0}, "env": {"precision": "fp32"}, "schema": 2}
        (folder / "metrics.json").write_text(json.dumps(rec | ({"code_digest": code} if code else {})))
    assert G.main([str(g), "--out", str(out), "--executor", "fake"]) == 0
    printed = capsys.readouterr().out
    assert "of 3 finished runs, 1 came from other training code than this" in printed
    assert "(0123456789ab; --rerun-changed trains them again), 1 from before records named their code" in printed
    assert "3 already done" in printed and Fake.launched == []
    assert G.main([str(g), "--out", str(out), "--executor", "fake", "--rerun-changed"]) == 0
    assert [c.run_id() for c in Fake.launched] == [plan.runs[0].run_id()]
    assert (out / plan.runs[0].run_id() / "metrics.code-0123456789ab.json").is_file()


def test_a_pre_registered_study_is_not_trained_on_by_other_code_than_its_finished_runs(tmp_path, monkeypatch,
                                                                                     capsys):
    """Its cells would mix two codes: the grid refuses, naming the code and commit that made the finished runs and
    how to go on with them; --rerun-changed (all again with this code) and a dry run go ahead; unregistered, a
    grid reuses the runs as before."""
    import alexlib.grid.executor as E
    monkeypatch.setitem(B.EXECUTORS, "fake", Fake)
    monkeypatch.setattr(Fake, "launched", [])
    g, out = grid_file(tmp_path, 3), tmp_path / "runs"
    plan = load_grid(g, out)
    folder = out / plan.runs[0].run_id()
    folder.mkdir(parents=True)
    folder.joinpath("metrics.json").write_text(json.dumps(
        {"run_id": plan.runs[0].run_id(), "config": plan.runs[0].to_dict(), "status": "completed", "history": [],
         "final": {"test_acc": 50.0}, "env": {"precision": "fp32", "git_commit": "12f6c22abcdef0123"},
         "schema": 2, "code_digest": "0123456789ab"}))
    (tmp_path / "registered").mkdir()
    (tmp_path / "registered" / "g.yaml").write_text("grid: g\npre_registered: true\n")
    monkeypatch.setattr(E, "PARAMS", tmp_path)
    assert G.main([str(g), "--out", str(out), "--executor", "fake"]) == 2
    err = capsys.readouterr().err
    assert "grid g is pre-registered" in err and "1 finished run of it came from training code 0123456789ab" in err
    assert "git worktree add ../g-code 12f6c22abcde" in err and Fake.launched == []
    assert G.main([str(g), "--out", str(out), "--executor", "fake", "--dry-run"]) == 0
    assert G.main([str(g), "--out", str(out), "--executor", "fake", "--rerun-changed"]) == 0 and len(Fake.launched) == 3
    (tmp_path / "registered" / "g.yaml").write_text("grid: g\npre_registered: false\n")
    folder.joinpath("metrics.json").write_text(folder.joinpath("metrics.code-0123456789ab.json").read_text())
    Fake.launched = []
    assert G.main([str(g), "--out", str(out), "--executor", "fake"]) == 0


def test_runs_whose_records_lack_a_field_are_retrained_on_request(tmp_path, monkeypatch, capsys):
    """--rerun-lacking bn_checks trains again the BatchNorm runs recorded before the field existed (a GN run of
    the same age lacks nothing of it), their records kept aside; a dry run says how many, and moves nothing."""
    monkeypatch.setitem(B.EXECUTORS, "fake", Fake)
    monkeypatch.setattr(Fake, "launched", [])
    g, out = grid_file(tmp_path, 1), tmp_path / "runs"
    import yaml
    g.write_text(yaml.safe_dump(yaml.safe_load(g.read_text()) | {"grids": [{"norm": ["bn", "gn"]}]}))
    plan = load_grid(g, out)
    for c in plan.runs:
        folder = out / c.run_id()
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(
            {"run_id": c.run_id(), "config": c.to_dict(), "status": "completed", "history": [],
             "final": {"test_acc": 50.0}, "env": {"precision": "fp32"}, "schema": 2, "code_digest": "0123456789ab"}))
    bn = [c for c in plan.runs if c.norm == "bn"]
    assert G.main([str(g), "--out", str(out), "--executor", "fake", "--rerun-lacking", "bn_checks", "--dry-run"]) == 0
    assert f"{counted(len(bn), 'finished run')} lack bn_checks" in capsys.readouterr().out and Fake.launched == []
    assert G.main([str(g), "--out", str(out), "--executor", "fake", "--rerun-lacking", "bn_checks"]) == 0
    assert sorted(c.run_id() for c in Fake.launched) == sorted(c.run_id() for c in bn)
    assert all((out / c.run_id() / "metrics.lacks-bn_checks.json").is_file() for c in bn)
