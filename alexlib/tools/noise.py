"""Numerical noise, measured: the same runs (configurations and seeds) trained under two kernel settings on one
machine, and each seed's difference set beside the seed-to-seed spread of its cell.

    python -m alexlib.tools.noise params/fashion.yaml --select norm=bn,batch_size=64 [--select norm=none,...]
                                  [--settings default,lower] [--out runs/noise] [--json noise.json]

A setting is ``default`` (the kernels torch picks for this CPU) or ``lower``: one instruction set down, as
another machine of the same kind of offer may run (AVX-512 -> ``ATEN_CPU_CAPABILITY=avx2`` with oneDNN and MKL held
to AVX2; AVX2 -> ``ATEN_CPU_CAPABILITY=default``), or any ``VAR=VALUE+VAR=VALUE`` list. Each setting's runs go
through the grid (one notebook per run, as ever) in a folder of their own; the variables are set before torch
starts in each run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from ..grid.plan import load_grid
from ..paths import from_repo
from ..train.record import Unreadable, read_records

LOWER = {"AVX512": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
         "AVX2": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"}}


def capability() -> str:
    """The instruction set torch's CPU kernels use here (AVX512, AVX2, DEFAULT...), asked in a fresh process."""
    r = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                       capture_output=True, text=True, timeout=120, env={k: v for k, v in os.environ.items()
                                                                          if k not in LOWER["AVX512"]})
    return r.stdout.strip() or "?"


def setting_env(name: str) -> dict[str, str]:
    if name == "default":
        return {}
    if name == "lower":
        return dict(LOWER.get(capability(), LOWER["AVX2"]))
    return dict(item.split("=", 1) for item in name.split("+"))


def selected(grid_file: Path, selects: list[str]) -> list[dict[str, Any]]:
    """The grid's configurations matching any ``--select`` (FIELD=VALUE,FIELD=VALUE)."""
    wanted = [dict(kv.split("=", 1) for kv in s.split(",")) for s in selects]
    out = []
    for c in load_grid(grid_file).runs:
        d = c.to_dict()
        if any(all(str(d[k]) == v or (isinstance(d[k], float) and math.isclose(d[k], float(v))) for k, v in w.items())
               for w in wanted):
            out.append({k: v for k, v in d.items() if k != "out_dir"})
    return out


def train_under(configs: list[dict[str, Any]], env: dict[str, str], out: Path, jobs: str) -> dict[str, float]:
    """Run ``configs`` through the grid into ``out`` with ``env`` set; run id -> final test accuracy."""
    out.mkdir(parents=True, exist_ok=True)
    grid = out / "noise.yaml"
    grid.write_text(yaml.safe_dump({"description": "numerical noise", "grids": configs}, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "alexlib.grid", str(grid), "--out", str(out), "--jobs", jobs,
                        "--no-estimate"], env={**os.environ, **env}, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: the runs failed under {env or 'the default kernels'}:\n{r.stdout[-2000:]}{r.stderr[-1000:]}")
    return {p.parent.name: (m.final or {}).get("test_acc") for p, m in read_records(out)
            if not isinstance(m, Unreadable) and m.status == "completed"}


def compare(a: dict[str, float], b: dict[str, float], cells: dict[str, str]) -> dict[str, Any]:
    """Per cell: each seed under both settings, their differences, and the seed-to-seed sd under the first."""
    rows = []
    for cell in sorted(set(cells.values())):
        ids = sorted(r for r, c in cells.items() if c == cell and r in a and r in b)
        xa, xb = [a[r] for r in ids], [b[r] for r in ids]
        d = [y - x for x, y in zip(xa, xb)]
        m = sum(xa) / len(xa) if xa else math.nan
        sd = math.sqrt(sum((x - m) ** 2 for x in xa) / (len(xa) - 1)) if len(xa) > 1 else math.nan
        rows.append({"cell": cell, "runs": ids, "first": xa, "second": xb, "differences": d,
                     "mean_abs_difference": sum(map(abs, d)) / len(d) if d else math.nan,
                     "identical": sum(x == 0 for x in d), "seed_sd": sd})
    return {"cells": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.tools.noise", description=__doc__.splitlines()[0])
    p.add_argument("grid", help="a grid file (params/fashion.yaml)")
    p.add_argument("--select", action="append", required=True, metavar="FIELD=VALUE[,FIELD=VALUE]",
                   help="the runs to train, repeatable (e.g. norm=bn,batch_size=64,epochs=8)")
    p.add_argument("--settings", default="default,lower", help="two kernel settings: default, lower or VAR=VALUE+...")
    p.add_argument("--out", default="runs/noise", help="folder; each setting's runs in a subfolder")
    p.add_argument("--jobs", default="auto")
    p.add_argument("--json", help="write the comparison here")
    a = p.parse_args(argv)
    configs = selected(from_repo(a.grid), a.select)
    if not configs:
        p.error(f"no run of {a.grid} matches {a.select}")
    names = a.settings.split(",")
    if len(names) != 2:
        p.error("--settings takes two settings")
    results, envs = [], []
    for name in names:
        env = setting_env(name)
        envs.append(env)
        print(f"{name}: {env or 'the kernels torch picks here'}; {len(configs)} runs", flush=True)
        results.append(train_under(configs, env, from_repo(a.out) / name, a.jobs))
    res = {"grid": a.grid, "select": a.select, "settings": dict(zip(names, envs)), "capability": capability(),
           **compare(results[0], results[1], {r: _cell(r) for r in results[0]})}
    for r in res["cells"]:
        print(f"{r['cell']}: {' '.join(f'{x:+.2f}' for x in r['differences'])} points ({r['identical']} identical); "
              f"mean |difference| {r['mean_abs_difference']:.2f}, seed-to-seed sd {r['seed_sd']:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


def _cell(run_id: str) -> str:
    """A run id without its seed: its cell ('fashion_mnist-bn-bs64-lr0.005-...')."""
    parts = run_id.split("-")
    return "-".join(x for x in parts[:-1] if not (x.startswith("s") and x[1:].isdigit()))


if __name__ == "__main__":
    sys.exit(main())
