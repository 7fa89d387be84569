"""One run of the study: ``train(config) -> result``, resumable, with metrics.json and a checkpoint per epoch.

Fast on CUDA: data on the GPU as uint8, resize/normalize per batch there, bf16 autocast, channels_last,
the whole full-batch training step (forward, backward, SGD, loss/accuracy sums) captured in one CUDA
graph, and no host synchronization per step. On the CPU the same code runs eagerly in fp32; the graph
path runs there too, through a stand-in (alexlib.train.run.graphs), in the tests.

Command line: ``python -m alexlib.train --norm gn --batch-size 32 [--epochs 2 ...]``.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

from ...io import FolderLock, check_writable, read_json, utc_now, write_json
from ...vocab import FINISHED
from .bnchecks import bn_checks
from .checkpoint import EpochWriter, load_checkpoint, restore_rng, rng_state, save_epoch
from ..config import ConfigError, RunConfig, parameter_help
from ..inputs.data import batches, epoch_order
from ..inputs.datasets import load_dataset
from .device import environment, resolve_device, resolve_precision, run_context
from ..net.model import count_params
from ..net.norms import norm_entry
from ..record import CHECKPOINT, METRICS, RunRecord, portable, read_metrics, same_run, training_code_digest
from ..net.shapes import stage_sizes
from ..net.signals import compact
from ..inputs.splits import DataError
from .trainer import CaptureError, Speed, Trainer

CUDA_CHECK_EVERY = 200      # steps between non-finite checks on CUDA (each check is one host sync)


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------
def train(cfg: RunConfig | dict[str, Any], *, speed: Speed | None = None,
          on_epoch: Callable[[dict[str, Any]], None] | None = None, bar: Callable[[str, int], Any] | None = None
          ) -> dict[str, Any]:
    """Train one configuration to the end (or resume it) and return its metrics record.

    A completed or diverged run in ``out_dir`` with the same config is returned as it is; a checkpoint
    with the same config is resumed after its last finished epoch; a different config there is an error.
    Non-finite loss ends the run as ``diverged`` (returned, not raised); any other error is recorded as
    ``failed`` in metrics.json and raised; a KeyboardInterrupt (Ctrl-C) is recorded as ``interrupted`` and
    raised, and the next call resumes the run from its last checkpoint. ``speed`` overrides how steps run
    (tests use it to run the graph path on the CPU); by default it follows the device.

    What a notebook shows while it trains (alexlib.lab.live), none of it in what the run computes: ``on_epoch`` is
    called with the record so far after every epoch (its files written in the background meanwhile); ``bar(label, total)``
    makes each epoch's progress bar (a context manager with ``update()``) in place of the printed one.
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
            shown = Shown(say, on_epoch, bar)
            return _train_locked(cfg, dev, precision, out, speed or Speed.for_device(dev, cfg), shown)


def _remove_stale_temporaries(out: Path) -> None:
    """Half-written temporaries left by a process killed mid-write (the real files are intact)."""
    for p in out.glob(".*.tmp"):
        p.unlink(missing_ok=True)


