"""The executors by name: the command line's and the grid file's names find their backend; an unknown name
says which exist."""
import pytest

from alexlib.grid import backends as B
from alexlib.grid.local import LocalExecutor
from alexlib.grid.plan import GridError
from alexlib.grid.slurm import SlurmExecutor


def test_each_name_finds_its_backend():
    assert B.executor_class("local") is LocalExecutor and B.executor_class("slurm") is SlurmExecutor
    assert set(B.EXECUTORS) == {"local", "slurm"}


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(GridError, match="unknown executor 'kubernetes'; allowed: local, slurm"):
        B.executor_class("kubernetes")
