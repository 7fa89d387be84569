"""Faults and bad input: kills mid-grid and mid-write, two runners, fuzzed parameters, bad data,
divergence and failure isolation, unwritable places, untrusted files. Nothing finished is lost."""
import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alexlib.train as T
from alexlib import data as D
from alexlib import grid as G
from alexlib import plan as P
from alexlib import io as IO
from alexlib.config import ConfigError, RunConfig
from alexlib.summary import Study, load_runs

from conftest import REPO, tiny, write_fashion_files

TIMING = {"seconds", "train_seconds", "eval_seconds", "images_per_s"}
SLOW_GRID = {  # three runs; the middle one trains long enough (8 epochs) to be caught mid-way
    "base": dict(dataset="synthetic", image_size=63, width=0.125, train_size=512, test_size=64, device="cpu",
                 batch_size=16),
    "grids": [{"name": "a", "norm": "bn", "epochs": 2}, {"name": "b", "norm": "gn", "epochs": 8},
              {"name": "c", "norm": "none", "epochs": 2}],
}


def numbers(m):
    return [{k: v for k, v in h.items() if k not in TIMING} for h in m["history"]]


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0]


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it: the grid, papermill's kernel (in a session of its own, so a
    process-group kill misses it) and anything the kernel started."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (ps := _ppid_and_state(int(d.name))) is not None:
            children.setdefault(ps[0], []).append(int(d.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def wait_until_gone(pids: list[int], timeout: float = 60) -> None:
    """Until none of ``pids`` runs (gone, or a zombie that can no longer write anything)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if (ps := _ppid_and_state(p)) is not None and ps[1] != "Z"]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes still running after {timeout} s: {alive}")


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the grid and everything below it, at once, and wait until all of it is gone."""
    tree = process_tree(proc.pid)
    assert len(tree) >= 2, "the grid has no kernel running"
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    wait_until_gone(tree)


def grid_cmd(grid_file, out, *extra):
    """One run at a time unless told otherwise, so the tests know which run is in flight."""
    jobs = [] if "--jobs" in extra else ["--jobs", "1"]
    return [sys.executable, "-m", "alexlib.grid", str(grid_file), "--out", str(out), *jobs, *extra]


def start_slow_grid(tmp_path, **popen):
    """The slow grid in a subprocess, returned once its middle run has written its first checkpoint."""
    grid_file = tmp_path / "slow.yaml"
    grid_file.write_text(yaml.safe_dump(SLOW_GRID))
    out = tmp_path / "runs"
    plan = P.load_grid(grid_file, out)
    proc = subprocess.Popen(grid_cmd(grid_file, out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            **popen)
    ckpt = Path(plan.runs[1].out_dir) / "checkpoint.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), "the middle run never reached its first checkpoint"
    return proc, grid_file, out, plan


# --------------------------------------------------------------------------------------------------
# 1. kill -9 mid-grid, and mid-write
# --------------------------------------------------------------------------------------------------
def test_kill_9_mid_grid_then_rerun_resumes_and_matches_an_uninterrupted_grid(tmp_path):
    proc, grid_file, out, plan = start_slow_grid(tmp_path)
    first, middle, last = plan.runs
    ckpt = Path(middle.out_dir) / "checkpoint.pt"
    kill_tree(proc)  # the runner and its kernel, mid-run, as a lost machine would
    assert json.loads((Path(middle.out_dir) / "metrics.json").read_text())["status"] == "running"
    first_metrics = Path(first.out_dir) / "metrics.json"
    assert json.loads(first_metrics.read_text())["status"] == "completed"
    before = (first_metrics.stat().st_mtime_ns, first_metrics.read_bytes())
    epochs_done = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= epochs_done < 8

    r = subprocess.run(grid_cmd(grid_file, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:]
    assert "1 already done, 2 to run (1 resuming)" in r.stdout
    assert (first_metrics.stat().st_mtime_ns, first_metrics.read_bytes()) == before  # not retrained
    executed = (Path(middle.out_dir) / "run.ipynb").read_text()
    assert f"resuming {middle.out_dir} after epoch {epochs_done}/8" in executed

    for cfg in plan.runs:  # the same numbers as runs that were never interrupted
        straight = T.train(cfg.replace(out_dir=str(tmp_path / "straight" / cfg.run_id()), progress=False))
        resumed = json.loads((Path(cfg.out_dir) / "metrics.json").read_text())
        assert resumed["status"] == "completed" and numbers(resumed) == numbers(straight)


KILL_DURING_WRITE = """
import os, signal, sys, torch
from alexlib import io as IO
kind, path, stage = sys.argv[1], sys.argv[2], sys.argv[3]
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
if stage == "before_rename":
    os.fsync = die                      # data written to the temporary file, killed before the rename
if kind == "json":
    if stage == "mid_write":
        real_fdopen = os.fdopen
        class Half:                          # writes half of the text to the temporary file, then dies
            def __init__(self, f): self.f = f
            def __enter__(self): return self
            def __exit__(self, *a): return False
            def write(self, text):
                self.f.write(text[:len(text) // 2]); self.f.flush(); die()
        os.fdopen = lambda fd, mode: Half(real_fdopen(fd, mode))
    IO.write_json(path, {"version": 2, "pad": "x" * 100000})
else:
    if stage == "mid_write":
        real = torch.save
        def half(obj, f, *a, **k):
            f.write(b"PK\\x03\\x04" + b"\\0" * 5000); f.flush(); die()
        torch.save = half
    IO.save_torch(path, {"version": torch.tensor(2)})
"""


@pytest.mark.parametrize("kind", ["json", "torch"])
@pytest.mark.parametrize("stage", ["mid_write", "before_rename"])
def test_a_kill_during_a_write_leaves_the_previous_version_intact(tmp_path, kind, stage):
    path = tmp_path / ("metrics.json" if kind == "json" else "checkpoint.pt")
    if kind == "json":
        IO.write_json(path, {"version": 1})
    else:
        IO.save_torch(path, {"version": torch.tensor(1)})
    r = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, kind, str(path), stage], cwd=REPO)
    assert r.returncode == -signal.SIGKILL
    if kind == "json":
        assert json.loads(path.read_text()) == {"version": 1}
    else:
        assert int(torch.load(path, weights_only=True)["version"]) == 1
    leftovers = [p for p in tmp_path.iterdir() if p.name != path.name]
    # the kill came while the new version was being written: its temporary holds part or all of it
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".") and leftovers[0].name.endswith(".tmp")
    assert leftovers[0].stat().st_size > 0


def test_train_clears_temporaries_left_by_a_killed_write(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".metrics.json.abc.tmp").write_text('{"half": ')
    T.train(tiny(tmp_path))
    assert not list(run.glob(".*.tmp"))


# --------------------------------------------------------------------------------------------------
# 2. two runners on one folder
# --------------------------------------------------------------------------------------------------
def test_two_runners_on_one_folder(tmp_path):
    grid_file = tmp_path / "slow.yaml"
    grid_file.write_text(yaml.safe_dump(SLOW_GRID))
    out = tmp_path / "runs"
    first = subprocess.Popen(grid_cmd(grid_file, out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (out / "grid.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(grid_cmd(grid_file, out), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert f"{out} is in use by alexlib.grid pid {first.pid}" in second.stderr
    stdout, _ = first.communicate(timeout=600)
    assert first.returncode == 0, stdout[-2000:]
    for cfg in P.load_grid(grid_file, out).runs:  # every file whole and completed, each run executed once
        m = json.loads((Path(cfg.out_dir) / "metrics.json").read_text())
        assert m["status"] == "completed" and len(m["history"]) == cfg.epochs


def test_one_run_folder_is_used_by_one_process_at_a_time(tmp_path):
    cfg = tiny(tmp_path)
    with IO.FolderLock(Path(cfg["out_dir"]), "another trainer"):
        with pytest.raises(RuntimeError, match="is in use by another trainer"):
            T.train(cfg)


# --------------------------------------------------------------------------------------------------
# 3. bad parameters, fuzzed
# --------------------------------------------------------------------------------------------------
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(RunConfig.field_names()), value=ANY_VALUE)
def test_fuzzed_values_are_accepted_or_rejected_naming_the_parameter(field, value):
    try:
        c = RunConfig.from_dict({field: value})
    except ConfigError as e:
        assert field in str(e)
        return
    v = getattr(c, field)  # accepted: the value is a sane instance of the field's type
    if isinstance(v, float):
        assert math.isfinite(v)


@settings(max_examples=200, deadline=None)
@given(key=st.text(min_size=1, max_size=15).filter(lambda k: k not in RunConfig.field_names()))
def test_fuzzed_unknown_keys_are_rejected(key):
    with pytest.raises(ConfigError, match="unknown parameter"):
        RunConfig.from_dict({key: 1})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["batch_size", "lr", "epochs", "image_size", "momentum", "width", "seed",
                              "train_size", "deterministic"]),
       text=st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e309", "1e9", "ten", "", " ", "0x10",
                                       "3.7", "Ünïcode", "1_000"]), st.text(max_size=8)))
