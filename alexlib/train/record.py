"""A run's record (metrics.json) as one typed definition, ``RunRecord``, with a schema version: train writes it,
the grid and the report read it; an older record is read through ``upgrade``, which knows what each version
lacks. Also: its file names, reading every record below a folder (one error policy for every reader: the report,
the cost estimate, the benchmark, the report's copy), whether a record is the same run as a configuration, and
the digest of the training code that made it. Torch-free (a test holds it so): the grid, the cluster path and
the report read records without loading torch.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import io
import re
import tokenize
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

from ..io import read_json
from ..paths import REPO
from ..vocab import STATUS_RANK
from .config import ConfigError, RunConfig

METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"

# The record's schema. Version 1: every record written before the schema had a number (no "schema" key). Of
# those, the ones written before 2026-12-03 also lack the environment fields that move numbers (cpu_capability,
# blas, onednn, kernel_env), and all lack the training code's digest. Version 2 adds "schema" and "code_digest".
# Version 3 adds "bn_checks" to the records of norms that normalize over the batch (alexlib.train.run.bnchecks).
# Version 4 adds "layers" to each epoch of the history: per-layer gradient norms and weight distances
# (alexlib.train.net.signals).
SCHEMA = 4
ENV_ADDED_IN_1 = ("cpu_capability", "blas", "onednn", "kernel_env")   # absent from the earliest version-1 records
STATUSES = tuple(STATUS_RANK)
# fields an older record can lack that a rerun adds (grid --rerun-lacking)
LACKABLE = ("bn_checks", "code_digest", "layers")


class RecordError(ValueError):
    """A record this code cannot read (a newer schema, a missing field, an unknown status)."""


@dataclass
class RunRecord:
    """What one run wrote: its configuration, how it ended, its per-epoch history and where it ran. Written
    whole (atomically) after every epoch and at the end; the JSON form is ``to_json``."""
    run_id: str
    config: dict[str, Any]                        # RunConfig.to_dict(), paths repo-relative
    status: str = "running"                       # one of STATUSES
    history: list[dict[str, Any]] = field(default_factory=list)   # per epoch: losses, accuracies (%), seconds
    final: dict[str, Any] | None = None           # the last epoch's numbers, set when the run ends
    env: dict[str, Any] = field(default_factory=dict)       # device, versions, kernels (train.run.device.environment)
    dataset: dict[str, Any] = field(default_factory=dict)   # name, sizes, origin and file checksums
    model: dict[str, Any] = field(default_factory=dict)     # parameters, image size, width
    code_digest: str | None = None                # the training code that made it (``training_code_digest``;
                                                  # "a+b": resumed under other code; None: not known)
    started_at: str = ""
    updated_at: str = ""
    session_seconds: float | None = None          # wall time of the session that wrote it last
    diverged_at: dict[str, int] | None = None     # epoch and step where the loss stopped being finite
    interrupted_at: str | None = None
    error: str | None = None
    traceback: str | None = None
    bn_checks: dict[str, Any] | None = None       # a norm of batch statistics: test accuracy with them recomputed
                                                  # and with each test batch's own (alexlib.train.run.bnchecks)
    schema: int = SCHEMA
    lacks: tuple[str, ...] = ()                   # what its version did not record (set on reading, never written;
                                                  # readers show those fields as not recorded)

    def to_json(self) -> dict[str, Any]:
        """The record as metrics.json holds it (fields that are not set are left out, ``lacks`` never written)."""
        d = asdict(self)
        d.pop("lacks")
        return {k: v for k, v in d.items() if v is not None or k in ("final", "code_digest")}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunRecord":
        """A record read back, of any version this code knows (``upgrade``)."""
        d, lacks = upgrade(d)
        known = {f.name for f in fields(cls)}
        missing = [k for k in ("run_id", "config", "status") if k not in d]
        if missing:
            raise RecordError(f"the record lacks {', '.join(missing)}")
        if d["status"] not in STATUSES:
            raise RecordError(f"unknown status {d['status']!r}")
        return cls(**{k: v for k, v in d.items() if k in known}, lacks=lacks)


def upgrade(d: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A record of any earlier version in the current one, and what its version lacks (those fields are left
    unset, never guessed: the report shows them as not recorded)."""
    version = d.get("schema", 1)
    if not isinstance(version, int) or version > SCHEMA:
        raise RecordError(f"written by a newer alexlib (record schema {version!r}, this code reads up to {SCHEMA}): "
                          "update alexlib to read it")
    lacks: list[str] = []
    if version == 1:
        env = d.get("env") or {}
        lacks += [f"env.{k}" for k in ENV_ADDED_IN_1 if k not in env] + ["code_digest"]
        d = {**d, "code_digest": None}
    if _batch_stats_norm(d) and d.get("status") == "completed" and not d.get("bn_checks"):
        lacks.append("bn_checks")   # before version 3, or its checks failed after training (train.run.loop)
    if version < 4 or any("layers" not in h for h in d.get("history") or []):
        lacks.append("layers")      # before version 4, or some epochs trained before it (resumed across the change)
    return {**d, "schema": SCHEMA}, tuple(lacks)


