"""A run's record: the typed record and its schema versions, the training code's digest, and whether a saved
record or checkpoint is the same run as a configuration."""
from alexlib.train.config import RunConfig
from alexlib.train.record import same_run

from conftest import REPO


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
    from alexlib.train.run.loop import train
    out = REPO / "runs" / f"_pytest_{uuid.uuid4().hex[:8]}"
    try:
        train(dict(dataset="synthetic", image_size=63, width=0.125, batch_size=16, epochs=1, train_size=32,
                   test_size=16, device="cpu", progress=False, out_dir=str(out)))
        m = json.loads((out / "metrics.json").read_text())
        assert m["config"]["out_dir"] == str(out.relative_to(REPO)) and m["config"]["data_dir"] == "data"
        assert {"cpu_capability", "blas", "onednn", "kernel_env"} <= set(m["env"])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_no_committed_record_names_a_folder_of_the_machine_that_made_it():
    """A reader's clone has other paths: every committed record names its data and run folders relative to the
    repository (a Debian package's system folder, the same on every machine, is the one absolute path kept)."""
    import json
    keys = (("config", "data_dir"), ("config", "out_dir"), ("dataset", "location"), ("dataset", "fallback_from"))
    found = []
    for p in sorted((REPO / "reports").glob("*/records/**/metrics.json")):
        m = json.loads(p.read_text())
        for block, key in keys:
            v = (m.get(block) or {}).get(key)
            if isinstance(v, str) and v.startswith("/") and not v.startswith("/usr/share/"):
                found.append(f"{p.relative_to(REPO)}: {block}.{key} = {v}")
    assert not found, found[:5] + [f"... {len(found)} in all"]


# ---- the typed record and its schema ----
def test_a_record_round_trips_and_carries_its_schema_and_code_digest():
    from alexlib.train.record import SCHEMA, RunRecord, training_code_digest
    cfg = RunConfig(norm="bn")
    r = RunRecord(cfg.run_id(), cfg.to_dict(), env={"precision": "fp32"}, code_digest=training_code_digest())
    d = r.to_json()
    assert d["schema"] == SCHEMA and len(d["code_digest"]) == 12 and "lacks" not in d and "error" not in d
    back = RunRecord.from_json(d)
    assert back == r and back.lacks == ()


def test_a_version_1_record_reads_through_the_upgrade_which_says_what_it_lacks():
    import json

    from alexlib.train.record import RunRecord
    committed = [json.loads(p.read_text()) for p in sorted((REPO / "reports" / "fashion" / "records").rglob("metrics.json"))]
    oldest = [m for m in committed if "schema" not in m]   # the committed study's first records: version 1
    newer = [m for m in committed if "schema" in m]        # batch 2 and 4, the arms, BN retrained: version 3;
    v4 = [m for m in newer if m["schema"] == 4]             # the paper's design made whole: version 4, with signals
    assert oldest and newer and all(m["schema"] in (3, 4) and m["code_digest"] for m in newer)
    assert v4 and len(v4) < len(newer) and all("layers" in h for m in v4 for h in m["history"])
    recs = [RunRecord.from_json(m) for m in oldest]
    assert all("code_digest" in r.lacks and r.code_digest is None for r in recs)
    without_kernels = [r for r in recs if "env.cpu_capability" in r.lacks]
    assert without_kernels and all("cpu_capability" not in r.env for r in without_kernels)
    assert all("cpu_capability" in r.env for r in recs if r not in without_kernels)
    # a BatchNorm record written before version 3 lacks its two extra accuracies; no other norm's does
    assert {r.config["norm"] for r in recs if "bn_checks" in r.lacks} == {"bn"}
    assert all(r.bn_checks is None for r in recs)
    v2 = {"run_id": "x", "config": RunConfig(norm="bn").to_dict(), "status": "completed", "schema": 2,
          "code_digest": "0123456789ab"}
    assert RunRecord.from_json(v2).lacks == ("bn_checks", "layers")   # and every record before version 4 its signals
    assert RunRecord.from_json(v2 | {"config": RunConfig(norm="gn").to_dict()}).lacks == ("layers",)
    assert RunRecord.from_json(v2 | {"status": "diverged"}).lacks == ("layers",)   # a diverged run: no checks to add


def test_a_newer_schema_or_a_broken_record_is_refused_with_the_reason():
    import pytest

    from alexlib.train.record import SCHEMA, RecordError, RunRecord
    cfg = RunConfig().to_dict()
    with pytest.raises(RecordError, match="newer alexlib"):
        RunRecord.from_json({"schema": SCHEMA + 1, "run_id": "x", "config": cfg, "status": "completed"})
    with pytest.raises(RecordError, match="unknown status 'done'"):
        RunRecord.from_json({"run_id": "x", "config": cfg, "status": "done"})
    with pytest.raises(RecordError, match="lacks config"):
        RunRecord.from_json({"run_id": "x", "status": "completed"})


def test_the_code_digest_ignores_comments_and_docstrings_but_not_code(tmp_path):
    from alexlib.train.record import code_digest
    (tmp_path / "a.py").write_text('"""A module."""\ndef f(x):\n    """Twice."""\n    return 2 * x  # double\n')
    d = code_digest(tmp_path)
    (tmp_path / "a.py").write_text('"""A module, reworded."""\n\n\ndef f(x):\n    # comment\n    return 2 * x\n')
    assert code_digest(tmp_path) == d
    (tmp_path / "a.py").write_text('"""A module."""\ndef f(x):\n    return 3 * x\n')
    assert code_digest(tmp_path) != d


def test_the_grid_reads_and_writes_records_through_the_same_definition(tmp_path):
    """read_metrics upgrades a version-1 record and refuses a newer one; a failure the grid records is a
    current-schema record that the report's reader takes."""
    import json

    import pytest

    from alexlib.grid.runner import write_failure
    from alexlib.train.record import SCHEMA, RecordError, RunRecord, read_metrics, read_records
    cfg = RunConfig(out_dir=str(tmp_path / "r"))
    (tmp_path / "r").mkdir()
    old = {"run_id": cfg.run_id(), "config": cfg.to_dict(), "status": "running", "history": [], "env": {}}
    (tmp_path / "r" / "metrics.json").write_text(json.dumps(old))
    m = read_metrics(tmp_path / "r")
    assert m["schema"] == SCHEMA and m["code_digest"] is None
    write_failure(cfg, "kernel died", m)
    (p, rec), = read_records(tmp_path)
    assert isinstance(rec, RunRecord) and rec.status == "failed" and rec.error == "kernel died"
    (tmp_path / "r" / "metrics.json").write_text(json.dumps(old | {"schema": SCHEMA + 1}))
    with pytest.raises(RecordError, match="newer alexlib"):   # never overwritten by older code
        read_metrics(tmp_path / "r")
