"""Checkpoints: loaded weights-only, so a tampered file is refused without running its code."""
import os
from pathlib import Path

import pytest
import torch

import alexlib.train.run.loop as T
from alexlib.train.config import RunConfig
from alexlib.train.inputs.splits import DataError

from conftest import tiny


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {EVIL_MARK}",))


EVIL_MARK = Path("/tmp") / f"alexlib-evil-{os.getpid()}"


def test_a_malicious_checkpoint_is_refused_without_running_its_code(tmp_path):
    cfg = tiny(tmp_path)
    run = Path(cfg["out_dir"])
    run.mkdir(parents=True)
    torch.save({"config": RunConfig.from_dict(cfg).to_dict(), "epoch": 1, "evil": Evil()}, run / "checkpoint.pt")
    EVIL_MARK.unlink(missing_ok=True)
    with pytest.raises(DataError, match="cannot be loaded safely.*delete it"):
        T.train(cfg)
    assert not EVIL_MARK.exists()