def test_fuzzed_command_line_text_never_trains_or_writes_on_bad_input(tmp_path, field, text):
    out = tmp_path / "cli out"
    flag = "--" + field.replace("_", "-")
    try:
        cfg = RunConfig.from_strings({field: text})
    except ConfigError as e:
        assert field in str(e)
        assert T.main([f"{flag}={text}", "--out-dir", str(out)]) == 2
        assert not out.exists()
        return
    # accepted: the text meant this value of the field's type, which reads back the same
    value = getattr(cfg, field)
    assert type(value) is type(getattr(RunConfig(), field))
    assert not isinstance(value, float) or math.isfinite(value)
    if isinstance(value, bool):
        assert text.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off")
    else:
        assert value == type(value)(text.strip())
    assert RunConfig.from_strings({field: str(value)}) == cfg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_fuzzed_grid_bytes_give_a_grid_error_or_a_valid_plan(tmp_path, raw):
    path = tmp_path / "fuzz grid ü.yaml"
    path.write_bytes(raw)
    try:
        plan = P.load_grid(path, tmp_path / "never")
    except P.GridError as e:
        assert str(path) in str(e)
    else:
        assert plan.runs
    assert not (tmp_path / "never").exists()


def test_paths_with_spaces_and_non_ascii(tmp_path):
    out = tmp_path / "dossier à espaces" / "運行"
    r = T.train(tiny(tmp_path, out_dir=str(out)))
    assert r["status"] == "completed" and (out / "metrics.json").exists()


