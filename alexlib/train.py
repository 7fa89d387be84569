"""One run of the study: ``train(config) -> result``, resumable, with metrics.json and a checkpoint per epoch.

Fast on CUDA: data on the GPU as uint8, resize/normalize per batch there, bf16 autocast, channels_last,
the whole full-batch training step (forward, backward, SGD, loss/accuracy sums) captured in one CUDA
graph, and no host synchronization per step. On the CPU the same code runs eagerly in fp32.

Command line: ``python -m alexlib.train --norm gn --batch-size 32 [--epochs 2 ...]``.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import copy
import sys
import threading
import time
import traceback
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import data as D
from .config import ConfigError, RunConfig
from .io import FolderLock, check_writable, read_json, save_torch, write_json
from .model import AlexNet, count_params

METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"
GRAPH_WARMUP_STEPS = 3      # eager steps on a side stream before capture (PyTorch's recipe)
CUDA_CHECK_EVERY = 200      # steps between non-finite checks on CUDA (each check is one host sync)


# ---------------------------------------------------------------------------------------------------
# Setup helpers
# ---------------------------------------------------------------------------------------------------
def resolve_device(cfg: RunConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={cfg.device!r} but this machine has no usable CUDA device; use auto or cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device={cfg.device!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev


def resolve_precision(cfg: RunConfig, dev: torch.device) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    return "bf16" if dev.type == "cuda" else "fp32"


def environment(dev: torch.device, precision: str, graphed: bool) -> dict[str, Any]:
    import torchvision
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name()
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version(),
            "device": str(dev), "device_name": name, "precision": precision, "cuda_graph": graphed,
            "cpu_threads": torch.get_num_threads(), "host": platform.node()}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"CPU {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Progress:
    """A throttled in-epoch progress line: in place on a terminal, a short line every 30 s elsewhere
    (so an executed notebook or its HTML is not flooded)."""

    def __init__(self, enabled: bool, label: str, total: int):
        self.enabled, self.label, self.total = enabled, label, total
        self.tty = sys.stdout.isatty()
        self.every = 1.0 if self.tty else 30.0
        self.t0 = self.last = time.monotonic()

    def tick(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        msg = f"  {self.label}: batch {done}/{self.total}, {now - self.t0:.0f} s"
        print(("\r" + msg) if self.tty else msg, end="" if self.tty else "\n", flush=True)

    def close(self) -> None:
        if self.enabled and self.tty and self.last != self.t0:
            print("\r" + " " * 60 + "\r", end="", flush=True)


# ---------------------------------------------------------------------------------------------------
# Steps and evaluation
# ---------------------------------------------------------------------------------------------------
class Trainer:
    """Holds the model, optimizer and running sums; ``step`` runs one batch eagerly or by graph replay."""

    def __init__(self, cfg: RunConfig, ds: D.Dataset, dev: torch.device, precision: str):
        self.cfg, self.ds, self.dev = cfg, ds, dev
        self.cuda = dev.type == "cuda"
        self.channels_last = self.cuda
        self.amp_dtype = torch.bfloat16 if precision == "bf16" else None
        torch.manual_seed(cfg.seed)
        self.model = AlexNet(cfg.norm, ds.num_classes, cfg.image_size, cfg.width, cfg.gn_groups, cfg.dropout)
        self.model.to(dev, memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                   foreach=self.cuda or None)
        # running sums for the epoch, on the device: [loss * n, correct, n]
        self.sums = torch.zeros(3, dtype=torch.float64, device=dev)
        self.use_graph = self.cuda and cfg.cuda_graph
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # the autocast weight cache must be off under CUDA graph capture
        return torch.autocast(self.dev.type, dtype=self.amp_dtype, cache_enabled=False)

    def _forward_backward(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
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

    def eager_step(self, x_u8, y) -> None:
        self.opt.zero_grad(set_to_none=True)
        self._forward_backward(x_u8, y)

    def step(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        full = y.shape[0] == self.cfg.batch_size
        if not (self.use_graph and full):
            return self.eager_step(x_u8, y)       # CPU, graphs off, or the partial last batch
        if self.graph is None and self.eager_steps < GRAPH_WARMUP_STEPS:
            s = torch.cuda.Stream(self.dev)
            s.wait_stream(torch.cuda.current_stream(self.dev))
            with torch.cuda.stream(s):
                self.eager_step(x_u8, y)
            torch.cuda.current_stream(self.dev).wait_stream(s)
            self.eager_steps += 1
            return
        if self.graph is None:
            self._capture(x_u8, y)
        self.static_x.copy_(x_u8, non_blocking=True)
        self.static_y.copy_(y, non_blocking=True)
        self.graph.replay()

    def _capture(self, x_u8, y) -> None:
        self.static_x = torch.empty_like(x_u8)
        self.static_y = torch.empty_like(y)
        self.opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize(self.dev)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._forward_backward(self.static_x, self.static_y)

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
# Checkpoints and the metrics record
# ---------------------------------------------------------------------------------------------------
def _rng_state(dev: torch.device) -> dict[str, torch.Tensor]:
    st = {"cpu": torch.get_rng_state()}
    if dev.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(dev)
    return st


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Weights only: a checkpoint file cannot run code when loaded. A file that is not a plain
    checkpoint (tampered, truncated, another program's) is refused with the fix."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise D.DataError(f"checkpoint {path} cannot be loaded safely ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200]}); delete it to start the run over") from None
    if not isinstance(ck, dict) or not {"config", "epoch", "model", "optimizer", "rng", "history"} <= set(ck):
        raise D.DataError(f"checkpoint {path} is not an alexlib checkpoint; delete it to start the run over")
    return ck


def read_metrics(out_dir: Path) -> dict[str, Any] | None:
    p = out_dir / METRICS
    if not p.exists():
        return None
    try:
        m = read_json(p)
        return m if isinstance(m, dict) else None
    except (ValueError, UnicodeDecodeError, OSError):
        return None


def same_run(record_cfg: dict[str, Any] | None, cfg: RunConfig) -> tuple[bool, str]:
    """Whether a saved config describes the same run as ``cfg`` (same result_key), and if not, how not."""
    if not isinstance(record_cfg, dict):
        return False, "no readable config"
    try:
        old = RunConfig.from_dict(record_cfg).result_key()
    except (ConfigError, TypeError) as e:
        return False, f"unreadable config ({e})"
    new = cfg.result_key()
    diff = [f"{k}: {old[k]!r} there, {new[k]!r} now" for k in new if old.get(k) != new[k]]
    return not diff, "; ".join(diff)


class BackgroundWriter:
    """Writes an epoch's checkpoint and metrics in a thread while the next epoch trains (a full-size
    checkpoint is ~0.47 GB). One write at a time, in order; ``wait`` re-raises a failed write."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, fn) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(fn,), name="alexlib-writer", daemon=False)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            fn()
        except BaseException as e:  # handed to the training thread by wait()
            self._error = e

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            e, self._error = self._error, None
            raise e


