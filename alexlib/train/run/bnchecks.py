"""Why a BatchNorm run lost accuracy, measured after training: in its running averages, or in its weights.

Two more test accuracies for a run whose norm normalizes over the batch (``Norm.batch_stats``):

- **recomputed**: the statistics recomputed over the whole training split after training, the "precise BN" of
  Wu & Johnson (2021, "Rethinking 'Batch' in BatchNorm"): a copy of the trained network in train mode (each
  BatchNorm normalizes by its batch, as in training) with dropout off and no gradient, fed the training split in
  batches of the training batch size, each BatchNorm keeping the cumulative average of every batch's mean and
  variance instead of the moving one; then the usual evaluation with those averages.
- **batch_stats**: each test batch, of the training batch size, normalized by its own statistics (as every
  training batch was), running averages unused.

If either is far above the run's test accuracy, the running averages lost it; if both stay low, the weights
did. The trained network itself is not touched.
"""
from __future__ import annotations

import copy
import time
from typing import Any

import torch

from ..inputs.data import batches, prepare
from .trainer import Trainer, evaluate


def bn_layers(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_statistics(tr: Trainer, model: torch.nn.Module) -> int:
    """``model``'s BatchNorm statistics replaced by their cumulative averages over the training split (train
    mode, dropout off, batches of the training batch size in stored order); returns the batches seen."""
    layers = bn_layers(model)
    for m in layers:
        m.reset_running_stats()
        m.momentum = None          # a cumulative average of every batch's statistics, not a moving one
    model.eval()
    for m in layers:
        m.train()
    seen = 0
    for x_u8, _ in batches(tr.ds.train, tr.cfg.batch_size):
        if x_u8.shape[0] == 1:     # one image has no batch statistics
            continue
        with tr.autocast():
            model(prepare(x_u8, tr.cfg.image_size, tr.channels_last))
        seen += 1
    return seen


def bn_checks(tr: Trainer) -> dict[str, Any]:
    """The two extra test accuracies (module docstring) of the trained ``tr.model``, as the record keeps them."""
    t = time.perf_counter()
    recomputed = copy.deepcopy(tr.model)   # (a parameter's copy leaves its gradient behind)
    seen = recompute_statistics(tr, recomputed)
    loss_r, acc_r, _ = evaluate(tr, recomputed, tr.ds.test, tr.cfg.eval_batch_size)
    own = copy.deepcopy(tr.model)   # train-mode BatchNorm updates its running averages: a copy's, thrown away
    loss_b, acc_b, n_b = evaluate(tr, own, tr.ds.test, tr.cfg.batch_size, batch_stats=True)
    return {"recomputed": {"test_acc": acc_r, "test_loss": loss_r, "train_batches": seen},
            "batch_stats": {"test_acc": acc_b, "test_loss": loss_b, "batch_size": tr.cfg.batch_size,
                            "test_images": n_b},
            "seconds": time.perf_counter() - t}
