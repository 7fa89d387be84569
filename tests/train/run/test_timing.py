"""Timing a shape as train() runs it: the Trainer's own step after untimed warm-ups, and evaluation in eval
mode; the rates the grid's estimate calibrates with."""
import math

import torch

from alexlib.train.run import timing


def test_a_step_and_an_evaluation_are_timed_in_images_per_second():
    dev = torch.device("cpu")
    ds = timing.synthetic_on(dev, 64, 32)
    train = timing.train_rate("bn", 16, ds, dev, 63, 0.125, steps=2, warmup=1, graph=False)
    ev = timing.eval_rate("bn", ds, dev, 63, 0.125, batches=1)
    assert math.isfinite(train) and train > 0 and math.isfinite(ev) and ev > 0
