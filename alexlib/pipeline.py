"""The whole pipeline for `make report` / `make demo`: grid -> runs/<grid> -> summary -> reports/<grid>.

    python -m alexlib.pipeline --grid auto|paper|quick|demo|path/to/grid.yaml [--jobs auto|N]

``auto`` picks paper on a machine with CUDA and quick without, and says which it chose and why.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import grid as G
from .paths import PARAMS, from_repo
from .report import build_report


def choose_grid(name: str) -> Path:
    if name == "auto":
        import torch
        if torch.cuda.is_available():
            name = "paper"
            print(f"GRID=auto: CUDA device found ({torch.cuda.get_device_name(0)}): running the paper grid")
        else:
            name = "quick"
            print("GRID=auto: no CUDA device: running the quick CPU grid (set GRID=paper to force the full study, "
                  "GRID=demo for the offline digits demo)")
    p = PARAMS / f"{name}.yaml"
    return p if p.exists() else from_repo(name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexlib.pipeline", description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="auto")
    p.add_argument("--jobs", default="auto", help="runs at once: auto or a number (see alexlib.grid)")
    p.add_argument("--gpus", default="")
    a = p.parse_args(argv)
    grid_file = choose_grid(a.grid)
    name = grid_file.stem
    runs, reports = from_repo(f"runs/{name}"), from_repo(f"reports/{name}")
    t0 = time.monotonic()
    args = [str(grid_file), "--out", str(runs), "--jobs", str(a.jobs)] + (["--gpus", a.gpus] if a.gpus else [])
    code = G.main(args)
    if code == 2:
        return code  # bad grid or locked folder: nothing ran
    try:
        made = build_report(runs, reports)
    except Exception as e:
        print(f"error: the report could not be built: {getattr(e, 'ename', type(e).__name__)}: "
              f"{getattr(e, 'evalue', e)}", file=sys.stderr)
        return 1
    print(f"pipeline {name}: {time.monotonic() - t0:.0f} s; report: " + ", ".join(str(v) for v in made.values()))
    return code


if __name__ == "__main__":
    sys.exit(main())
