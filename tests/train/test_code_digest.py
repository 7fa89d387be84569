"""The training code's digest (alexlib.train.record.training_code_digest) covers the modules that compute a run
(RUN_CODE) and no others: a new reader beside them keeps it, a change to the model's code changes it, and the
folder's path never enters it. Each module enters by its file name and its imports as they would read were every
module of alexlib/train flat in it: moving a module between train's subfolders keeps the digest, changing what is
imported changes it."""
import re
import shutil
from pathlib import Path

import pytest

from alexlib.train import record as R

TRAIN = Path(R.__file__).parent


@pytest.fixture
def copy(tmp_path):
    """alexlib/train copied elsewhere (another path, the same files)."""
    return Path(shutil.copytree(TRAIN, tmp_path / "elsewhere" / "train", ignore=shutil.ignore_patterns("__pycache__")))


def test_the_digest_is_the_listed_modules_wherever_the_folder_lies(copy):
    assert R.code_digest(copy, R.RUN_CODE) == R.training_code_digest()
    below = {p.relative_to(TRAIN).as_posix() for p in TRAIN.rglob("*.py")}
    assert set(R.RUN_CODE) <= below and len(set(R.RUN_CODE)) == len(R.RUN_CODE)
    # the readers and the rest are outside it: the digest of every file differs from it
    assert R.code_digest(copy) != R.training_code_digest()
    assert not {"data.py", "datasets.py", "images.py", "splits.py", "record.py"} & {Path(n).name for n in R.RUN_CODE}


def test_a_new_reader_module_keeps_the_digest(copy):
    reader = '"""Another format."""\n\ndef load(path):\n    return open(path).read()\n'
    (copy / "inputs" / "newreader.py").write_text(reader)
    images = copy / "inputs" / "images.py"
    images.write_text(images.read_text() + "\nEXTRA = 1\n")   # a reader changed
    assert R.code_digest(copy, R.RUN_CODE) == R.training_code_digest()


@pytest.mark.parametrize("module", ["net/model.py", "inputs/transforms.py", "config.py"])
def test_a_change_to_the_code_that_computes_a_run_changes_the_digest(copy, module):
    before = R.code_digest(copy, R.RUN_CODE)
    (copy / module).write_text((copy / module).read_text() + "\n# a comment only\n")
    assert R.code_digest(copy, R.RUN_CODE) == before
    (copy / module).write_text((copy / module).read_text() + "\nSCALE = 2\n")
    assert R.code_digest(copy, R.RUN_CODE) != before


def test_a_listed_module_that_is_gone_is_named(copy):
    (copy / "net" / "model.py").unlink()
    with pytest.raises(FileNotFoundError, match="hashes net/model.py, which .* lacks: restore it, or change RUN_CODE"):
        R.code_digest(copy, R.RUN_CODE)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def move(copy: Path, src: str, dst: str, importers: dict[str, tuple[str, str]]) -> tuple[str, ...]:
    """``src`` moved to ``dst`` in the copy, each importer's line changed as the move needs; RUN_CODE so moved."""
    (copy / dst).parent.mkdir(exist_ok=True)
    (copy / src).rename(copy / dst)
    for module, (old, new) in importers.items():
        edit(copy / module, old, new)
    return tuple(dst if n == src else n for n in R.RUN_CODE)


MOVES = {
    "shapes to inputs/": ("net/shapes.py", "inputs/shapes.py", {
        "config.py": ("from .net.shapes import", "from .inputs.shapes import"),
        "net/model.py": ("from .shapes import", "from ..inputs.shapes import"),
        "run/loop.py": ("from ..net.shapes import", "from ..inputs.shapes import")}),
    "graphs to train's top": ("run/graphs.py", "graphs.py", {
        "run/trainer.py": ("from .graphs import", "from ..graphs import")}),
    "the loop a folder deeper": ("run/loop.py", "run/deeper/loop.py", {}),   # nothing it hashes imports the loop
}


@pytest.mark.parametrize("case", MOVES)
def test_moving_a_run_module_to_another_subfolder_keeps_the_digest(copy, case):
    src, dst, importers = MOVES[case]
    names = move(copy, src, dst, importers)
    depth = len(Path(dst).parts) - len(Path(src).parts)   # the moved module's own relative imports reach as far
    moved = copy / dst
    moved.write_text(re.sub(r"^(\s*from )\.", lambda m: m[1] + "." * (depth + 1), moved.read_text(), flags=re.M)
                     if depth >= 0 else re.sub(r"^(\s*from )\.\.", r"\1.", moved.read_text(), flags=re.M))
    assert R.code_digest(copy, names) == R.training_code_digest()
    assert R.code_digest(copy, names) != R.code_digest(copy, tuple(n for n in names if n != dst))   # it is hashed


