"""The CUDA-graph path of the training loop, run on the CPU through the stand-in graph: warm-up steps,
one capture, replays, the eager partial last batch, the next epoch's replays, resume, a failed capture,
a failed replay, a replay that trains nothing; deterministic mode set for a run and restored."""
import json

import pytest

import alexlib.train.loop as T
import alexlib.train.trainer as TR
from alexlib.train.graphs import RecordedStepGraph

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
