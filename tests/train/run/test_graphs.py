"""The CUDA-graph path of the training loop, run on the CPU through the stand-in graph: warm-up steps,
one capture, replays, the eager partial last batch, the next epoch's replays, resume, a failed capture,
a failed replay, a replay that trains nothing; deterministic mode set for a run and restored."""
import json

import pytest
import torch

import alexlib.train.run.loop as T
import alexlib.train.run.trainer as TR
from alexlib.train.run.graphs import RecordedStepGraph

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
    assert numbers(g) == numbers(eager)   # the per-layer signals among them: each epoch's "layers"
    assert all(h["layers"] for h in g["history"])
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
    assert numbers(resumed) == numbers(straight) and all("layers" in h for h in resumed["history"])


def test_a_failed_capture_ends_the_run_cleanly_and_cuda_graph_false_goes_on(tmp_path, monkeypatch):
    """The stand-in fails as CUDA does (the error out of the capture's exit, the generator left mid-capture, so any
    later step with dropout would fail with CUDA's "Offset increment outside graph capture"): the run ends at once
    with one line that says what failed and how to go on, and cuda_graph=false does."""
    eager = T.train(tiny(tmp_path, norm="bn", out_dir=str(tmp_path / "eager"), **GRAPHED))
    speed, made = graphed(fail_capture="operation not permitted when stream is capturing")
    real = TR.Trainer.train_step

    def step_checked(self, x, y):   # an eager step after the failed capture meets CUDA's half-open generator
        if made and made[0].poisoned:
            made[0].eager_step_allowed()
        return real(self, x, y)
    monkeypatch.setattr(TR.Trainer, "train_step", step_checked)
    cfg = tiny(tmp_path, norm="bn", out_dir=str(tmp_path / "graph"), **GRAPHED)
    with pytest.raises(TR.CaptureError, match="stream is capturing.*rerun with cuda_graph=false"):
        T.train(cfg, speed=speed)
    m = json.loads((tmp_path / "graph" / "metrics.json").read_text())
    assert m["status"] == "failed" and "cuda_graph=false" in m["error"] and "Offset increment" not in m["error"]
    assert made[0].captures == 1 and made[0].replays == 0
    monkeypatch.undo()
    again = T.train({**cfg, "cuda_graph": False})
    assert again["status"] == "completed" and numbers(again) == numbers(eager)


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


def test_each_device_captures_on_a_stream_of_its_own(monkeypatch):
    """torch.cuda.graph's default capture stream is made once per process, on the first device that captures;
    each run's graph brings a stream of its own device (CUDA stood in: the streams and the capture recorded)."""
    import contextlib

    from alexlib.train.run.graphs import CudaStepGraph

    class FakeStream:
        def __init__(self, device=None):
            self.device = device
    seen = []

    @contextlib.contextmanager
    def fake_graph(graph, pool=None, stream=None, **kw):
        seen.append(stream)
        yield
    monkeypatch.setattr(torch.cuda, "Stream", FakeStream)
    monkeypatch.setattr(torch.cuda, "graph", fake_graph)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: object())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: None)
    for dev in ("cuda:0", "cuda:1"):
        CudaStepGraph(torch.device(dev)).capture(lambda: None)
    assert [s.device for s in seen] == [torch.device("cuda:0"), torch.device("cuda:1")]
