"""One flat, typed run configuration: the notebook's parameters, the CLI's flags and the grid's keys.

Every value is checked before any data loads; a bad one raises ``ConfigError`` naming the field,
the value and what is allowed.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, fields
from typing import Any, Iterable, Sequence

from ..vocab import PRECISIONS
from .inputs.datasets import REGISTRY  # the built-in datasets plus any registered ones (tests, the GPU check)
from .net.norms import NORMS, norm_entry
from .net.shapes import stage_channels

# Fields that say where a run's files live, which device of a kind ran it, or how fast it runs, but not
# what it measures: they are left out of the result key.
PLACE_ONLY = ("out_dir", "data_dir", "device")
SPEED_ONLY = ("cuda_graph", "deterministic", "eval_batch_size", "progress", "keep_checkpoint", "threads")


class ConfigError(ValueError):
    """A run parameter that cannot be used; the message names it and what is allowed."""


def check_known(given: Iterable[Any], known: Sequence[str], what: str = "parameter", where: str = "",
                error: type[Exception] = ConfigError) -> None:
    """Names that are not among ``known`` are an error naming them, where they came from and the known ones
    (a misspelled key is never ignored): run parameters, grid keys, a notebook's parameters, SLURM options."""
    unknown = sorted(set(map(str, given)) - set(known))
    if unknown:
        raise error(f"{where + ': ' if where else ''}unknown {what}(s) {', '.join(map(repr, unknown))}; "
                    f"known {what}s: {', '.join(known)}")


