"""Where things are: relative paths in notebooks and grids resolve against the repository root, wherever the
kernel or the command started. The root is the checkout alexlib sits in; an installed alexlib (pip install .,
not editable) has none, and takes the folder it is run from, which must hold the project's notebooks/ and
params/ (a clone of the repository)."""
from __future__ import annotations

from pathlib import Path


def _root() -> Path:
    here = Path(__file__).resolve().parents[1]
    return here if (here / "notebooks" / "run.ipynb").is_file() else Path.cwd().resolve()


REPO = _root()
RUN_NOTEBOOK = REPO / "notebooks" / "run.ipynb"
SUMMARY_NOTEBOOK = REPO / "notebooks" / "summary.ipynb"
EXPLORE_NOTEBOOK = REPO / "notebooks" / "explore.ipynb"
PARAMS = REPO / "params"


def from_repo(path: str | Path) -> Path:
    """``path`` as given when absolute, else under the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO / p
