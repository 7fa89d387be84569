"""Files that are never half-written (every write goes through ``_atomic``: a temporary file beside the target,
fsync, rename), reading JSON back, proving a folder writable, and a folder lock."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _jsonable(o: Any) -> Any:
    """NaN and inf are not JSON: they become null (a diverged loss is recorded by status, not by NaN)."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    return o


def write_json(path: str | os.PathLike, obj: Any) -> None:
    text = json.dumps(_jsonable(obj), indent=1, allow_nan=False) + "\n"
    _atomic(Path(path), lambda f: f.write(text), "w")


def write_text(path: str | os.PathLike, text: str) -> Path:
    _atomic(Path(path), lambda f: f.write(text), "w")
    return Path(path)


def write_csv(path: str | os.PathLike, df) -> Path:
    """A pandas DataFrame as CSV, without its index."""
    _atomic(Path(path), lambda f: df.to_csv(f, index=False), "w")
    return Path(path)


def save_figure(path: str | os.PathLike, fig, **kw) -> Path:
    """A matplotlib figure, in the format its suffix names (``kw``: savefig's options, e.g. dpi)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    _atomic(Path(path), lambda f: fig.savefig(f, format=fmt, **kw), "wb")
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """For a writer that needs a file name (another program, such as a PDF renderer): a temporary name beside
    ``path``, moved into place when the block ends without error, removed when it does not."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    import torch
    _atomic(Path(path), lambda f: torch.save(obj, f), "wb")


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and prove a file can be written there; a clear error now, not after training."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
        try:
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        why = {errno.EACCES: "permission denied", errno.EROFS: "read-only file system",
               errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
               errno.ENOTDIR: "a part of the path is a file, not a folder"}.get(e.errno, str(e))
        raise PermissionError(f"cannot write to output folder {folder}: {why}") from e
    return folder


class FolderLock:
    """An exclusive lock on a folder (flock on <folder>/.lock), released when the process dies."""

    def __init__(self, folder: str | os.PathLike, what: str = "runner"):
        self.path = Path(folder) / ".lock"
        self.what = what
        self._fd: int | None = None

    def acquire(self, wait: bool = False) -> "FolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RuntimeError(f"{self.path.parent} is in use by {holder}; wait for it to finish "
                               f"or use another output folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.what} pid {os.getpid()}".encode(), 0)
        self._fd = fd
        return self

    @staticmethod
    def held(folder: str | os.PathLike) -> bool:
        """Whether some process on this machine holds ``folder``'s lock now. Read from the kernel's table of locks
        (/proc/locks), so looking never takes the lock, not even for an instant a run could start in; where there
        is no such table, a shared lock tried and let go at once."""
        path = Path(folder) / ".lock"
        try:
            st = path.stat()
        except OSError:
            return False
        try:
            table = Path("/proc/locks").read_text()
        except OSError:
            return _held_by_probe(path)
        me = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        return any(len(f) > 5 and f[1] == "FLOCK" and f[5] == me for f in (line.split() for line in table.splitlines()))

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc):
        self.release()


def _held_by_probe(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


_ENV_LOCK = threading.Lock()
_ENV_SET: dict[str, list] = {}   # variable -> [how many set it now, its value before the first did]


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Environment variables set for the processes started inside, from several threads at once (the grid starts
    its kernels so): the first thread to set one keeps its earlier value, the last to leave puts it back, so a
    thread that ends early never unsets it under another's kernel start. Threads set the same values."""
    with _ENV_LOCK:
        for k, v in values.items():
            _ENV_SET.setdefault(k, [0, os.environ.get(k)])[0] += 1
            os.environ[k] = v
    try:
        yield
    finally:
        with _ENV_LOCK:
            for k in values:
                held = _ENV_SET[k]
                held[0] -= 1
                if held[0] == 0:
                    del _ENV_SET[k]
                    if held[1] is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = held[1]


def utc_now() -> str:
    """The time a record is written, in UTC to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