def test_an_absolute_import_moves_as_a_relative_one_does(copy):
    edit(copy / "run" / "loop.py", "from ..net.norms import", "from alexlib.train.net.norms import")
    absolute = R.code_digest(copy, R.RUN_CODE)
    assert absolute != R.training_code_digest()   # how a module is imported is code
    names = move(copy, "net/norms.py", "inputs/norms.py", {
        "config.py": ("from .net.norms import", "from .inputs.norms import"),
        "net/model.py": ("from .norms import", "from ..inputs.norms import"),
        "run/loop.py": ("from alexlib.train.net.norms import", "from alexlib.train.inputs.norms import")})
    edit(copy / "inputs" / "norms.py", "    from .layers import", "    from ..net.layers import")
    assert R.code_digest(copy, names) == absolute


@pytest.mark.parametrize("old, new", [
    ("from ..net.model import count_params", "from ..net.model import AlexNet, count_params"),   # another name
    ("from ..net.shapes import stage_sizes", "from ..net.model import stage_sizes"),   # from another module
    ("from ...io import FolderLock,", "from ..io import FolderLock,"),   # another package's module
])
def test_changing_what_is_imported_changes_the_digest(copy, old, new):
    edit(copy / "run" / "loop.py", old, new)
    assert R.code_digest(copy, R.RUN_CODE) != R.training_code_digest()


def test_imports_read_as_if_every_module_were_flat():
    source = ("from __future__ import annotations\n"
              "import torch\n"
              "import alexlib.train.net.norms as N\n"
              "from ...io import read_json  # a comment\n"
              "from ..config import RunConfig\n"
              "from ..net.norms import (  # the first line carries the module\n"
              "    norm_entry)\n"
              "from ..net import shapes\n"
              "from .trainer import Trainer\n"
              "from alexlib.train.inputs.data import batches\n"
              "\n"
              "def f():\n"
              "    from ..inputs.splits import DataError\n"
              "    return DataError\n")
    assert R.code_lines(source, R.Place("alexlib.train.run.loop")) == [
        "from __future__ import annotations",
        "import torch",
        "import alexlib.train.norms as N",
        "from ..io import read_json",
        "from .config import RunConfig",
        "from .norms import (",
        "    norm_entry)",
        "from . import shapes",
        "from .trainer import Trainer",
        "from alexlib.train.data import batches",
        "def f():",
        "    from .splits import DataError",
        "    return DataError"]
    flat = ("import alexlib.train.norms as N\nfrom ..io import read_json\nfrom .config import RunConfig\n"
            "from .norms import norm_entry\nfrom . import shapes\nfrom alexlib.train.data import batches\n")
    assert R.code_lines(flat, R.Place("alexlib.train.loop")) == R.code_lines(flat) == flat.splitlines()   # as written


def test_a_module_outside_train_reads_its_train_imports_flat_and_all_else_as_written():
    """The claim registry's digest (a registration's) reads its source this way: only the import lines that reach
    into a subfolder of train change, every other character stays (comments, spacing, line ends)."""
    place = R.Place("alexlib.report.domain.claims")
    source = ("from ...train.inputs.datasets import title  # a comment\r\n"
              "from ...train.net.norms import (NORMED,\r\n    SHORT_NAMES)\r\n"
              "from ...train.config import RunConfig\r\n"
              "from ...vocab import ANCHOR_BATCH\r\n"
              "import alexlib.train.run.loop as T  # é\r\n"
              "x = 'from ...train.net.norms import y'\r\n")
    assert R.flat_source(source, place) == (
        "from ...train.datasets import title  # a comment\r\n"
        "from ...train.norms import (NORMED,\r\n    SHORT_NAMES)\r\n"
        "from ...train.config import RunConfig\r\n"
        "from ...vocab import ANCHOR_BATCH\r\n"
        "import alexlib.train.loop as T  # é\r\n"
        "x = 'from ...train.net.norms import y'\r\n")
    flat = R.flat_source(source, place)
    assert R.flat_source(flat, place) == flat   # a module written flat reads as written
