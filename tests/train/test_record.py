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


def test_a_record_names_folders_inside_the_repository_relative_to_its_root(tmp_path):
    from alexlib.paths import REPO
    from alexlib.train.record import portable
    m = {"config": {"data_dir": str(REPO / "data"), "out_dir": str(REPO / "runs" / "x")},
         "dataset": {"location": "/usr/share/datasets/fashion-mnist", "fallback_from": str(REPO / "data")}}
    p = portable(m)
    assert p["config"] == {"data_dir": "data", "out_dir": "runs/x"}
    assert p["dataset"] == {"location": "/usr/share/datasets/fashion-mnist", "fallback_from": "data"}
    assert m["config"]["data_dir"] == str(REPO / "data")   # the record handed in is left as it was


def test_a_trained_record_holds_no_path_of_this_machine_inside_the_repository():
    import json
    import shutil
    import uuid

    from alexlib.paths import REPO
    from alexlib.train.loop import train
    out = REPO / "runs" / f"_pytest_{uuid.uuid4().hex[:8]}"
    try:
        train(dict(dataset="synthetic", image_size=63, width=0.125, batch_size=16, epochs=1, train_size=32,
                   test_size=16, device="cpu", progress=False, out_dir=str(out)))
        m = json.loads((out / "metrics.json").read_text())
        assert m["config"]["out_dir"] == str(out.relative_to(REPO)) and m["config"]["data_dir"] == "data"
        assert {"cpu_capability", "blas", "onednn", "kernel_env"} <= set(m["env"])
    finally:
        shutil.rmtree(out, ignore_errors=True)
