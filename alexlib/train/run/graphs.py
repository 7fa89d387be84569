"""The seam between the training loop and CUDA graphs: an object that warms a step up, captures it once
and replays it. ``CudaStepGraph`` is the real one; ``RecordedStepGraph`` stands in for it on the CPU,
so the loop's graph path (warm-up, capture, replays, the eager partial batch, resume) is tested
without a GPU. Both run the step the loop hands them, never a step of their own.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch

Step = Callable[[], None]


class StepGraph(Protocol):
    def warmup(self, step: Step) -> None: ...   # run once eagerly, before capture
    def capture(self, step: Step) -> None: ...  # record; a real graph does not run the step here
    def replay(self) -> None: ...               # run what was captured


class CudaStepGraph:
    """PyTorch's whole-network capture recipe: warm-up steps on a side stream (so the optimizer's
    momentum buffers and cuDNN's choices exist), then one capture of forward, backward and SGD step, on a
    capture stream of the run's own device (torch.cuda.graph's default stream is made once per process, on
    whichever device captured first: a second run on another GPU would capture on the wrong one)."""

    def __init__(self, dev: torch.device):
        self.dev = dev
        self.graph: torch.cuda.CUDAGraph | None = None
        self.stream = torch.cuda.Stream(device=dev)

    def warmup(self, step: Step) -> None:
        side = torch.cuda.Stream(self.dev)
        side.wait_stream(torch.cuda.current_stream(self.dev))
        with torch.cuda.stream(side):
            step()
        torch.cuda.current_stream(self.dev).wait_stream(side)

    def capture(self, step: Step) -> None:
        torch.cuda.synchronize(self.dev)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            step()
        self.graph = graph

    def replay(self) -> None:
        self.graph.replay()


class RecordedStepGraph:
    """A stand-in for tests: capture keeps the step, each replay runs it. Counts what happened, and can
    be told to fail a capture or the n-th replay, as a real graph might. A failed capture fails the way CUDA's
    does: the step's work was recorded (here: run) up to the error, the exception comes out of the capture's
    exit, and the random-number generator is left mid-capture, so any later step that draws random numbers
    (dropout) fails too, as "Offset increment outside graph capture" does on CUDA."""

    def __init__(self, fail_capture: str | None = None, fail_replay_at: int | None = None):
        self.step: Step | None = None
        self.warmups = self.captures = self.replays = 0
        self.fail_capture, self.fail_replay_at = fail_capture, fail_replay_at
        self.poisoned = False   # the generator was left mid-capture

    def warmup(self, step: Step) -> None:
        self._check()
        self.warmups += 1
        step()

    def capture(self, step: Step) -> None:
        self._check()
        self.captures += 1
        if self.fail_capture:
            self.poisoned = True
            raise RuntimeError(self.fail_capture)
        self.step = step

    def replay(self) -> None:
        self._check()
        self.replays += 1
        if self.replays == self.fail_replay_at:
            raise RuntimeError(f"replay {self.replays} failed (test)")
        self.step()

    def _check(self) -> None:
        if self.poisoned:
            raise RuntimeError("Offset increment outside graph capture encountered unexpectedly (stand-in)")

    def eager_step_allowed(self) -> None:
        """What CUDA's generator does to the next eager step after a failed capture."""
        self._check()
