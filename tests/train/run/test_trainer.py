"""The trainer's step: eager or replaying the captured full-batch step (the CPU stand-in), the graph's gradient
tensors kept through the eager partial batch, a first replay that must have trained, evaluation in eval mode."""
import json

import pytest
import torch

import alexlib.train.run.loop as T
import alexlib.train.run.trainer as TR
from alexlib.train.config import RunConfig
from alexlib.train.inputs import data as D
from alexlib.train.inputs.datasets import load_dataset
from alexlib.train.run.graphs import RecordedStepGraph

from conftest import tiny

GRAPHED = dict(train_size=100, epochs=3)   # six full batches of 16 (replays) and a partial one of 4 (eager)


def graphed(**graph_kw):
    made = []

    def make():
        made.append(RecordedStepGraph(**graph_kw))
        return made[-1]
    return TR.Speed(channels_last=False, graph=make), made


class GraphThatTrainsNothing(RecordedStepGraph):
    def replay(self):
        self.replays += 1


def test_a_replay_that_trains_nothing_fails_loudly(tmp_path):
    speed = TR.Speed(channels_last=False, graph=GraphThatTrainsNothing)
    with pytest.raises(TR.GraphCheckError, match="counted 0 images, not 16"):
        T.train(tiny(tmp_path, **GRAPHED), speed=speed)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "failed"


def test_the_eager_partial_batch_keeps_the_graphs_gradient_tensors(tmp_path):
    cfg = RunConfig.from_dict(tiny(tmp_path, norm="bn", **GRAPHED))
    ds = load_dataset("synthetic", train_size=100, test_size=48)
    speed, made = graphed()
    tr = TR.Trainer(cfg, ds, torch.device("cpu"), "fp32", speed)
    order = D.epoch_order(100, 0, 1)
    batches = list(D.batches(ds.train, 16, order))
    for x, y in batches[:5]:          # 3 warm-up steps, the capture (+ first replay), one replay
        tr.step(x, y)
    assert made[0].captures == 1
    ptrs = [p.grad.data_ptr() for p in tr.model.parameters()]
    for x, y in batches[5:]:          # one more replay, then the eager partial batch of 4
        tr.step(x, y)
    assert len(batches[-1][1]) == 4
    assert [p.grad.data_ptr() for p in tr.model.parameters()] == ptrs
    tr.step(*batches[0])              # and the next replay still writes them
    assert [p.grad.data_ptr() for p in tr.model.parameters()] == ptrs


def test_evaluation_runs_in_eval_mode_and_leaves_the_model_training():
    cfg = RunConfig(dataset="synthetic", image_size=63, width=0.125, norm="bn", device="cpu", eval_batch_size=7)
    ds = load_dataset("synthetic", train_size=32, test_size=20)
    tr = TR.Trainer(cfg, ds, torch.device("cpu"), "fp32", TR.Speed(channels_last=False))
    modes = []
    tr.model.register_forward_pre_hook(lambda m, a: modes.append(m.training))
    loss, acc = tr.evaluate(ds.test)
    assert modes and not any(modes) and tr.model.training          # eval inside, train mode after
    assert 0 <= acc <= 100 and loss > 0
    again = tr.evaluate(ds.test)                                    # no dropout, no state: the same numbers
    assert again == (loss, acc)