def _to_cpu(obj: Any) -> Any:
    """A snapshot on the host: tensors copied (training goes on changing them in place)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------
def train(cfg: RunConfig | dict[str, Any]) -> dict[str, Any]:
    """Train one configuration to the end (or resume it) and return its metrics record.

    A completed or diverged run in ``out_dir`` with the same config is returned as it is; a checkpoint
    with the same config is resumed after its last finished epoch; a different config there is an error.
    Non-finite loss ends the run as ``diverged`` (returned, not raised); any other error is recorded as
    ``failed`` in metrics.json and raised.
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
            same, why = same_run(existing.get("config"), cfg)
            if not same:
                raise ConfigError(f"out_dir {out} already holds a different run ({why}); "
                                  f"choose another out_dir or remove that folder")
            if existing.get("status") in ("completed", "diverged"):
                say(f"{out}: already {existing['status']}, not retrained")
                return existing
        return _train_locked(cfg, dev, precision, out, say)


def _remove_stale_temporaries(out: Path) -> None:
    """Half-written temporaries left by a process killed mid-write (the real files are intact)."""
    for p in out.glob(".*.tmp"):
        p.unlink(missing_ok=True)


def _train_locked(cfg: RunConfig, dev: torch.device, precision: str, out: Path, say) -> dict[str, Any]:
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = not cfg.deterministic
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
    graphed = dev.type == "cuda" and cfg.cuda_graph
    record: dict[str, Any] = {
        "run_id": cfg.run_id(), "config": cfg.to_dict(), "status": "running", "history": [], "final": None,
        "env": environment(dev, precision, graphed), "started_at": _now(),
    }
    t_start = time.perf_counter()
    writer = BackgroundWriter()
    try:
        ds = D.load_dataset(cfg.dataset, cfg.data_dir, cfg.train_size, cfg.test_size, dev)
        if cfg.batch_size > len(ds.train):
            raise ConfigError(f"batch_size={cfg.batch_size} is larger than the {len(ds.train)} training images")
        tr = Trainer(cfg, ds, dev, precision)
        record["dataset"] = {"name": ds.name, "description": ds.source,
                             "train_images": len(ds.train), "test_images": len(ds.test),
                             "synthetic": ds.name == "synthetic"}
        record["model"] = {"params": count_params(tr.model), "image_size": cfg.image_size, "width": cfg.width}
        start_epoch = 1
        ckpt_path = out / CHECKPOINT
        if ckpt_path.exists():
            ck = load_checkpoint(ckpt_path)
            same, why = same_run(ck.get("config"), cfg)
            if not same:
                raise ConfigError(f"{ckpt_path} belongs to a different run ({why})")
            tr.model.load_state_dict(ck["model"])
            tr.opt.load_state_dict(ck["optimizer"])
            torch.set_rng_state(ck["rng"]["cpu"])
            if dev.type == "cuda" and "cuda" in ck["rng"]:
                torch.cuda.set_rng_state(ck["rng"]["cuda"], dev)
            record["history"] = list(ck["history"])
            record["started_at"] = ck.get("started_at", record["started_at"])
            start_epoch = int(ck["epoch"]) + 1
            say(f"resuming {out} after epoch {ck['epoch']}/{cfg.epochs}")

        n_batches = steps_per_epoch(len(ds.train), cfg)
        say(f"{cfg.run_id()}: {ds.source}, {len(ds.train)} train / {len(ds.test)} test images at "
            f"{cfg.image_size} px, {record['model']['params']:,} parameters, {n_batches} batches/epoch, "
            f"{dev} {precision}{' + CUDA graph' if graphed else ''}")
        for epoch in range(start_epoch, cfg.epochs + 1):
            diverged, train_seconds = _train_epoch(tr, cfg, epoch, n_batches)
            if diverged is not None:
                record.update(status="diverged", diverged_at={"epoch": epoch, "step": diverged},
                              final=_final(record["history"]))
                say(f"epoch {epoch}: loss is not finite by step {diverged}; run stopped as diverged")
                break
            h = _finish_epoch(tr, epoch, train_seconds)
            record["history"].append(h)
            say(_epoch_line(h, cfg.epochs))
            record["status"] = "completed" if epoch == cfg.epochs else "running"
            record["final"] = _final(record["history"]) if epoch == cfg.epochs else None
            _save(out, tr, cfg, epoch, record, writer)
        writer.wait()
        if record["status"] == "running":  # resumed from a checkpoint of the last epoch
            record["status"] = "completed"
        record["final"] = record["final"] or _final(record["history"])
    except BaseException as e:
        try:
            writer.wait()  # the last epoch's files first, so the failed record is written after them
        except BaseException:
            pass
        record.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=20))
        _write(out, record, t_start)
        raise
    record = _write(out, record, t_start)
    if not cfg.keep_checkpoint:
        (out / CHECKPOINT).unlink(missing_ok=True)
    return record