@dataclass(frozen=True)
class RunConfig:
    # --- the study's variables (defaults: the report's protocol) ---
    norm: str = "none"            # none | bn | ln | gn | lrn | bn_gn5 | bn_pre5 (arms of BN): see alexlib.train.net.norms
    batch_size: int = 64          # images per SGD step; the last partial batch is kept
    lr: float = 0.005             # SGD learning rate
    momentum: float = 0.9         # SGD momentum
    epochs: int = 10              # passes over the training split
    seed: int = 0                 # weight init, shuffling and dropout
    # --- data ---
    dataset: str = "cifar10"      # a name of the datasets registry (train/inputs/datasets.py; --help lists them)
    data_dir: str = "data"        # where datasets live (cifar10 reads <data_dir>/cifar-10-batches-py)
    image_size: int = 224         # pixels per side after on-device bilinear resize; at least 63
    train_size: int = 0           # stratified training subset; 0 means the whole split
    test_size: int = 0            # stratified test subset; 0 means the whole split
    # --- model ---
    width: float = 1.0            # channel multiplier; 1.0 is the report's network
    gn_groups: int = 4            # GroupNorm groups (the report: 4)
    dropout: float = 0.5          # dropout probability before fc6 and fc7
    # --- where and how ---
    device: str = "auto"          # auto (CUDA when present) | cpu | cuda | cuda:N
    precision: str = "auto"       # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    deterministic: bool = False   # PyTorch deterministic algorithms (slower on CUDA)
    cuda_graph: bool = True       # capture the full-batch training step in one CUDA graph
    eval_batch_size: int = 500    # images per evaluation batch
    threads: int = 0              # CPU threads for the run's math; 0: torch's default (every core)
    out_dir: str = ""             # where metrics.json and checkpoint.pt go; empty: runs/<run_id>
    progress: bool = True         # per-epoch lines and a throttled in-epoch progress line
    keep_checkpoint: bool = False  # keep checkpoint.pt after the run ends (full size: ~0.5 GB each)

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _check_type(f.name, getattr(self, f.name), f.type))
        _check_values(self)

    # ---- construction ----
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"a run configuration must be a mapping of parameters, got {type(d).__name__}")
        check_known(d, cls.field_names())
        return cls(**d)

    @classmethod
    def from_strings(cls, d: dict[str, str]) -> "RunConfig":
        """From command-line text: each value is parsed as its field's type, then checked."""
        types = {f.name: f.type for f in fields(cls)}
        # unknown keys pass through untouched, so from_dict reports them with the known ones listed
        return cls.from_dict({k: _parse_text(k, v, types[k]) if k in types else v for k, v in d.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **kw) -> "RunConfig":
        return dataclasses.replace(self, **kw)

    # ---- derived ----
    def run_id(self) -> str:
        """A folder name: the fields that usually vary in a grid, readable, then a short hash of the whole
        result key, so two configurations that differ anywhere (momentum, subset size...) never share one."""
        parts = [self.dataset, self.norm, f"bs{self.batch_size}", f"lr{self.lr:g}", f"s{self.seed}"]
        if self.image_size != 224:
            parts.append(f"px{self.image_size}")
        if self.width != 1.0:
            parts.append(f"w{self.width:g}")
        if self.epochs != 10:
            parts.append(f"ep{self.epochs}")
        return "-".join(parts) + "-" + self.key_hash()

    def key_hash(self) -> str:
        """8 hex digits of the result key (the same on every machine and Python version)."""
        text = json.dumps(self.result_key(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def resolved_out_dir(self) -> str:
        return self.out_dir or f"runs/{self.run_id()}"

    def result_key(self, precision: str | None = None) -> dict[str, Any]:
        """The fields that change what a run measures: a run resumes, or counts as done, only under the
        same key. ``precision``: what ``auto`` resolved to on the machine (bf16 on CUDA, fp32 on the CPU),
        so a bf16 run is never resumed as an fp32 one."""
        d = self.to_dict()
        for k in PLACE_ONLY + SPEED_ONLY:
            d.pop(k)
        if precision is not None:
            d["precision"] = precision
        return d


# Per-field limits: (minimum, maximum) for numbers. Upper limits stop typos such as 1e9 epochs.
_INT_LIMITS = {
    "batch_size": (1, 65536), "epochs": (1, 10000), "seed": (0, 2**31 - 1),
    "image_size": (63, 1024), "train_size": (0, 10_000_000), "test_size": (0, 10_000_000),
    "gn_groups": (1, 1024), "eval_batch_size": (1, 65536), "threads": (0, 4096),
}


def _type_name(t) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(t, str(t))


def _resolve(t):
    return {"int": int, "float": float, "bool": bool, "str": str}.get(t, t) if isinstance(t, str) else t


def _check_type(name: str, value: Any, t) -> Any:
    t = _resolve(t)
    bad = ConfigError(f"{name} must be {_type_name(t)}, got {value!r} ({type(value).__name__})")
    if t is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if t is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if value is None and name in ("train_size", "test_size"):
            return 0
        raise bad
    if t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        return value
    if t is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported field type {t!r}")


def _check_values(c: RunConfig) -> None:
    def need(ok: bool, name: str, why: str):
        if not ok:
            raise ConfigError(f"{name}={getattr(c, name)!r} is not allowed: {why}")

    for name, (lo, hi) in _INT_LIMITS.items():
        v = getattr(c, name)
        need(lo <= v <= hi, name, f"must be between {lo} and {hi}")
    need(c.norm in NORMS, "norm", f"choose one of {', '.join(NORMS)}")
    need(c.dataset in REGISTRY, "dataset", f"choose one of {', '.join(REGISTRY)}")
    need(c.precision in PRECISIONS, "precision", f"choose one of {', '.join(PRECISIONS)}")
    need(0 < c.lr <= 1000, "lr", "must be greater than 0 and at most 1000")
    need(0 <= c.momentum < 1, "momentum", "must be at least 0 and below 1")
    need(0 <= c.dropout < 1, "dropout", "must be at least 0 and below 1")
    need(0.05 <= c.width <= 4, "width", "must be between 0.05 and 4 (1.0 is the report's network)")
    need(re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", c.device) is not None, "device",
         "use auto, cpu, cuda or cuda:N")
    need(c.data_dir.strip() != "", "data_dir", "must name a folder")
    need("\x00" not in c.data_dir, "data_dir", "must not contain NUL characters")
    need("\x00" not in c.out_dir, "out_dir", "must not contain NUL characters")
    if norm_entry(c.norm).groups:
        chans = stage_channels(c.width)
        need(all(ch % c.gn_groups == 0 for ch in chans), "gn_groups",
             f"must divide every stage's channel count {chans} at width {c.width:g}")


def _parse_text(name: str, text: str, t) -> Any:
    t = _resolve(t)
    if not isinstance(text, str):
        return text
    s = text.strip()
    try:
        if t is bool:
            low = s.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if t is int:
            return int(s)
        if t is float:
            return float(s)
    except ValueError:
        raise ConfigError(f"{name} must be {_type_name(t)}, got {text!r}") from None
    return text


# ---------------------------------------------------------------------------------------------------
# Help text: what each parameter is, its type, what it accepts, its default (python -m alexlib.train --help)
# ---------------------------------------------------------------------------------------------------
# What each parameter accepts, beyond its type (the values RunConfig checks; tests hold the two together)
CHOICES = {"norm": NORMS, "precision": PRECISIONS, "device": ("auto", "cpu", "cuda", "cuda:N")}
FLOAT_LIMITS = {"lr": "0 < lr <= 1000", "momentum": "0 <= momentum < 1", "dropout": "0 <= dropout < 1",
                "width": "0.05..4"}


def field_comments() -> dict[str, str]:
    """Each RunConfig field's one-line comment in alexlib/train/config.py (what the notebook's parameters cell and
    papermill's --help-notebook show), read from the source so the two never drift apart."""
    import inspect
    import io
    import re
    import tokenize
    try:
        source = inspect.getsource(RunConfig)
    except (OSError, TypeError):  # no source shipped: help without comments
        return {}
    names, comments = set(RunConfig.field_names()), {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        field_line = re.match(r"\s*(\w+)\s*:", tok.line)  # "name: type = default  # comment"
        if tok.type == tokenize.COMMENT and field_line and field_line.group(1) in names:
            comments[field_line.group(1)] = tok.string.lstrip("#").strip()
    return comments


def _cli_value(v: Any) -> str:
    """A default as papermill's --help-notebook shows it, booleans as they are typed (true, false)."""
    return str(v).lower() if isinstance(v, bool) else repr(v)


def parameter_help() -> dict[str, tuple[str, str]]:
    """For each field: (metavar, help): its comment, type, allowed values and default, once each."""
    comments = field_comments()
    out = {}
    for f in fields(RunConfig):
        t = f.type if isinstance(f.type, str) else f.type.__name__  # "int" (annotations are text here)
        choices = ("true", "false") if t == "bool" else REGISTRY if f.name == "dataset" else CHOICES.get(f.name)
        allowed = ""
        if f.name in _INT_LIMITS:
            allowed = "{}..{}".format(*_INT_LIMITS[f.name])
        elif f.name in FLOAT_LIMITS:
            allowed = FLOAT_LIMITS[f.name]
        metavar = "{" + ",".join(choices) + "}" if choices else {"int": "N", "float": "X"}.get(t, "TEXT")
        text = comments.get(f.name, "")
        details = ", ".join(x for x in (t, allowed) if x)
        out[f.name] = (metavar, f"{text} [{details}; default {_cli_value(f.default)}]".strip().replace("%", "%%"))
    return out


class Help(argparse.HelpFormatter):
    """--help of every command: each option's default said once, and only where there is one (not for flags,
    repeatable options or options whose absence means something the help says)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if "%(default)" in text or d in (None, False, "", [], argparse.SUPPRESS) or action.option_strings == []:
            return text
        return f"{text} (default: {d})"
