"""A run's record: whether a saved record or checkpoint is the same run as a configuration."""
from alexlib.train.config import RunConfig
from alexlib.train.record import same_run


def test_resume_is_keyed_on_the_resolved_precision_and_not_on_speed_switches():
    cfg = RunConfig(norm="gn")  # precision auto
    gpu_record = {"config": cfg.to_dict(), "env": {"precision": "bf16"}}
    same, why = same_run(gpu_record, cfg, "fp32")     # the same config, now on a CPU
    assert not same and "precision: 'bf16' there, 'fp32' now" in why
    assert same_run(gpu_record, cfg, "bf16")[0]
    ckpt = {"config": cfg.replace(cuda_graph=False, deterministic=True).to_dict(), "precision": "bf16"}
    assert same_run(ckpt, cfg, "bf16")[0]             # graphs and determinism change speed, not the run