class Shown:
    """What the run tells while it trains: its lines (``say``), each finished epoch (``on_epoch``), and each
    epoch's progress bar (``bar``; None: the printed one). A display that fails does not end the run: it is said
    once, on stderr, and left out from then on (a Ctrl-C inside one still interrupts the run)."""

    def __init__(self, say, on_epoch, bar):
        self.say, self.on_epoch, self._bar = say, on_epoch, bar

    def epoch(self, record: RunRecord) -> None:
        if self.on_epoch is None:
            return
        try:
            self.on_epoch(record.to_json())
        except Exception as e:  # noqa: BLE001
            _warn(f"on_epoch failed ({type(e).__name__}: {e}); training goes on without it")
            self.on_epoch = None

    def bar(self, label: str, total: int):
        """The caller's bar for this epoch, or None (the printed one) where there is none or it failed to start."""
        if self._bar is None:
            return None
        try:
            return self._bar(label, total)
        except Exception as e:  # noqa: BLE001
            _warn(f"bar failed ({type(e).__name__}: {e}); the printed progress line instead")
            self._bar = None
            return None


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def _train_locked(cfg: RunConfig, dev: torch.device, precision: str, out: Path, speed: Speed,
                  shown: Shown) -> dict[str, Any]:
    say = shown.say
    record = RunRecord(cfg.run_id(), portable({"config": cfg.to_dict()})["config"],
                       env=environment(dev, precision, cfg), code_digest=training_code_digest(), started_at=utc_now())
    t_start = time.perf_counter()
    writer = EpochWriter()
    try:
        ds = load_dataset(cfg.dataset, cfg.data_dir, cfg.train_size, cfg.test_size, dev)
        if cfg.batch_size > len(ds.train):
            raise ConfigError(f"batch_size={cfg.batch_size} is larger than the {len(ds.train)} training images")
        tr = Trainer(cfg, ds, dev, precision, speed)
        record.dataset = portable({"dataset": {
            "name": ds.name, "description": ds.source, "train_images": len(ds.train), "test_images": len(ds.test),
            "synthetic": ds.name == "synthetic", **ds.origin.record()}})["dataset"]
        record.model = {"params": count_params(tr.model), "image_size": cfg.image_size, "width": cfg.width}
        start_epoch = _resume(tr, out / CHECKPOINT, cfg, precision, record, say)
        if record.history:   # resumed: the epochs so far are shown before the next one trains
            shown.epoch(record)

        n_batches = steps_per_epoch(len(ds.train), cfg)
        say(f"{cfg.run_id()}: {ds.source}{ds.origin.fallback_note()}, {len(ds.train)} train / {len(ds.test)} test "
            f"images at {cfg.image_size} px, {record.model['params']:,} parameters, {n_batches} batches/epoch, "
            f"{dev} {precision}{' + CUDA graph' if speed.graph else ''}")
        for epoch in range(start_epoch, cfg.epochs + 1):
            diverged, train_seconds = _train_epoch(tr, cfg, epoch, n_batches, shown)
            _note_graph(tr, record, say)
            if diverged is not None:
                record.status, record.diverged_at = "diverged", {"epoch": epoch, "step": diverged}
                record.final = _final(record.history)
                say(f"epoch {epoch}: loss is not finite by step {diverged}; run stopped as diverged")
                break
            h = _finish_epoch(tr, epoch, train_seconds)
            record.history.append(h)
            say(_epoch_line(h, cfg.epochs))
            last = epoch == cfg.epochs
            record.status = "completed" if last else "running"
            record.final = _final(record.history) if last else None
            ckpt = None
            if not last or cfg.keep_checkpoint:
                ckpt = {"config": cfg.to_dict(), "precision": precision, "epoch": epoch,
                        "model": tr.model.state_dict(), "optimizer": tr.opt.state_dict(), "rng": rng_state(dev),
                        "initial_weights": tr.initial_weights(),
                        "history": record.history, "started_at": record.started_at,
                        "code_digest": record.code_digest}
            save_epoch(writer, out, ckpt, None if last else record.to_json() | {"updated_at": utc_now()})
            shown.epoch(record)
        writer.close()
        if record.status == "running":  # resumed from a checkpoint of the last epoch
            record.status = "completed"
        record.final = record.final or _final(record.history)
        if record.status == "completed" and norm_entry(cfg.norm).batch_stats:
            try:
                record.bn_checks = bn_checks(tr)
                say(_checks_line(record.bn_checks))
            except Exception as e:  # noqa: BLE001 (the trained run stands; its record lacks the checks)
                _warn(f"BatchNorm's checks failed ({type(e).__name__}: {e}); the run is recorded completed "
                      f"without them (grid --rerun-lacking bn_checks retrains it)")
    except BaseException as e:
        try:
            writer.close()  # the last epoch's files first, so this record is written after them
        except BaseException:
            pass
        if isinstance(e, KeyboardInterrupt):  # Ctrl-C (or a kernel interrupt): not an error; a rerun resumes
            record.status, record.interrupted_at = "interrupted", utc_now()
        else:
            record.status, record.error = "failed", f"{type(e).__name__}: {e}"
            record.traceback = traceback.format_exc(limit=20)
        _write(out, record, t_start)
        raise
    written = _write(out, record, t_start)
    if not cfg.keep_checkpoint:
        (out / CHECKPOINT).unlink(missing_ok=True)
    return written


def _resume(tr: Trainer, ckpt_path: Path, cfg: RunConfig, precision: str, record: RunRecord, say) -> int:
    """Load the checkpoint if there is one; returns the first epoch still to train."""
    if not ckpt_path.exists():
        return 1
    ck = load_checkpoint(ckpt_path)
    same, why = same_run(ck, cfg, precision)
    if not same:
        raise ConfigError(f"{ckpt_path} belongs to a different run ({why})")
    tr.model.load_state_dict(ck["model"])
    tr.opt.load_state_dict(ck["optimizer"])
    if "initial_weights" in ck:   # else a checkpoint from before the signals: the seed redrew the same W0 here
        tr.set_initial_weights(ck["initial_weights"])
    restore_rng(ck["rng"], tr.dev)
    record.history = list(ck["history"])
    record.started_at = ck.get("started_at", record.started_at)
    # the epochs before came from the code that wrote the checkpoint: a run trained by two versions says both
    # (the grid counts it as other code), one whose checkpoint predates the digest says none
    before = ck.get("code_digest")
    record.code_digest = (None if before is None else before if before == record.code_digest
                          else f"{before}+{record.code_digest}")
    say(f"resuming {ckpt_path.parent} after epoch {ck['epoch']}/{cfg.epochs}")
    return int(ck["epoch"]) + 1


