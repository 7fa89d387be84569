"""Where a run runs (alexlib.device): the process-wide switches a run sets on CUDA and restores after it,
checked on the CPU with CUDA's entry points stood in."""
import contextlib
import os

import pytest
import torch

from alexlib.config import ConfigError, RunConfig
from alexlib.device import run_context


def test_a_cuda_run_makes_its_device_current(monkeypatch):
    entered = []

    class FakeDevice:
        def __init__(self, dev):
            self.dev = dev

        def __enter__(self):
            entered.append(str(self.dev))

        def __exit__(self, *exc):
            entered.append("exit")

    monkeypatch.setattr(torch.cuda, "device", FakeDevice)
    with run_context(RunConfig(), torch.device("cuda:1")):
        assert entered == ["cuda:1"]
    assert entered == ["cuda:1", "exit"]


def test_deterministic_cuda_after_cuda_started_without_cublas_setting_is_refused(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(ConfigError, match="CUBLAS_WORKSPACE_CONFIG=:4096:8"):
        with run_context(RunConfig(deterministic=True), torch.device("cuda:0")):
            pass
    assert not torch.are_deterministic_algorithms_enabled()


def test_deterministic_cuda_sets_cublas_before_cuda_starts(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "device", lambda dev: contextlib.nullcontext())
    with run_context(RunConfig(deterministic=True), torch.device("cuda:0")):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
