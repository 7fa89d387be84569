"""Where things are: relative paths in notebooks and grids resolve against the repository root,
wherever the kernel or the command started."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_NOTEBOOK = REPO / "notebooks" / "run.ipynb"
SUMMARY_NOTEBOOK = REPO / "notebooks" / "summary.ipynb"
PARAMS = REPO / "params"


def from_repo(path: str | Path) -> Path:
    """``path`` as given when absolute, else under the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO / p