# --------------------------------------------------------------------------------------------------
# 4. bad data
# --------------------------------------------------------------------------------------------------
def test_cifar_folder_with_a_missing_file(tmp_path, cifar_dir):
    root, sums = cifar_dir
    (root / D.CIFAR10_FOLDER / "test_batch").unlink()
    with pytest.raises(D.DataError, match=r"a file is missing .*test_batch.*cifar-10-python.tar.gz"):
        D.load_cifar10(root, checksums=sums)


def test_cifar_file_with_wrong_shapes_is_refused(tmp_path):
    import hashlib
    import pickle
    import numpy as np
    folder = tmp_path / D.CIFAR10_FOLDER
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for n in names:  # 28x28 grey images stored where CIFAR's 3x32x32 belong
        with open(folder / n, "wb") as f:
            pickle.dump({"data": np.zeros((5, 784), np.uint8), "labels": [0] * 5}, f)
    sums = {n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in names}
    with pytest.raises(D.DataError, match="could not be read|shape"):
        D.load_cifar10(tmp_path, checksums=sums)


def test_idx_files_with_a_bad_header_or_mismatched_labels(tmp_path):
    write_fashion_files(tmp_path / "fm", gz=False)
    bad = tmp_path / "fm" / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x09\x01" + bad.read_bytes()[4:])
    with pytest.raises(D.DataError, match="t10k-labels-idx1-ubyte is not an unsigned-byte idx file"):
        D.load_fashion_mnist(tmp_path / "fm", download=False)
    write_fashion_files(tmp_path / "fm2", n_train=60, gz=True)
    from conftest import write_idx
    import numpy as np
    write_idx(tmp_path / "fm2" / "train-labels-idx1-ubyte", np.zeros(59, np.uint8), gz=True)
    with pytest.raises(D.DataError, match="train files .* disagree"):
        D.load_fashion_mnist(tmp_path / "fm2", download=False)


