"""One run of the study: ``train(config) -> result``, resumable, with metrics.json and a checkpoint per epoch.

Fast on CUDA: data on the GPU as uint8, resize/normalize per batch there, bf16 autocast, channels_last,
the whole full-batch training step (forward, backward, SGD, loss/accuracy sums) captured in one CUDA
graph, and no host synchronization per step. On the CPU the same code runs eagerly in fp32; the graph
path runs there too, through a stand-in (alexlib.graphs), in the tests.

Command line: ``python -m alexlib.train --norm gn --batch-size 32 [--epochs 2 ...]``.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
import traceback
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from . import data as D
from .checkpoint import EpochWriter, load_checkpoint, restore_rng, rng_state, save_epoch
from .config import ConfigError, RunConfig
from .device import environment, resolve_device, resolve_precision, run_context
from .graphs import CudaStepGraph, StepGraph
from .io import FolderLock, check_writable, read_json, utc_now, write_json
from .model import AlexNet, count_params, stage_sizes
from .records import CHECKPOINT, METRICS, read_metrics, same_run
from .vocab import FINISHED, NORMS, PRECISIONS

GRAPH_WARMUP_STEPS = 3      # eager steps before capture (PyTorch's recipe: optimizer state, cuDNN choices)
CUDA_CHECK_EVERY = 200      # steps between non-finite checks on CUDA (each check is one host sync)


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


class Trainer:
    """Holds the model, optimizer and running sums; ``step`` trains on one batch, eagerly or by replaying
    the captured full-batch step. Both run ``train_step``, so they compute the same thing."""

    def __init__(self, cfg: RunConfig, ds: D.Dataset, dev: torch.device, precision: str, speed: Speed):
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
        self.make_graph = speed.graph
        self._graph_obj: StepGraph | None = None   # made at the first warm-up step
        self.graph: StepGraph | None = None        # the same object, once a capture succeeded
        self.graph_note = "" if speed.graph else "off"   # "", "captured", or why the steps run eagerly
        self.warmup_left = GRAPH_WARMUP_STEPS
        self.replays = 0

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # the autocast weight cache must be off under CUDA graph capture
        return torch.autocast(self.dev.type, dtype=self.amp_dtype, cache_enabled=False)

    def train_step(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        """Zero the gradients in place, forward, backward, SGD step, add loss/correct/count to the sums.
        In place, not set to None: a captured graph keeps writing the same gradient tensors, so after an
        eager step the model's .grad is still the graph's, never a stale second copy."""
        self.opt.zero_grad(set_to_none=False)
        x = D.prepare(x_u8, self.cfg.image_size, self.channels_last)
        with self.autocast():
            out = self.model(x)
            loss = F.cross_entropy(out, y)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            n = y.shape[0]
            self.sums[0] += loss.detach().double() * n
            self.sums[1] += (out.argmax(1) == y).sum()
            self.sums[2] += n

    def step(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        full = y.shape[0] == self.cfg.batch_size
        if self.make_graph is None or not full or self.graph_note not in ("", "captured"):
            return self.train_step(x_u8, y)       # CPU, graphs off or failed, or the partial last batch
        if self.graph is None:
            if self.warmup_left > 0:
                self.warmup_left -= 1
                g = self._graph_object()
                return g.warmup(lambda: self.train_step(x_u8, y))
            if not self._capture(x_u8, y):
                return self.train_step(x_u8, y)   # capture failed: this batch, and all after it, eager
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

    def _capture(self, x_u8: torch.Tensor, y: torch.Tensor) -> bool:
        self.static_x, self.static_y = x_u8.clone(), y.clone()
        g = self._graph_object()
        try:
            g.capture(lambda: self.train_step(self.static_x, self.static_y))
        except Exception as e:  # noqa: BLE001 (any capture error: fall back to eager steps, say why)
            self.graph_note = f"capture failed, eager steps ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
            if self.cuda:
                torch.cuda.synchronize(self.dev)
            return False
        self.graph, self.graph_note = g, "captured"
        return True

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

    @torch.inference_mode()
    def evaluate(self, split: D.Split) -> tuple[float, float]:
        """Mean cross-entropy and accuracy (%) over the whole split, in eval mode (dropout off)."""
        self.model.eval()
        tot = torch.zeros(2, dtype=torch.float64, device=self.dev)
        for x_u8, y in D.batches(split, self.cfg.eval_batch_size):
            x = D.prepare(x_u8, self.cfg.image_size, self.channels_last)
            with self.autocast():
                out = self.model(x)
            tot[0] += F.cross_entropy(out.float(), y, reduction="sum").double()
            tot[1] += (out.argmax(1) == y).sum()
        self.model.train()
        loss, correct = tot.tolist()
        return loss / len(split), 100.0 * correct / len(split)


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------
def train(cfg: RunConfig | dict[str, Any], *, speed: Speed | None = None) -> dict[str, Any]:
    """Train one configuration to the end (or resume it) and return its metrics record.

    A completed or diverged run in ``out_dir`` with the same config is returned as it is; a checkpoint
    with the same config is resumed after its last finished epoch; a different config there is an error.
    Non-finite loss ends the run as ``diverged`` (returned, not raised); any other error is recorded as
    ``failed`` in metrics.json and raised; a KeyboardInterrupt (Ctrl-C) is recorded as ``interrupted`` and
    raised, and the next call resumes the run from its last checkpoint. ``speed`` overrides how steps run
    (tests use it to run the graph path on the CPU); by default it follows the device.
    """
    cfg = cfg if isinstance(cfg, RunConfig) else RunConfig.from_dict(cfg)
    dev = resolve_device(cfg)
    precision = resolve_precision(cfg, dev)
    out = Path(cfg.resolved_out_dir())
    say = print if cfg.progress else (lambda *a, **k: None)

    check_writable(out)
    with FolderLock(out, f"alexlib.train {cfg.run_id()}").acquire():  # one process per run folder
        _remove_stale_temporaries(out)
        existing = read_metrics(out)
        if existing is not None:
            same, why = same_run(existing, cfg, precision)
            if not same:
                raise ConfigError(f"out_dir {out} already holds a different run ({why}); "
                                  f"choose another out_dir or remove that folder")
            if existing.get("status") in FINISHED:
                say(f"{out}: already {existing['status']}, not retrained")
                return existing
        with run_context(cfg, dev):
            return _train_locked(cfg, dev, precision, out, speed or Speed.for_device(dev, cfg), say)


def _remove_stale_temporaries(out: Path) -> None:
    """Half-written temporaries left by a process killed mid-write (the real files are intact)."""
    for p in out.glob(".*.tmp"):
        p.unlink(missing_ok=True)


def _train_locked(cfg: RunConfig, dev: torch.device, precision: str, out: Path, speed: Speed,
                  say) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": cfg.run_id(), "config": cfg.to_dict(), "status": "running", "history": [], "final": None,
        "env": environment(dev, precision, cfg), "started_at": utc_now(),
    }
    t_start = time.perf_counter()
    writer = EpochWriter()
    try:
        ds = D.load_dataset(cfg.dataset, cfg.data_dir, cfg.train_size, cfg.test_size, dev)
        if cfg.batch_size > len(ds.train):
            raise ConfigError(f"batch_size={cfg.batch_size} is larger than the {len(ds.train)} training images")
        tr = Trainer(cfg, ds, dev, precision, speed)
        record["dataset"] = {"name": ds.name, "description": ds.source,
                             "train_images": len(ds.train), "test_images": len(ds.test),
                             "synthetic": ds.name == "synthetic", **ds.origin.record()}
        record["model"] = {"params": count_params(tr.model), "image_size": cfg.image_size, "width": cfg.width}
        start_epoch = _resume(tr, out / CHECKPOINT, cfg, precision, record, say)

        n_batches = steps_per_epoch(len(ds.train), cfg)
        say(f"{cfg.run_id()}: {ds.source}{ds.origin.fallback_note()}, {len(ds.train)} train / {len(ds.test)} test "
            f"images at {cfg.image_size} px, {record['model']['params']:,} parameters, {n_batches} batches/epoch, "
            f"{dev} {precision}{' + CUDA graph' if speed.graph else ''}")
        for epoch in range(start_epoch, cfg.epochs + 1):
            diverged, train_seconds = _train_epoch(tr, cfg, epoch, n_batches)
            _note_graph(tr, record, say)
            if diverged is not None:
                record.update(status="diverged", diverged_at={"epoch": epoch, "step": diverged},
                              final=_final(record["history"]))
                say(f"epoch {epoch}: loss is not finite by step {diverged}; run stopped as diverged")
                break
            h = _finish_epoch(tr, epoch, train_seconds)
            record["history"].append(h)
            say(_epoch_line(h, cfg.epochs, tr.graph_note))
            last = epoch == cfg.epochs
            record["status"] = "completed" if last else "running"
            record["final"] = _final(record["history"]) if last else None
            ckpt = None
            if not last or cfg.keep_checkpoint:
                ckpt = {"config": cfg.to_dict(), "precision": precision, "epoch": epoch,
                        "model": tr.model.state_dict(), "optimizer": tr.opt.state_dict(), "rng": rng_state(dev),
                        "history": record["history"], "started_at": record["started_at"]}
            save_epoch(writer, out, ckpt, None if last else record | {"updated_at": utc_now()})
        writer.close()
        if record["status"] == "running":  # resumed from a checkpoint of the last epoch
            record["status"] = "completed"
        record["final"] = record["final"] or _final(record["history"])
    except BaseException as e:
        try:
            writer.close()  # the last epoch's files first, so this record is written after them
        except BaseException:
            pass
        if isinstance(e, KeyboardInterrupt):  # Ctrl-C (or a kernel interrupt): not an error; a rerun resumes
            record.update(status="interrupted", interrupted_at=utc_now())
        else:
            record.update(status="failed", error=f"{type(e).__name__}: {e}",
                          traceback=traceback.format_exc(limit=20))
        _write(out, record, t_start)
        raise
    record = _write(out, record, t_start)
    if not cfg.keep_checkpoint:
        (out / CHECKPOINT).unlink(missing_ok=True)
    return record


def _resume(tr: Trainer, ckpt_path: Path, cfg: RunConfig, precision: str, record: dict[str, Any], say) -> int:
    """Load the checkpoint if there is one; returns the first epoch still to train."""
    if not ckpt_path.exists():
        return 1
    ck = load_checkpoint(ckpt_path)
    same, why = same_run(ck, cfg, precision)
    if not same:
        raise ConfigError(f"{ckpt_path} belongs to a different run ({why})")
    tr.model.load_state_dict(ck["model"])
    tr.opt.load_state_dict(ck["optimizer"])
    restore_rng(ck["rng"], tr.dev)
    record["history"] = list(ck["history"])
    record["started_at"] = ck.get("started_at", record["started_at"])
    say(f"resuming {ckpt_path.parent} after epoch {ck['epoch']}/{cfg.epochs}")
    return int(ck["epoch"]) + 1


def _note_graph(tr: Trainer, record: dict[str, Any], say) -> None:
    env = record["env"]
    captured = tr.graph_note == "captured"
    if captured and not env["cuda_graph"]:
        env["cuda_graph"] = True
    elif tr.graph_note.startswith("capture failed") and "cuda_graph_note" not in env:
        env["cuda_graph_note"] = tr.graph_note
        say(f"CUDA graph: {tr.graph_note}")


def steps_per_epoch(n: int, cfg: RunConfig) -> int:
    """Batches per epoch, the last partial one kept (the report's 782 at 64) except a last batch of one
    image under BatchNorm when the last stage is 1x1: batch statistics of a single value do not exist."""
    steps = math.ceil(n / cfg.batch_size)
    if cfg.norm == "bn" and n % cfg.batch_size == 1 and stage_sizes(cfg.image_size)[-1] == 1:
        steps -= 1
    return steps


def _progress(enabled: bool, label: str, total: int):
    """tqdm, throttled: in place on a terminal, a line every 30 s elsewhere (an executed notebook or its
    HTML is not flooded), gone when the epoch ends (the epoch's own line follows)."""
    from tqdm import tqdm
    tty = sys.stdout.isatty()
    return tqdm(total=total, desc=f"  {label}", unit="batch", file=sys.stdout, disable=not enabled, leave=False,
                mininterval=1.0 if tty else 30.0, maxinterval=1e9 if not tty else 10.0,
                dynamic_ncols=tty, ascii=not tty, delay=0 if tty else 30.0)


def _train_epoch(tr: Trainer, cfg: RunConfig, epoch: int, n_batches: int) -> tuple[int | None, float]:
    """One pass over the shuffled training split: (the step by which the loss went non-finite, or None;
    seconds spent training)."""
    tr.reset_sums()
    order = D.epoch_order(len(tr.ds.train), cfg.seed, epoch).to(tr.dev)
    check_every = CUDA_CHECK_EVERY if tr.cuda else 1
    t0 = time.perf_counter()
    with _progress(cfg.progress, f"epoch {epoch}", n_batches) as bar:
        for i, (x_u8, y) in enumerate(D.batches(tr.ds.train, cfg.batch_size, order), start=1):
            if i > n_batches:
                break
            tr.step(x_u8, y)
            if i % check_every == 0 or i == n_batches:
                if not math.isfinite(tr.sums[0].item()):
                    return i, time.perf_counter() - t0
            bar.update()
    if tr.cuda:
        torch.cuda.synchronize(tr.dev)
    return None, time.perf_counter() - t0


def _finish_epoch(tr: Trainer, epoch: int, train_seconds: float) -> dict[str, Any]:
    loss_sum, correct, n = tr.sums.tolist()
    t = time.perf_counter()
    test_loss, test_acc = tr.evaluate(tr.ds.test)
    eval_seconds = time.perf_counter() - t
    return {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": 100.0 * correct / n,
            "test_loss": test_loss, "test_acc": test_acc,
            "seconds": train_seconds + eval_seconds, "train_seconds": train_seconds,
            "eval_seconds": eval_seconds, "images_per_s": n / train_seconds}


def _final(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not history:
        return None
    last = history[-1]
    return {k: last[k] for k in ("epoch", "test_acc", "test_loss", "train_acc", "train_loss")} | {
        "best_test_acc": max(h["test_acc"] for h in history),
        "train_seconds": sum(h["train_seconds"] for h in history),
        "seconds": sum(h["seconds"] for h in history)}


def _epoch_line(h: dict[str, Any], epochs: int, graph_note: str = "") -> str:
    eager = " | eager steps: graph capture failed" if graph_note.startswith("capture failed") else ""
    return (f"epoch {h['epoch']:>3}/{epochs:<3} train loss {h['train_loss']:7.4f} acc {h['train_acc']:6.2f} | "
            f"test loss {h['test_loss']:7.4f} acc {h['test_acc']:6.2f} | {h['seconds']:7.1f} s "
            f"{h['images_per_s']:8.0f} img/s{eager}")


def _write(out: Path, record: dict[str, Any], t_start: float) -> dict[str, Any]:
    """The final record, written atomically; returned as JSON reads it back (NaN becomes None)."""
    record = record | {"updated_at": utc_now(), "session_seconds": time.perf_counter() - t_start}
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / METRICS, record)
        return read_json(out / METRICS)
    except OSError as e:
        print(f"warning: could not write {out / METRICS}: {e}", file=sys.stderr)
        return record


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------
# What each parameter accepts, beyond its type (the values RunConfig checks; tests hold the two together)
CHOICES = {"norm": NORMS, "precision": PRECISIONS, "device": ("auto", "cpu", "cuda", "cuda:N")}
FLOAT_LIMITS = {"lr": "0 < lr <= 1000", "momentum": "0 <= momentum < 1", "dropout": "0 <= dropout < 1",
                "width": "0.05..4"}


def field_comments() -> dict[str, str]:
    """Each RunConfig field's one-line comment in alexlib/config.py (what the notebook's parameters cell and
    papermill's --help-notebook show), read from the source so the two never drift apart."""
    import inspect
    import io
    import re
    import tokenize
    try:
        source = inspect.getsource(RunConfig)
    except (OSError, TypeError):  # no source shipped: help without comments
        return {}
    names, comments = set(RunConfig.field_names()), {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        field_line = re.match(r"\s*(\w+)\s*:", tok.line)  # "name: type = default  # comment"
        if tok.type == tokenize.COMMENT and field_line and field_line.group(1) in names:
            comments[field_line.group(1)] = tok.string.lstrip("#").strip()
    return comments


def _cli_value(v: Any) -> str:
    """A default as papermill's --help-notebook shows it, booleans as they are typed (true, false)."""
    return str(v).lower() if isinstance(v, bool) else repr(v)


def parameter_help() -> dict[str, tuple[str, str]]:
    """For each field: (metavar, help): its comment, type, allowed values and default, once each."""
    from .config import _INT_LIMITS  # the limits RunConfig checks
    comments = field_comments()
    out = {}
    for f in fields(RunConfig):
        t = f.type if isinstance(f.type, str) else f.type.__name__  # "int" (annotations are text here)
        choices = ("true", "false") if t == "bool" else D.REGISTRY if f.name == "dataset" else CHOICES.get(f.name)
        allowed = ""
        if f.name in _INT_LIMITS:
            allowed = "{}..{}".format(*_INT_LIMITS[f.name])
        elif f.name in FLOAT_LIMITS:
            allowed = FLOAT_LIMITS[f.name]
        metavar = "{" + ",".join(choices) + "}" if choices else {"int": "N", "float": "X"}.get(t, "TEXT")
        text = comments.get(f.name, "")
        details = ", ".join(x for x in (t, allowed) if x)
        out[f.name] = (metavar, f"{text} [{details}; default {_cli_value(f.default)}]".strip().replace("%", "%%"))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m alexlib.train", description=__doc__.splitlines()[0],
                                epilog="Booleans also take 1/0, yes/no, on/off. Every value is checked before any "
                                       "data loads; the same parameters as notebooks/run.ipynb (papermill -p NAME "
                                       "VALUE).")
    for name, (metavar, text) in parameter_help().items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, default=None, metavar=metavar, help=text)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None}
    try:
        cfg = RunConfig.from_strings(given)
        result = train(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (D.DataError, PermissionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    final = result.get("final") or {}
    print(f"{result['status']}: test accuracy {final.get('test_acc', float('nan')):.2f}% "
          f"-> {Path(cfg.resolved_out_dir()) / METRICS}")
    return 0 if result["status"] == "completed" else 3


if __name__ == "__main__":
    sys.exit(main())
