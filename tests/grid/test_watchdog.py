"""The no-progress watchdog: the setting's values, the automatic bound from the estimate, and a watched process
group that is ended only once its folder has seen nothing new for the bound."""
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from alexlib.grid import watchdog as W
from alexlib.grid.plan import GridError


@pytest.mark.parametrize("text, seconds", [("auto", None), ("AUTO", None), ("90s", 90.0), ("20m", 1200.0),
                                           ("2h", 7200.0), ("1.5m", 90.0), (" 45 m ", 2700.0)])
def test_the_setting_is_auto_or_a_duration_with_its_unit(text, seconds):
    assert W.parse_stall(text) == seconds


@pytest.mark.parametrize("bad", ["5", "0m", "-1m", "fast", "", "10 min", None])
def test_a_bad_setting_names_where_it_came_from_and_what_is_allowed(bad):
    with pytest.raises(GridError, match=r"params/g.yaml: stall_timeout takes auto or a duration .*90s, 20m, 2h"):
        W.parse_stall(bad, "params/g.yaml: stall_timeout")


def test_auto_is_a_margin_over_the_estimated_epoch_never_below_the_floor():
    floor = W.STALL_FLOOR_S
    assert W.stall_bound(120.0, 10 * floor, 2) == 120.0            # the setting wins over the estimate
    assert W.stall_bound(None, None, 10) == floor                  # no estimate: the floor
    assert W.stall_bound(None, 60.0, 4) == floor                   # short epochs: the floor
    assert W.stall_bound(None, 10 * floor, 2) == W.STALL_MARGIN * 5 * floor   # long epochs: margin x an epoch


def _group(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A stand-in kernel in a session of its own, as jupyter_client starts one, with a child in its group:
    (the process, its child's pid)."""
    pids = tmp_path / "child.pid"
    p = subprocess.Popen(["sh", "-c", f"sleep 600 & echo $! > {pids}; wait"], start_new_session=True)
    while not pids.exists() or not pids.read_text().strip():
        time.sleep(0.01)
    return p, int(pids.read_text())


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"   # a zombie has ended; only its parent's wait is left


def test_a_quiet_folder_ends_the_whole_process_group_and_writes_keep_it_alive(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    p, child = _group(tmp_path)
    km = SimpleNamespace(provisioner=SimpleNamespace(pid=p.pid, pgid=p.pid))
    writing = threading.Event()
    writing.set()

    def write():   # a healthy run: something new in its folder ten times per bound
        i = 0
        while writing.is_set():
            (folder / "run.log").write_text(str(i))
            i += 1
            time.sleep(0.05)

    writer = threading.Thread(target=write)
    try:
        with W.Watchdog(folder, bound_s=0.5) as dog:
            dog.kernel_started(km)
            writer.start()
            time.sleep(1.5)                 # three bounds of steady writes: never fired
            assert not dog.fired and p.poll() is None
            writing.clear()                 # now it hangs
            writer.join()
            p.wait(timeout=60)
        assert dog.fired and p.returncode == -9 and _gone(child)
    finally:
        writing.clear()
        if p.poll() is None:
            p.kill()


def test_without_a_kernel_there_is_nothing_to_end(tmp_path):
    with W.Watchdog(tmp_path, bound_s=0.1) as dog:
        time.sleep(0.5)
    assert not dog.fired