def test_labels_out_of_range_never_train(tmp_path):
    import numpy as np
    write_fashion_files(tmp_path / "fm", gz=True)
    from conftest import write_idx
    write_idx(tmp_path / "fm" / "train-labels-idx1-ubyte", (np.arange(60) % 12).astype(np.uint8), gz=True)
    with pytest.raises(D.DataError, match="labels must lie in 0..9, found 0..11"):
        T.train(tiny(tmp_path, dataset="fashion_mnist", data_dir=str(tmp_path / "fm"), train_size=0, test_size=0))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "failed" and "labels must lie in 0..9" in m["error"] and m["history"] == []


# --------------------------------------------------------------------------------------------------
# 5. divergence and failure isolation in a grid
# --------------------------------------------------------------------------------------------------
def test_a_diverging_and_a_raising_run_do_not_stop_the_grid(tmp_path):
    grid = {"base": dict(dataset="synthetic", image_size=63, width=0.125, train_size=64, test_size=32,
                         device="cpu", epochs=2, seed=0),
            "grids": [{"name": "ok", "norm": "bn", "batch_size": 16},
                      {"name": "diverges", "norm": "none", "batch_size": 16, "lr": 1000.0},
                      {"name": "raises", "norm": "gn", "batch_size": 128},   # larger than the 64 images
                      {"name": "ok too", "norm": "gn", "batch_size": 32}]}
    grid_file = tmp_path / "mixed.yaml"
    grid_file.write_text(yaml.safe_dump(grid))
    out = tmp_path / "runs"
    r = subprocess.run(grid_cmd(grid_file, out, "--jobs", "2"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1
    assert "FAILED (1): synthetic-gn-bs128" in r.stdout and "diverged (1): synthetic-none-bs16-lr1000" in r.stdout
    status = {p.parent.name: json.loads(p.read_text())["status"] for p in out.rglob("metrics.json")}
    assert sorted(status.values()) == ["completed", "completed", "diverged", "failed"]
    (too_big,) = [c for c in P.load_grid(grid_file, out).runs if c.batch_size == 128]
    failed = json.loads((Path(too_big.out_dir) / "metrics.json").read_text())
    assert "batch_size=128 is larger than the 64 training images" in failed["error"]

    study = Study.load(str(out), "params/reference.yaml", str(tmp_path / "report"))
    runs = study.runs.set_index("status")
    assert math.isnan(runs.loc["diverged", "test_acc"]) and math.isnan(runs.loc["failed", "test_acc"])
    assert len(study.main_grid()) == 2  # only completed runs are results, never zeros
    problems = study.problems_table()
    assert set(problems.status) == {"diverged", "failed"}
    assert "larger than the 64 training images" in " ".join(problems.detail)


# --------------------------------------------------------------------------------------------------
# 6. unwritable places
# --------------------------------------------------------------------------------------------------
def test_output_path_through_a_file_fails_at_the_start(tmp_path, monkeypatch):
    (tmp_path / "a file").write_text("x")
    loaded = []
    monkeypatch.setattr(D, "load_dataset", lambda *a, **k: loaded.append(1))
    with pytest.raises(PermissionError, match="cannot write to output folder .*a part of the path is a file"):
        T.train(tiny(tmp_path, out_dir=str(tmp_path / "a file" / "run")))
    assert not loaded  # before any data loads
    assert G.main([str(REPO / "params/smoke.yaml"), "--out", str(tmp_path / "a file" / "g")]) == 2


@pytest.mark.parametrize("err, words", [(errno.ENOSPC, "no space left on the device"),
                                        (errno.EROFS, "read-only file system"),
                                        (errno.EACCES, "permission denied")])
def test_full_or_read_only_output_folder_fails_at_the_start(tmp_path, monkeypatch, err, words):
    real_write = os.write

    def failing_write(fd, data):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(IO.os, "write", failing_write)
    loaded = []
    monkeypatch.setattr(D, "load_dataset", lambda *a, **k: loaded.append(1))
    with pytest.raises(PermissionError, match=f"cannot write to output folder .*{words}"):
        T.train(tiny(tmp_path))
    assert not loaded
    monkeypatch.setattr(IO.os, "write", real_write)


def check_writable_as_nobody(folder: Path) -> str:
    """check_writable(folder) in a forked child that has dropped to user nobody: nothing is imported or
    read from the clone, so it works wherever the clone sits (a mode-700 home included)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, try, report through the pipe, exit at once
        msg = "ok"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            IO.check_writable(folder)
        except PermissionError as e:
            msg = str(e)
        except BaseException as e:  # noqa: BLE001 (reported to the parent)
            msg = f"unexpected {type(e).__name__}: {e}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        msg = f.read()
    os.waitpid(pid, 0)
    return msg


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_read_only_folder_for_an_ordinary_user():
    import shutil
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="alexlib-ro-"))  # outside pytest's mode-700 tmp folders
    try:
        os.chmod(base, 0o755)
        (base / "ro").mkdir(mode=0o555)
        (base / "rw").mkdir()
        os.chmod(base / "ro", 0o555)
        os.chmod(base / "rw", 0o777)
        assert check_writable_as_nobody(base / "rw" / "run") == "ok"   # the dropped child can write
        msg = check_writable_as_nobody(base / "ro" / "run")
        assert msg.startswith("cannot write to output folder") and "permission denied" in msg
    finally:
        shutil.rmtree(base)


# --------------------------------------------------------------------------------------------------
# 7. untrusted files
# --------------------------------------------------------------------------------------------------
class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {EVIL_MARK}",))


EVIL_MARK = Path("/tmp") / f"alexlib-evil-{os.getpid()}"


def test_a_malicious_checkpoint_is_refused_without_running_its_code(tmp_path):
    cfg = tiny(tmp_path)
    run = Path(cfg["out_dir"])
    run.mkdir(parents=True)
    torch.save({"config": RunConfig.from_dict(cfg).to_dict(), "epoch": 1, "evil": Evil()}, run / "checkpoint.pt")
    EVIL_MARK.unlink(missing_ok=True)
    with pytest.raises(D.DataError, match="cannot be loaded safely.*delete it"):
        T.train(cfg)
    assert not EVIL_MARK.exists()


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00garbage", b'{"status": "completed"}',
                                     b'{"config": {"norm": "bn"}, "status": 5}', b"[]"])
def test_the_summary_reports_malformed_metrics_instead_of_crashing(tmp_path, content):
    good = T.train(tiny(tmp_path, out_dir=str(tmp_path / "runs" / "good")))
    bad = tmp_path / "runs" / "bad"
    bad.mkdir()
    (bad / "metrics.json").write_bytes(content)
    df, problems, _ = load_runs(tmp_path / "runs")
    assert len(df) == 1 and df.iloc[0].status == good["status"]
    assert len(problems) == 1 and problems[0]["file"].endswith("bad/metrics.json")
    study = Study.load(str(tmp_path / "runs"), "params/reference.yaml", str(tmp_path / "rep"))
    assert "unreadable" in set(study.problems_table().status)


def test_a_grid_whose_data_is_missing_stops_before_its_first_run(tmp_path, monkeypatch, capsys):
    def offline(*a, **k):
        raise OSError("no network in this test")
    monkeypatch.setattr("torchvision.datasets.CIFAR10.download", offline)
    grid_file = tmp_path / "cifar.yaml"
    grid_file.write_text(yaml.safe_dump({"base": {"dataset": "cifar10", "data_dir": str(tmp_path / "no data"),
                                                  "image_size": 63, "device": "cpu"},
                                         "grids": [{"norm": ["bn", "gn"]}]}))
    out = tmp_path / "runs"
    assert G.main([str(grid_file), "--out", str(out)]) == 2
    assert "cifar-10-python.tar.gz" in capsys.readouterr().err
    assert not list(out.glob("*/metrics.json"))  # no run started


def test_ctrl_c_stops_the_grid_at_once_and_a_rerun_resumes(tmp_path):
    proc, grid_file, out, plan = start_slow_grid(tmp_path, text=True)
    tree = process_tree(proc.pid)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=600)
    wait_until_gone(tree)  # the kernel too: nothing goes on training or writing after Ctrl-C
    assert proc.returncode == 130
    assert "interrupted: finished runs are kept" in stdout
    # at once: the run in flight did not finish, the next one never started
    assert json.loads((Path(plan.runs[1].out_dir) / "metrics.json").read_text())["status"] != "completed"
    assert not (Path(plan.runs[2].out_dir) / "metrics.json").exists()
    r = subprocess.run(grid_cmd(grid_file, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "(1 resuming)" in r.stdout
