"""The model, its optimizer and one training step: eager, or by replaying the whole full-batch step captured
in one CUDA graph (on the CPU, through alexlib.train.run.graphs' stand-in); and evaluation on a whole split."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..inputs.data import Dataset, Split, batches, prepare
from .graphs import CudaStepGraph, StepGraph
from ..net.model import AlexNet, weight_layers

GRAPH_WARMUP_STEPS = 3      # eager steps before capture (PyTorch's recipe: optimizer state, cuDNN choices)


# ---------------------------------------------------------------------------------------------------
# How the steps run
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Speed:
    """How the steps run on the device. Changes speed, never what a run measures."""
    channels_last: bool                           # NHWC activations (tensor cores prefer them)
    graph: Callable[[], StepGraph] | None = None  # makes the full-batch step's graph; None: all eager

    @classmethod
    def for_device(cls, dev: torch.device, cfg: RunConfig) -> "Speed":
        cuda = dev.type == "cuda"
        return cls(channels_last=cuda, graph=(lambda: CudaStepGraph(dev)) if cuda and cfg.cuda_graph else None)


# ---------------------------------------------------------------------------------------------------
# Steps and evaluation
# ---------------------------------------------------------------------------------------------------
class GraphCheckError(RuntimeError):
    """A captured step whose replay did not train (the counters did not move)."""


class CaptureError(RuntimeError):
    """The capture of the training step failed. CUDA leaves the capture (and its random-number generator's
    capture bookkeeping) half open after such a failure, so no eager step is safe after it in this process: the
    run ends, saying how to go on."""


class Trainer:
    """Holds the model, optimizer and running sums; ``step`` trains on one batch, eagerly or by replaying
    the captured full-batch step. Both run ``train_step``, so they compute the same thing."""

    def __init__(self, cfg: RunConfig, ds: Dataset, dev: torch.device, precision: str, speed: Speed):
        self.cfg, self.ds, self.dev = cfg, ds, dev
        self.cuda = dev.type == "cuda"
        self.channels_last = speed.channels_last
        self.amp_dtype = torch.bfloat16 if precision == "bf16" else None
        torch.manual_seed(cfg.seed)
        self.model = AlexNet(cfg.norm, ds.num_classes, cfg.image_size, cfg.width, cfg.gn_groups, cfg.dropout)
        self.model.to(dev, memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                   foreach=self.cuda or None)
        # running sums for the epoch, on the device: [loss * n, correct, n]
        self.sums = torch.zeros(3, dtype=torch.float64, device=dev)
        # the per-layer signals (alexlib.train.net.signals): each weight layer's weight, its initial value W0 (a copy;
        # a resumed run takes the checkpoint's), and per layer the sum over the epoch's steps of its weight
        # gradient's L2 norm, on the device; the steps are counted on the host
        self.layers = weight_layers(self.model)
        self.weights = [m.weight for _, m in self.layers]
        self.initial = [w.detach().clone() for w in self.weights]
        self.grad_norm_sums = torch.zeros(len(self.layers), dtype=torch.float64, device=dev)
        self.epoch_steps = 0
        self.make_graph = speed.graph
        self._graph_obj: StepGraph | None = None   # made at the first warm-up step
        self.graph: StepGraph | None = None        # the same object, once a capture succeeded
        self.graph_note = "" if speed.graph else "off"   # "", "captured", or "off"
        self.warmup_left = GRAPH_WARMUP_STEPS
        self.replays = 0

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # the autocast weight cache must be off under CUDA graph capture
        return torch.autocast(self.dev.type, dtype=self.amp_dtype, cache_enabled=False)

    def train_step(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        """Zero the gradients in place, forward, backward, add each weight layer's gradient norm to its sum, SGD
        step, add loss/correct/count to the sums. All on the device (a captured graph holds every part of it).
        In place, not set to None: a captured graph keeps writing the same gradient tensors, so after an
        eager step the model's .grad is still the graph's, never a stale second copy."""
        self.opt.zero_grad(set_to_none=False)
        x = prepare(x_u8, self.cfg.image_size, self.channels_last)
        with self.autocast():
            out = self.model(x)
            loss = F.cross_entropy(out, y)
        loss.backward()
        self._add_grad_norms()
        self.opt.step()
        with torch.no_grad():
            n = y.shape[0]
            self.sums[0] += loss.detach().double() * n
            self.sums[1] += (out.argmax(1) == y).sum()
            self.sums[2] += n

    def _add_grad_norms(self) -> None:
        """Each weight layer's gradient L2 norm added to its sum, in one foreach kernel per dtype and device (no
        host sync). The gradients are the ones the SGD step is about to use."""
        with torch.no_grad():
            norms = torch._foreach_norm([w.grad for w in self.weights])
            self.grad_norm_sums.add_(torch.stack(norms))   # float32 norms summed in float64

    def step(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        self.epoch_steps += 1
        full = y.shape[0] == self.cfg.batch_size
        if self.make_graph is None or not full:
            return self.train_step(x_u8, y)       # CPU, graphs off, or the partial last batch
        if self.graph is None:
            if self.warmup_left > 0:
                self.warmup_left -= 1
                g = self._graph_object()
                return g.warmup(lambda: self.train_step(x_u8, y))
            self._capture(x_u8, y)
        self.static_x.copy_(x_u8, non_blocking=True)
        self.static_y.copy_(y, non_blocking=True)
        if self.replays == 0:
            return self._first_replay()
        self.replays += 1
        self.graph.replay()   # a failing replay is not retried: the run fails, a rerun resumes

    def _graph_object(self) -> StepGraph:
        if self._graph_obj is None:
            self._graph_obj = self.make_graph()
        return self._graph_obj

    def _capture(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        self.static_x, self.static_y = x_u8.clone(), y.clone()
        g = self._graph_object()
        try:
            g.capture(lambda: self.train_step(self.static_x, self.static_y))
        except Exception as e:  # noqa: BLE001 (any capture error ends the run, with the way on)
            raise CaptureError(
                f"the capture of the training step in a CUDA graph failed ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:160]}); rerun with cuda_graph=false: the run resumes from its last "
                f"checkpoint with every step eager") from e
        self.graph, self.graph_note = g, "captured"

    def _first_replay(self) -> None:
        """Replay once and check that it trained: the on-device image count grew by one batch."""
        before = self.sums[2].item()
        self.graph.replay()
        self.replays = 1
        grew = self.sums[2].item() - before
        if grew != self.cfg.batch_size:
            raise GraphCheckError(f"the first replay of the captured training step counted {grew:g} images, "
                                  f"not {self.cfg.batch_size}: the graph did not train; rerun with cuda_graph=false")

    def reset_sums(self) -> None:
        self.sums.zero_()
        self.grad_norm_sums.zero_()
        self.epoch_steps = 0

    def layer_signals(self) -> tuple[dict[str, float], dict[str, float]]:
        """(each weight layer's mean gradient norm over the epoch's steps so far (NaN before any step), its weights'
        distance from W0 relative to ||W0||), full precision, by layer name: one host read."""
        with torch.no_grad():
            moved = torch._foreach_norm(torch._foreach_sub([w.detach() for w in self.weights], self.initial))
            dist = torch.stack(moved).double() / torch.stack(torch._foreach_norm(self.initial)).double()
            grad, dist = torch.stack([self.grad_norm_sums, dist]).tolist()
        names = [name for name, _ in self.layers]
        steps = self.epoch_steps
        return ({n: g / steps if steps else float("nan") for n, g in zip(names, grad)}, dict(zip(names, dist)))

    def initial_weights(self) -> dict[str, torch.Tensor]:
        """W0 by layer name, for the checkpoint (a resumed run measures its distances from the same W0)."""
        return {name: w0 for (name, _), w0 in zip(self.layers, self.initial)}

    def set_initial_weights(self, saved: dict[str, torch.Tensor]) -> None:
        """W0 from a checkpoint (``initial_weights``), copied in place onto the device."""
        for (name, _), w0 in zip(self.layers, self.initial):
            w0.copy_(saved[name])

    def evaluate(self, split: Split) -> tuple[float, float]:
        """Mean cross-entropy and accuracy (%) over the whole split, in eval mode (dropout off)."""
        loss, acc, _ = evaluate(self, self.model, split, self.cfg.eval_batch_size)
        self.model.train()
        return loss, acc


@torch.no_grad()
def evaluate(tr: Trainer, model: torch.nn.Module, split: Split, batch_size: int,
             batch_stats: bool = False) -> tuple[float, float, int]:
    """Mean cross-entropy, accuracy (%) and images counted over ``split`` in batches of ``batch_size``, dropout
    off. ``batch_stats``: BatchNorm normalizes each batch by its own statistics (train mode; a last batch of one
    image, which has none, is left out) instead of its running averages."""
    model.eval()
    if batch_stats:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.train()
    tot = torch.zeros(3, dtype=torch.float64, device=tr.dev)
    for x_u8, y in batches(split, batch_size):
        if batch_stats and y.shape[0] == 1:
            continue
        x = prepare(x_u8, tr.cfg.image_size, tr.channels_last)
        with tr.autocast():
            out = model(x)
        tot[0] += F.cross_entropy(out.float(), y, reduction="sum").double()
        tot[1] += (out.argmax(1) == y).sum()
        tot[2] += y.shape[0]
    loss, correct, n = tot.tolist()
    return loss / n, 100.0 * correct / n, int(n)