def steps_per_epoch(n: int, cfg: RunConfig) -> int:
    """Batches per epoch, the last partial one kept (the report's 782 at 64) except a last batch of one
    image under BatchNorm when the last stage is 1x1: batch statistics of a single value do not exist."""
    from .model import stage_sizes
    steps = math.ceil(n / cfg.batch_size)
    if cfg.norm == "bn" and n % cfg.batch_size == 1 and stage_sizes(cfg.image_size)[-1] == 1:
        steps -= 1
    return steps


def _train_epoch(tr: Trainer, cfg: RunConfig, epoch: int, n_batches: int) -> tuple[int | None, float]:
    """One pass over the shuffled training split: (the step by which the loss went non-finite, or None;
    seconds spent training)."""
    tr.reset_sums()
    order = D.epoch_order(len(tr.ds.train), cfg.seed, epoch).to(tr.dev)
    check_every = CUDA_CHECK_EVERY if tr.cuda else 1
    prog = Progress(cfg.progress, f"epoch {epoch}", n_batches)
    t0 = time.perf_counter()
    for i, (x_u8, y) in enumerate(D.batches(tr.ds.train, cfg.batch_size, order), start=1):
        if i > n_batches:
            break
        tr.step(x_u8, y)
        if i % check_every == 0 or i == n_batches:
            if not math.isfinite(tr.sums[0].item()):
                prog.close()
                return i, time.perf_counter() - t0
        prog.tick(i)
    prog.close()
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


def _epoch_line(h: dict[str, Any], epochs: int) -> str:
    return (f"epoch {h['epoch']:>3}/{epochs:<3} train loss {h['train_loss']:7.4f} acc {h['train_acc']:6.2f} | "
            f"test loss {h['test_loss']:7.4f} acc {h['test_acc']:6.2f} | {h['seconds']:7.1f} s "
            f"{h['images_per_s']:8.0f} img/s")


def _save(out: Path, tr: Trainer, cfg: RunConfig, epoch: int, record: dict[str, Any],
          writer: BackgroundWriter) -> None:
    """Snapshot now, write in the background: checkpoint first, then metrics, so metrics never claim
    an epoch the checkpoint lacks. A process killed mid-write leaves the previous files intact."""
    ckpt = None
    if epoch < cfg.epochs or cfg.keep_checkpoint:
        ckpt = _to_cpu({"config": cfg.to_dict(), "epoch": epoch, "model": tr.model.state_dict(),
                        "optimizer": tr.opt.state_dict(), "rng": _rng_state(tr.dev),
                        "history": record["history"], "started_at": record["started_at"]})
    metrics = copy.deepcopy(record) | {"updated_at": _now()} if epoch < cfg.epochs else None

    def write():
        if ckpt is not None:
            save_torch(out / CHECKPOINT, ckpt)
        if metrics is not None:
            write_json(out / METRICS, metrics)

    writer.submit(write)


def _write(out: Path, record: dict[str, Any], t_start: float) -> dict[str, Any]:
    """The final record, written atomically; returned as JSON reads it back (NaN becomes None)."""
    record = record | {"updated_at": _now(), "session_seconds": time.perf_counter() - t_start}
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
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m alexlib.train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in fields(RunConfig):
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, metavar=f.name.upper(),
                       help=f"({f.type}) default: {f.default!r}")
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
