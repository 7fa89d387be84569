"""Files never half-written: a kill while writing JSON or a checkpoint leaves the previous version intact; a
folder proven writable (or not) before anything runs, as root and as an ordinary user; the folder lock."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alexlib import io as IO

from conftest import REPO

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


def test_held_reads_the_lock_table_without_taking_the_lock(tmp_path):
    import subprocess
    import sys
    assert not IO.FolderLock.held(tmp_path)   # no lock file at all
    holder = subprocess.Popen([sys.executable, "-c", "import time\nfrom alexlib.io import FolderLock\n"
                               f"FolderLock({str(tmp_path)!r}, 'test').acquire()\nprint('held', flush=True)\n"
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert IO.FolderLock.held(tmp_path) and IO._held_by_probe(tmp_path / ".lock")
    finally:
        holder.kill()
        holder.wait()
    assert not IO.FolderLock.held(tmp_path) and not IO._held_by_probe(tmp_path / ".lock")


def test_environ_is_restored_by_the_last_of_several_threads(monkeypatch):
    import os
    monkeypatch.setenv("ALEXLIB_TEST_VAR", "before")
    first, second = IO.environ(ALEXLIB_TEST_VAR="1"), IO.environ(ALEXLIB_TEST_VAR="1")
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)   # one run ends while another's kernel may still be starting
    assert os.environ["ALEXLIB_TEST_VAR"] == "1"
    second.__exit__(None, None, None)
    assert os.environ["ALEXLIB_TEST_VAR"] == "before"