def _batch_stats_norm(d: dict[str, Any]) -> bool:
    from .net.norms import NORMS, norm_entry
    norm = (d.get("config") or {}).get("norm")
    return norm in NORMS and norm_entry(norm).batch_stats


# The modules of alexlib/train that compute a run's numbers, as paths below alexlib/train, hashed in this order
# (docs/MODEL.md, "The training code's digest"): readers, registries, help, plots and the record's own format are
# left out, so adding one of those never makes finished runs look as if other code had trained them.
RUN_CODE = ("net/model.py", "net/norms.py", "net/layers.py", "net/shapes.py", "run/loop.py", "run/trainer.py",
            "run/graphs.py", "run/checkpoint.py", "run/bnchecks.py", "run/device.py", "config.py",
            "inputs/transforms.py", "net/signals.py")
TRAIN_PACKAGE = __name__.rpartition(".")[0]   # "alexlib.train": the name the hashed folder is imported under
TRAIN_FOLDER = Path(__file__).parent


@functools.lru_cache(maxsize=1)
def training_code_digest() -> str:
    """The digest of this training code: ``code_digest`` of the ``RUN_CODE`` modules of this folder."""
    return code_digest(TRAIN_FOLDER, RUN_CODE)


def code_digest(folder: Path, names: tuple[str, ...] | None = None, package: str = TRAIN_PACKAGE) -> str:
    """A digest of the Python files ``names`` (paths below ``folder``), in that order (every .py file below it,
    by file name, when ``names`` is None), their code lines only: comments, docstrings, blank lines and trailing
    spaces left out, so a comment change keeps the digest and a change of what the code does changes it. Each
    file enters by its file name, never its folder's path, and its imports as they would read were every module
    of ``folder`` flat in it (``Place``): every clone gives the same digest, and moving a module between the
    folder's subfolders keeps it. ``package`` is the name ``folder`` is imported under. The text is hashed, not
    Python's tree (``ast.dump`` differs between Python versions, and one study may run on two interpreters).
    12 hex digits."""
    folder = Path(folder)
    paths = (sorted(folder.rglob("*.py"), key=lambda p: (p.name, p.relative_to(folder).parts)) if names is None
             else [folder / n for n in names])
    h = hashlib.sha256()
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"the training code's digest hashes {p.relative_to(folder)}, which {folder} "
                                    "lacks: restore it, or change RUN_CODE in alexlib/train/record.py (and "
                                    "docs/MODEL.md)")
        h.update(p.name.encode() + b"\0" + "\n".join(code_lines(p.read_text(), Place.of(p, folder, package)))
                 .encode() + b"\0")
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class Place:
    """Where a module sits (``module``, its dotted name; ``package_file``: an __init__.py), for reading its imports
    as they would read were every module of alexlib/train flat in it: ``root`` is that folder (or a copy of it)
    and ``package`` the name it is imported under. Subfolders are read off ``root``'s own folders."""
    module: str
    root: Path = TRAIN_FOLDER
    package: str = TRAIN_PACKAGE
    package_file: bool = False

    @classmethod
    def of(cls, path: Path, root: Path = TRAIN_FOLDER, package: str = TRAIN_PACKAGE) -> "Place":
        """The place of a file below ``root``."""
        parts = Path(path).relative_to(root).with_suffix("").parts
        init = parts[-1] == "__init__"
        return cls(".".join([package, *(parts[:-1] if init else parts)]), Path(root), package, init)

    def flat(self, name: str) -> str:
        """A dotted name as it would be were every module of the package flat in it: the subfolders it lies in
        dropped (``alexlib.train.net.norms`` -> ``alexlib.train.norms``; ``alexlib.train.net`` -> ``alexlib.train``);
        names outside the package as they are."""
        pkg, parts = self.package.split("."), name.split(".")
        if parts[:len(pkg)] != pkg:
            return name
        folder, i = self.root, len(pkg)
        while i < len(parts) and (folder / parts[i]).is_dir():
            folder, i = folder / parts[i], i + 1
        return ".".join(pkg + parts[i:])

    def flat_from(self, node: ast.ImportFrom) -> str | None:
        """The module of ``from X import ...`` as the module would write it flat (relative stays relative; the
        shortest form, as the flat modules write theirs); None: as it is written."""
        if not node.level:
            flat = self.flat(node.module)
            return None if flat == node.module else flat
        here = self.module.split(".") if self.package_file else self.module.split(".")[:-1]
        target = here[:len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
        flat_here = self.flat(self.module).split(".")
        flat_here = flat_here if self.package_file else flat_here[:-1]
        flat_target = self.flat(".".join(target)).split(".")
        if flat_target == target and flat_here == here:
            return None
        k = 0
        while k < min(len(flat_here), len(flat_target)) and flat_here[k] == flat_target[k]:
            k += 1
        return "." * (len(flat_here) - k + 1) + ".".join(flat_target[k:])


FROM = re.compile(r"from\s+([.\w]+)\s+import\b")


def flat_source(source: str, place: Place) -> str:
    """``source`` with each import's module written as ``place`` would write it flat (``Place.flat_from``;
    ``import alexlib.train.net.norms`` reads ``import alexlib.train.norms``); every other character as it is (a
    multi-line import's module is on its first line). In a subfolder of train, ``from ...io import x`` reads
    ``from ..io import x`` and ``from ..net.norms import y`` reads ``from .norms import y``; outside it, ``from
    ...train.net.norms import y`` reads ``from ...train.norms import y``. A module written flat reads as written."""
    lines = source.splitlines(keepends=True)
    edits = []   # (line, column, old text, new text), made right to left: the columns stay true
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (flat := place.flat_from(node)) is not None:
            edits.append((node.lineno - 1, node.col_offset, None, flat))
        elif isinstance(node, ast.Import):
            edits += [(a.lineno - 1, a.col_offset, a.name, place.flat(a.name)) for a in node.names
                      if place.flat(a.name) != a.name]
    for row, col, old, new in sorted(edits, reverse=True):
        line = lines[row]
        col = len(line.encode()[:col].decode())   # ast's columns count UTF-8 bytes
        if old is None:
            m = FROM.match(line, col)
            if m is None:   # a form the pattern does not know (a line continued inside "from"): as written
                continue
            start, end = m.span(1)
        else:
            start, end = col, col + len(old)
        lines[row] = line[:start] + new + line[end:]
    return "".join(lines)


def code_lines(source: str, place: Place | None = None) -> list[str]:
    """The source's lines without comments, docstrings, blank lines and trailing spaces; with ``place``, its
    imports read flat first (``flat_source``)."""
    if place is not None:
        source = flat_source(source, place)
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):   # docstrings out: a reworded one trains the same network
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            for i in range(body[0].lineno - 1, body[0].end_lineno):
                lines[i] = ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:   # cut at the comment's column: the code before it stays
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    return [s.rstrip() for s in lines if s.strip()]