def _note_graph(tr: Trainer, record: RunRecord, say) -> None:
    if tr.graph_note == "captured" and not record.env["cuda_graph"]:
        record.env["cuda_graph"] = True


def steps_per_epoch(n: int, cfg: RunConfig) -> int:
    """Batches per epoch, the last partial one kept (the report's 782 at 64) except a last batch of one
    image under a norm of batch statistics (BatchNorm) when the last stage is 1x1: statistics of a single value do
    not exist."""
    steps = math.ceil(n / cfg.batch_size)
    if norm_entry(cfg.norm).batch_stats and n % cfg.batch_size == 1 and stage_sizes(cfg.image_size)[-1] == 1:
        steps -= 1
    return steps


def _progress(enabled: bool, label: str, total: int, shown: Shown | None = None):
    """tqdm, throttled: in place on a terminal, a line every 30 s elsewhere (an executed notebook or its
    HTML is not flooded), gone when the epoch ends (the epoch's own line follows). Without progress, no tqdm:
    a bare GPU image (torch, torchvision, numpy) trains without it."""
    if not enabled:
        return contextlib.nullcontext(_NoBar())
    own = shown.bar(label, total) if shown is not None else None
    if own is not None:
        return own
    from tqdm import tqdm
    tty = sys.stdout.isatty()
    return tqdm(total=total, desc=f"  {label}", unit="batch", file=sys.stdout, disable=not enabled, leave=False,
                mininterval=1.0 if tty else 30.0, maxinterval=1e9 if not tty else 10.0,
                dynamic_ncols=tty, ascii=not tty, delay=0 if tty else 30.0)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


def _train_epoch(tr: Trainer, cfg: RunConfig, epoch: int, n_batches: int,
                 shown: Shown | None = None) -> tuple[int | None, float]:
    """One pass over the shuffled training split: (the step by which the loss went non-finite, or None;
    seconds spent training)."""
    tr.reset_sums()
    order = epoch_order(len(tr.ds.train), cfg.seed, epoch).to(tr.dev)
    check_every = CUDA_CHECK_EVERY if tr.cuda else 1
    t0 = time.perf_counter()
    with _progress(cfg.progress, f"epoch {epoch}/{cfg.epochs}", n_batches, shown) as bar:
        for i, (x_u8, y) in enumerate(batches(tr.ds.train, cfg.batch_size, order), start=1):
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
    layers = compact(*tr.layer_signals())
    t = time.perf_counter()
    test_loss, test_acc = tr.evaluate(tr.ds.test)
    eval_seconds = time.perf_counter() - t
    return {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": 100.0 * correct / n,
            "test_loss": test_loss, "test_acc": test_acc,
            "seconds": train_seconds + eval_seconds, "train_seconds": train_seconds,
            "eval_seconds": eval_seconds, "images_per_s": n / train_seconds, "layers": layers}


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


def _checks_line(c: dict[str, Any]) -> str:
    r, b = c["recomputed"], c["batch_stats"]
    return (f"test acc with BatchNorm's statistics recomputed over the training split {r['test_acc']:.2f}; "
            f"with each test batch of {b['batch_size']} normalized by its own {b['test_acc']:.2f} "
            f"({c['seconds']:.1f} s)")


def _write(out: Path, record: RunRecord, t_start: float) -> dict[str, Any]:
    """The final record, written atomically; returned as JSON reads it back (NaN becomes None)."""
    record.updated_at, record.session_seconds = utc_now(), time.perf_counter() - t_start
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / METRICS, record.to_json())
        return read_json(out / METRICS)
    except OSError as e:
        print(f"warning: could not write {out / METRICS}: {e}", file=sys.stderr)
        return record.to_json()


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------
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
    except (DataError, PermissionError, CaptureError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    final = result.get("final") or {}
    print(f"{result['status']}: test accuracy {final.get('test_acc', float('nan')):.2f}% "
          f"-> {Path(cfg.resolved_out_dir()) / METRICS}")
    return 0 if result["status"] == "completed" else 3

