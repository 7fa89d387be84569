"""Grid files -> a Plan: params/<grid>.yaml expanded into one checked RunConfig per run.

A grid file has a ``base`` (parameters every run shares), ``grids`` (each a mapping of parameter: value or
[values], crossed; a ``zip:`` block pairs lists element by element), an optional ``description`` and an
optional ``executor:`` block (how to run it: ``type: local|slurm`` and that backend's settings) and an optional
``stall_timeout`` (how long a run may show no progress: grid/watchdog.py).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..paths import from_repo
from ..train.config import ConfigError, RunConfig, check_known

GRID_KEYS = ("description", "base", "grids", "executor", "stall_timeout")


class GridError(ValueError):
    """A grid file that cannot be used; the message names the file, the key and what is allowed."""


@dataclass
class Plan:
    """A grid file's runs, each one's config checked (its out_dir under the runs folder, when one is given)."""
    name: str         # the grid file's stem: runs/<name> by default
    description: str
    runs: list[RunConfig]
    blocks: dict[str, list[str]] = field(default_factory=dict)   # block name -> its run ids (a shared run: the first)
    executor: dict[str, Any] = field(default_factory=dict)       # the file's executor: block ({} if none)
    stall_timeout: Any = None    # the file's stall_timeout as written (auto, 20m), checked by the command


def load_grid(path: str | Path, out: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Plan:
    """Read and check a grid file; every run's config is validated before anything runs."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GridError(f"grid file {where} does not exist (grids live in params/: "
                        f"{', '.join(sorted(p.name for p in from_repo('params').glob('*.yaml')))})") from None
    except UnicodeDecodeError as e:
        raise GridError(f"{where} is not UTF-8 text ({e})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GridError(f"{where} is not valid YAML: {e}") from None
    if doc is None:
        raise GridError(f"{where} is empty; it needs 'base' and 'grids' (see params/paper.yaml)")
    if not isinstance(doc, dict):
        raise GridError(f"{where} must be a mapping with keys {', '.join(GRID_KEYS)}, got {type(doc).__name__}")
    check_known(doc, GRID_KEYS, "key", where, GridError)
    base = doc.get("base") or {}
    grids = doc.get("grids")
    if not isinstance(base, dict):
        raise GridError(f"{where}: 'base' must be a mapping of run parameters")
    if not grids or not isinstance(grids, list):
        raise GridError(f"{where}: 'grids' must be a non-empty list of mappings (the grid is empty)")
    fields = RunConfig.field_names()
    runs: dict[str, RunConfig] = {}
    blocks: dict[str, list[str]] = {}
    for i, g in enumerate(grids):
        if not isinstance(g, dict):
            raise GridError(f"{where}: grids[{i}] must be a mapping of parameter: value or [values]")
        label = f"{where}: grids[{i}]" + (f" ({g['name']})" if "name" in g else "")
        axes = {k: v for k, v in g.items() if k not in ("name", "zip")}
        paired = _zip_axes(g.get("zip"), label) if "zip" in g else {}
        both = sorted(set(axes) & set(paired))
        if both:
            raise GridError(f"{label}: {', '.join(both)} is both an axis and in zip; give it in one place")
        check_known([*axes, *paired, *base], fields, "parameter", label, GridError)
        lists = {k: (v if isinstance(v, list) else [v]) for k, v in axes.items()}
        empty = [k for k, v in lists.items() if not v]
        if empty:
            raise GridError(f"{label}: {', '.join(empty)} has an empty list (the grid is empty)")
        # the zip block is one more axis whose values are tuples: its lists are read element by element
        zipped = [dict(zip(paired, vals)) for vals in zip(*paired.values())] if paired else [{}]
        for combo in itertools.product(*lists.values(), zipped):
            values = {**base, **dict(zip(lists, combo[:-1])), **combo[-1], **(overrides or {})}
            try:
                cfg = RunConfig.from_dict(values)
            except ConfigError as e:
                raise GridError(f"{label}: {e}") from None
            if out is not None:
                cfg = cfg.replace(out_dir=str(Path(out) / cfg.run_id()))
            if cfg.run_id() not in runs:  # a config shared by two grids runs once (the id names its key)
                runs[cfg.run_id()] = cfg
                blocks.setdefault(str(g.get("name") or f"grids[{i}]"), []).append(cfg.run_id())
    block = doc.get("executor")
    if block is not None and not isinstance(block, dict):
        raise GridError(f"{where}: 'executor' must be a mapping such as {{type: slurm, partition: gpu}}")
    return Plan(path.stem, str(doc.get("description") or ""), list(runs.values()), blocks, dict(block or {}),
                doc.get("stall_timeout"))


def _zip_axes(block: Any, label: str) -> dict[str, list]:
    """A grid's ``zip:`` block: parameters whose lists vary together, element by element, instead of being
    crossed (``batch_size: [8, 64]`` with ``epochs: [1, 8]`` gives two runs, not four)."""
    if not isinstance(block, dict) or not block:
        raise GridError(f"{label}: zip must be a mapping of two or more parameters to lists of equal length, "
                        f"e.g. zip: {{batch_size: [8, 64], epochs: [1, 8]}}")
    scalars = [str(k) for k, v in block.items() if not isinstance(v, list)]
    if scalars:
        raise GridError(f"{label}: zip: {', '.join(scalars)} must be a list (a single value belongs outside zip)")
    if len(block) < 2:
        raise GridError(f"{label}: zip pairs two or more parameters; with only {next(iter(block))}, "
                        f"give it as an ordinary axis")
    lengths = {str(k): len(v) for k, v in block.items()}
    if len(set(lengths.values())) != 1:
        raise GridError(f"{label}: zip lists must have equal lengths (they are read element by element), got "
                        + ", ".join(f"{k} {n}" for k, n in lengths.items()))
    if not next(iter(lengths.values())):
        raise GridError(f"{label}: zip lists are empty (the grid is empty)")
    return {str(k): v for k, v in block.items()}


def parse_pairs(items: list[str], flag: str = "--set", parse: Callable[[str], Any] = yaml.safe_load) -> dict[str, Any]:
    """``KEY=VALUE`` pairs of a repeatable flag (``--set``, ``--slurm``), each value through ``parse`` (for
    --set a YAML scalar, so 0.01 is a number)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise GridError(f"{flag} takes KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = parse(v)
    return out
