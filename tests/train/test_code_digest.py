"""The training code's digest (alexlib.train.record.training_code_digest) covers the modules that compute a run
(RUN_CODE) and no others: a new reader beside them keeps it, a change to the model's code changes it, and the
folder's path never enters it."""
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
    assert set(R.RUN_CODE) <= {p.name for p in TRAIN.glob("*.py")} and len(set(R.RUN_CODE)) == len(R.RUN_CODE)
    # the readers and the rest are outside it: the digest of every file differs from it
    assert R.code_digest(copy) != R.training_code_digest()
    assert not {"data.py", "datasets.py", "images.py", "splits.py", "record.py", "notebook.py"} & set(R.RUN_CODE)


def test_a_new_reader_module_keeps_the_digest(copy):
    (copy / "newreader.py").write_text('"""Another format."""\n\ndef load(path):\n    return open(path).read()\n')
    (copy / "images.py").write_text((copy / "images.py").read_text() + "\nEXTRA = 1\n")   # a reader changed
    assert R.code_digest(copy, R.RUN_CODE) == R.training_code_digest()


@pytest.mark.parametrize("module", ["model.py", "transforms.py", "config.py"])
def test_a_change_to_the_code_that_computes_a_run_changes_the_digest(copy, module):
    before = R.code_digest(copy, R.RUN_CODE)
    (copy / module).write_text((copy / module).read_text() + "\n# a comment only\n")
    assert R.code_digest(copy, R.RUN_CODE) == before
    (copy / module).write_text((copy / module).read_text() + "\nSCALE = 2\n")
    assert R.code_digest(copy, R.RUN_CODE) != before


def test_a_listed_module_that_is_gone_is_named(copy):
    (copy / "model.py").unlink()
    with pytest.raises(FileNotFoundError, match="hashes model.py, which .* lacks: restore it, or change RUN_CODE"):
        R.code_digest(copy, R.RUN_CODE)