@dataclass(frozen=True)
class Unreadable:
    """A metrics.json that could not be used, and why."""
    path: Path
    problem: str


def read_metrics(out_dir: Path) -> dict[str, Any] | None:
    """The run's record read through ``RunRecord`` (upgraded to the current schema) in its JSON form, or None when
    there is none or it cannot be read (a broken file: the run starts again). A record of a newer schema raises
    RecordError: it is a run that newer code made, never to be overwritten by this code."""
    p = Path(out_dir) / METRICS
    if not p.exists():
        return None
    rec = _read(p)
    if isinstance(rec, Unreadable):
        return None
    upgrade(rec)   # a newer schema raises here, before anything could write over it
    try:
        return RunRecord.from_json(rec).to_json()
    except (RecordError, TypeError):
        return None


def _read(p: Path) -> dict[str, Any] | Unreadable:
    try:
        m = read_json(p)
    except (ValueError, UnicodeDecodeError, OSError) as e:
        return Unreadable(p, f"unreadable metrics.json ({type(e).__name__}: {e})")
    if not isinstance(m, dict):
        return Unreadable(p, f"unreadable metrics.json (a {type(m).__name__}, not a record)")
    return m


def record_paths(folder: str | Path) -> list[Path]:
    """Every metrics.json below ``folder``, in path order (none when the folder does not exist)."""
    folder = Path(folder)
    return sorted(folder.rglob(METRICS)) if folder.is_dir() else []


