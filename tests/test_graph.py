"""The CUDA-graph path of the training loop, run on the CPU through the stand-in graph: warm-up steps,
one capture, replays, the eager partial last batch, the next epoch's replays, resume, a failed capture,
a failed replay, a replay that trains nothing; deterministic mode set for a run and restored."""
import json

import pytest
import torch

import alexlib.train as T
import alexlib.trainer as TR
from alexlib.config import RunConfig
from alexlib.graphs import RecordedStepGraph

from conftest import numbers, stop_after_epoch, tiny

# 100 images at batch 16: six full batches (replays) and a partial one of 4 (eager) per epoch
GRAPHED = dict(train_size=100, epochs=3)


def graphed(channels_last=False, **graph_kw):
    made = []

    def make():
        made.append(RecordedStepGraph(**graph_kw))
        return made[-1]
    return TR.Speed(channels_last=channels_last, graph=make), made


@pytest.mark.parametrize("norm", ["bn", "none", "lrn"])
def test_graphed_loop_gives_the_eager_loops_numbers(tmp_path, norm):
    eager = T.train(tiny(tmp_path, norm=norm, out_dir=str(tmp_path / "eager"), **GRAPHED))
    speed, made = graphed()
    g = T.train(tiny(tmp_path, norm=norm, out_dir=str(tmp_path / "graph"), **GRAPHED), speed=speed)
    assert numbers(g) == numbers(eager)
    (graph,) = made
    assert (graph.warmups, graph.captures) == (TR.GRAPH_WARMUP_STEPS, 1)
    assert graph.replays == 3 * 6 - TR.GRAPH_WARMUP_STEPS   # every full batch after the warm-up
    assert g["env"]["cuda_graph"] is True and eager["env"]["cuda_graph"] is False


def test_bf16_autocast_and_channels_last_on_the_cpu(tmp_path):
    """The GPU's combination (bf16 autocast without weight cache, NHWC, graph) runs and learns on the
    CPU, and the graph changes nothing there either."""
    base = tiny(tmp_path, norm="gn", precision="bf16", **GRAPHED)
    eager = T.train({**base, "out_dir": str(tmp_path / "eager")}, speed=TR.Speed(channels_last=True))
    speed, _ = graphed(channels_last=True)
    g = T.train({**base, "out_dir": str(tmp_path / "graph")}, speed=speed)
    assert numbers(g) == numbers(eager)
    assert g["env"]["precision"] == "bf16"
    fp32 = T.train(tiny(tmp_path, norm="gn", out_dir=str(tmp_path / "fp32"), **GRAPHED))
    # bf16 is not fp32: close, not equal (a test that bf16 really ran)
    assert numbers(g) != numbers(fp32)
    assert abs(g["history"][0]["train_loss"] - fp32["history"][0]["train_loss"]) < 0.05


def test_a_graphed_run_resumed_mid_way_matches_one_run_straight_through(tmp_path, monkeypatch):
    speed, _ = graphed()
    straight = T.train(tiny(tmp_path, norm="bn", out_dir=str(tmp_path / "straight"), **GRAPHED), speed=speed)
    cfg = tiny(tmp_path, norm="bn", out_dir=str(tmp_path / "resumed"), **GRAPHED)
    stop_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg, speed=graphed()[0])
    monkeypatch.undo()
    speed2, made = graphed()
    resumed = T.train(cfg, speed=speed2)
    assert made[0].warmups == TR.GRAPH_WARMUP_STEPS and made[0].captures == 1  # a new graph after resume
    assert numbers(resumed) == numbers(straight)


def test_a_capture_that_raises_falls_back_to_eager_steps_and_says_so(tmp_path, capsys):
    eager = T.train(tiny(tmp_path, norm="bn", out_dir=str(tmp_path / "eager"), **GRAPHED))
    speed, made = graphed(fail_capture="operation not permitted when stream is capturing")
    r = T.train(tiny(tmp_path, norm="bn", out_dir=str(tmp_path / "graph"), progress=True, **GRAPHED), speed=speed)
    assert r["status"] == "completed" and numbers(r) == numbers(eager)
    assert r["env"]["cuda_graph"] is False
    assert "capture failed" in r["env"]["cuda_graph_note"] and "stream is capturing" in r["env"]["cuda_graph_note"]
    assert made[0].captures == 1 and made[0].replays == 0     # not tried again
    out = capsys.readouterr().out
    assert "CUDA graph: capture failed" in out and "eager steps: graph capture failed" in out


def test_a_failed_replay_fails_the_run_and_a_rerun_resumes_from_the_checkpoint(tmp_path):
    speed, _ = graphed()
    straight = T.train(tiny(tmp_path, norm="gn", out_dir=str(tmp_path / "straight"), **GRAPHED), speed=speed)
    cfg = tiny(tmp_path, norm="gn", out_dir=str(tmp_path / "run"), **GRAPHED)
    first_of_epoch_2 = 6 - TR.GRAPH_WARMUP_STEPS + 1
    with pytest.raises(RuntimeError, match=f"replay {first_of_epoch_2} failed"):
        T.train(cfg, speed=graphed(fail_replay_at=first_of_epoch_2)[0])
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "failed" and len(m["history"]) == 1
    again = T.train(cfg, speed=graphed()[0])
    assert again["status"] == "completed" and numbers(again) == numbers(straight)


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
    from alexlib import data as D
    ds = D.load_dataset("synthetic", train_size=100, test_size=48)
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


def test_deterministic_is_applied_during_the_run_and_restored_after(tmp_path, monkeypatch):
    seen = []
    real = TR.Trainer.train_step

    def spy(self, x, y):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic))
        return real(self, x, y)

    monkeypatch.setattr(TR.Trainer, "train_step", spy)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              torch.backends.cudnn.deterministic)
    r = T.train(tiny(tmp_path, deterministic=True, epochs=1))
    assert seen and set(seen) == {(True, True)}
    assert r["env"]["deterministic"] is True
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic) == before
    seen.clear()
    T.train(tiny(tmp_path, out_dir=str(tmp_path / "next"), epochs=1))   # the next run in this process
    assert set(seen) == {(False, False)}