def read_records(folder: str | Path) -> Iterator[tuple[Path, RunRecord | Unreadable]]:
    """Each metrics.json below ``folder`` as a ``RunRecord`` (upgraded to the current schema), or ``Unreadable``
    saying why it could not be read: a reader decides what an unreadable file means to it (the report lists it,
    the estimate skips it)."""
    for p in record_paths(folder):
        m = _read(p)
        if isinstance(m, Unreadable):
            yield p, m
            continue
        try:
            yield p, RunRecord.from_json(m)
        except (RecordError, TypeError) as e:
            yield p, Unreadable(p, f"unreadable metrics.json ({e})")


PATH_KEYS = (("config", "data_dir"), ("config", "out_dir"), ("dataset", "location"), ("dataset", "fallback_from"))


def relative_to_repo(path: str | None) -> str | None:
    """A path inside the repository as relative to its root (what every clone shares); others as they are."""
    if not path:
        return path
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO)) if p.is_absolute() else path
    except ValueError:
        return path


def portable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without this machine's paths: the folders it names inside the repository, relative to its root
    (runs resolve them against the root again, wherever they start). Everything else as it is."""
    out = dict(record)
    for block, key in PATH_KEYS:
        if isinstance(out.get(block), dict) and out[block].get(key):
            out[block] = {**out[block], key: relative_to_repo(out[block][key])}
    return out


def same_run(saved: dict[str, Any] | None, cfg: RunConfig, precision: str | None = None) -> tuple[bool, str]:
    """Whether a saved record or checkpoint describes the same run as ``cfg`` (same result key), and if
    not, how not. ``precision`` is what ``cfg.precision`` resolves to here (auto -> bf16 or fp32); the
    saved side's resolved precision is the one it ran with."""
    record_cfg = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(record_cfg, dict):
        return False, "no readable config"
    try:
        old_cfg = RunConfig.from_dict(record_cfg)
    except (ConfigError, TypeError) as e:
        return False, f"unreadable config ({e})"
    ran_with = saved.get("precision") or (saved.get("env") or {}).get("precision")
    old = old_cfg.result_key(ran_with if precision is not None else None)
    new = cfg.result_key(precision if ran_with is not None else None)
    diff = [f"{k}: {old.get(k)!r} there, {new[k]!r} now" for k in new if old.get(k) != new[k]]
    return not diff, "; ".join(diff)
