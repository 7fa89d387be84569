"""Training: real learning on real data, the CIFAR reading path end to end, seeds, resume, divergence."""
import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

import alexlib.train.run.loop as T
from alexlib import io as IO
from alexlib.train.config import ConfigError, RunConfig
from alexlib.train.inputs import data as D
from alexlib.train.inputs.datasets import register, unregister

from conftest import numbers, stop_after_epoch, tiny, write_cifar_files, write_fashion_files


def test_digits_learns_far_above_chance(tmp_path):
    r = T.train(dict(dataset="digits", norm="bn", image_size=63, width=0.25, batch_size=32, lr=0.01, epochs=3,
                     device="cpu", progress=False, out_dir=str(tmp_path / "digits")))
    assert r["status"] == "completed"
    assert r["final"]["test_acc"] > 80.0  # chance is 10%
    assert r["dataset"]["test_images"] == 540 and not r["dataset"]["synthetic"]


def test_cifar_reading_path_end_to_end(tmp_path):
    sums = write_cifar_files(tmp_path / "c", n_per_batch=40, n_test=60)
    register("cifar10_testfiles", lambda d, a, b: D.load_cifar10(d, checksums=sums), 10, "test-written CIFAR files")
    try:
        r = T.train(tiny(tmp_path, dataset="cifar10_testfiles", data_dir=str(tmp_path / "c"), norm="gn",
                         epochs=4, train_size=0, test_size=0))
    finally:
        unregister("cifar10_testfiles")
    assert r["status"] == "completed" and r["dataset"]["train_images"] == 200
    assert r["final"]["test_acc"] > 30.0
    folder = tmp_path / "c" / D.CIFAR10_FOLDER  # the record names each file read and its md5
    assert r["dataset"]["location"] == str(folder.resolve()) and r["dataset"]["fallback_from"] is None
    assert r["dataset"]["files"] == {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_metrics_json_holds_what_the_issue_lists(tmp_path):
    r = T.train(tiny(tmp_path, norm="ln"))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m == json.loads(json.dumps(r))
    assert m["status"] == "completed" and m["config"]["norm"] == "ln"
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    assert {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"} <= set(m["history"][0])
    assert {"torch", "device_name", "precision"} <= set(m["env"]) and m["env"]["precision"] == "fp32"
    assert {"torchvision", "numpy", "scikit-learn", "scipy", "alexlib", "git_commit", "git_dirty"} <= set(m["env"])
    assert m["dataset"]["synthetic"] is True
    assert m["dataset"]["location"] is None and m["dataset"]["files"] == {}
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # removed once the run ends


def test_fashion_read_from_elsewhere_than_data_dir_is_said_and_recorded(tmp_path, monkeypatch, capsys):
    write_fashion_files(tmp_path / "debian")
    monkeypatch.setattr(D, "DEBIAN_FASHION_DIR", str(tmp_path / "debian"))
    asked = tmp_path / "nonexistent"
    r = T.train(tiny(tmp_path, dataset="fashion_mnist", data_dir=str(asked), epochs=1, progress=True))
    first = capsys.readouterr().out.splitlines()[0]
    names = sorted(p.name for p in (tmp_path / "debian").iterdir())
    assert f"data_dir {asked} has none: read " in first and str(tmp_path / "debian") in first
    assert all(n in first for n in names)
    d = r["dataset"]
    assert d["location"] == str((tmp_path / "debian").resolve()) and d["fallback_from"] == str(asked)
    assert d["files"] == {n: hashlib.md5((tmp_path / "debian" / n).read_bytes()).hexdigest() for n in names}
    assert (d["train_images"], d["test_images"], d["synthetic"]) == (60, 30, False)


@pytest.mark.parametrize("norm", ["bn", "lrn"])
def test_same_seed_same_metrics(tmp_path, norm):
    a = T.train(tiny(tmp_path, norm=norm, out_dir=str(tmp_path / "a")))
    b = T.train(tiny(tmp_path, norm=norm, out_dir=str(tmp_path / "b")))
    c = T.train(tiny(tmp_path, norm=norm, seed=1, out_dir=str(tmp_path / "c")))
    assert numbers(a) == numbers(b)
    assert numbers(a) != numbers(c)


def test_same_seed_and_thread_count_give_identical_numbers(tmp_path):
    a = T.train(tiny(tmp_path, norm="gn", threads=1, out_dir=str(tmp_path / "a")))
    b = T.train(tiny(tmp_path, norm="gn", threads=1, out_dir=str(tmp_path / "b")))
    assert a["env"]["cpu_threads"] == b["env"]["cpu_threads"] == 1
    assert numbers(a) == numbers(b)
    import torch
    assert torch.get_num_threads() == min(2, __import__("os").cpu_count() or 1)  # restored after the run


def test_resume_after_a_stop_matches_a_straight_run(tmp_path, monkeypatch):
    straight = T.train(tiny(tmp_path, norm="bn", epochs=4, out_dir=str(tmp_path / "straight")))

    stop_after_epoch(monkeypatch, 2)
    cfg = tiny(tmp_path, norm="bn", epochs=4, out_dir=str(tmp_path / "resumed"))
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg)
    m = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert m["status"] == "interrupted" and len(m["history"]) == 2
    monkeypatch.undo()
    resumed = T.train(cfg)
    assert resumed["status"] == "completed"
    assert numbers(resumed) == numbers(straight)


def test_ctrl_c_after_epoch_1_records_interrupted_and_a_rerun_resumes_it(tmp_path, monkeypatch, capsys):
    straight = T.train(tiny(tmp_path, norm="gn", epochs=3, out_dir=str(tmp_path / "straight")))
    cfg = tiny(tmp_path, norm="gn", epochs=3, out_dir=str(tmp_path / "stopped"), progress=True)
    stop_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg)
    run = tmp_path / "stopped"
    m = json.loads((run / "metrics.json").read_text())  # whole JSON: written atomically like every record
    assert m["status"] == "interrupted" and [h["epoch"] for h in m["history"]] == [1]
    assert m["final"] is None and "error" not in m and "interrupted_at" in m
    assert (run / "checkpoint.pt").exists() and not list(run.glob(".*.tmp"))
    from alexlib.vocab import STATUS_RANK  # a completed record of the same run still wins
    assert STATUS_RANK["failed"] < STATUS_RANK["interrupted"] < STATUS_RANK["running"]
    monkeypatch.undo()
    capsys.readouterr()
    resumed = T.train(cfg)
    assert f"resuming {run} after epoch 1/3" in capsys.readouterr().out
    assert resumed["status"] == "completed" and "interrupted_at" not in resumed
    assert numbers(resumed) == numbers(straight)


def test_completed_run_is_not_retrained(tmp_path):
    cfg = tiny(tmp_path)
    T.train(cfg)
    p = tmp_path / "run" / "metrics.json"
    before = (p.stat().st_mtime_ns, p.read_bytes())
    again = T.train(cfg)
    assert (p.stat().st_mtime_ns, p.read_bytes()) == before
    assert again["status"] == "completed"


def test_a_different_config_in_the_same_out_dir_is_refused(tmp_path):
    T.train(tiny(tmp_path))
    with pytest.raises(ConfigError, match=r"already holds a different run \(lr: 0.01 there, 0.02 now\)"):
        T.train(tiny(tmp_path, lr=0.02))


def test_divergence_is_recorded_not_raised(tmp_path):
    r = T.train(tiny(tmp_path, lr=1000.0, momentum=0.99, norm="none", epochs=3))
    assert r["status"] == "diverged"
    assert r["diverged_at"]["epoch"] == 1 and r["diverged_at"]["step"] >= 1
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "diverged" and m["diverged_at"] == r["diverged_at"]


def test_batch_larger_than_the_data_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="batch_size=512 is larger than the 96 training images"):
        T.train(tiny(tmp_path, batch_size=512))


def test_batchnorm_skips_a_last_batch_of_one_image_at_1x1(tmp_path):
    # 97 images at batch 16: the last batch holds one image, and at 63 px the last stage is 1x1
    r = T.train(tiny(tmp_path, norm="bn", train_size=97, epochs=1))
    assert r["status"] == "completed"
    from alexlib.train.config import RunConfig
    assert T.steps_per_epoch(97, RunConfig(norm="bn", batch_size=16, image_size=63)) == 6
    assert T.steps_per_epoch(97, RunConfig(norm="gn", batch_size=16, image_size=63)) == 7
    assert T.steps_per_epoch(50_000, RunConfig(norm="bn", batch_size=64)) == 782


def test_a_failed_background_write_fails_the_run_loudly(tmp_path, monkeypatch):
    import errno

    def disk_full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("alexlib.train.run.checkpoint.save_torch", disk_full)
    with pytest.raises(OSError, match="No space left"):
        T.train(tiny(tmp_path, epochs=3))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "failed" and "No space left" in m["error"]


def test_a_bf16_checkpoint_is_not_resumed_as_fp32(tmp_path):
    import torch
    cfg = RunConfig.from_dict(tiny(tmp_path, epochs=2))
    T.train(cfg.replace(keep_checkpoint=True, precision="bf16", out_dir=str(tmp_path / "bf16")))
    ck = torch.load(tmp_path / "bf16" / "checkpoint.pt", weights_only=True)
    ck["config"]["precision"] = "auto"   # as a GPU run with precision auto writes it
    ck["epoch"] = 1
    run = Path(cfg.out_dir)
    run.mkdir(parents=True)
    torch.save(ck, run / "checkpoint.pt")
    with pytest.raises(Exception, match="precision: 'bf16' there, 'fp32' now"):
        T.train(cfg.replace(precision="auto"))


def test_train_clears_temporaries_left_by_a_killed_write(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".metrics.json.abc.tmp").write_text('{"half": ')
    T.train(tiny(tmp_path))
    assert not list(run.glob(".*.tmp"))


def test_one_run_folder_is_used_by_one_process_at_a_time(tmp_path):
    cfg = tiny(tmp_path)
    with IO.FolderLock(Path(cfg["out_dir"]), "another trainer"):
        with pytest.raises(RuntimeError, match="is in use by another trainer"):
            T.train(cfg)


def test_paths_with_spaces_and_non_ascii(tmp_path):
    out = tmp_path / "dossier à espaces" / "運行"
    r = T.train(tiny(tmp_path, out_dir=str(out)))
    assert r["status"] == "completed" and (out / "metrics.json").exists()


def test_labels_out_of_range_never_train(tmp_path):
    import numpy as np
    write_fashion_files(tmp_path / "fm", gz=True)
    from conftest import write_idx
    write_idx(tmp_path / "fm" / "train-labels-idx1-ubyte", (np.arange(60) % 12).astype(np.uint8), gz=True)
    with pytest.raises(D.DataError, match="labels must lie in 0..9, found 0..11"):
        T.train(tiny(tmp_path, dataset="fashion_mnist", data_dir=str(tmp_path / "fm"), train_size=0, test_size=0))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "failed" and "labels must lie in 0..9" in m["error"] and m["history"] == []


def test_output_path_through_a_file_fails_at_the_start(tmp_path, monkeypatch):
    (tmp_path / "a file").write_text("x")
    loaded = []
    monkeypatch.setattr(T, "load_dataset", lambda *a, **k: loaded.append(1))
    with pytest.raises(PermissionError, match="cannot write to output folder .*a part of the path is a file"):
        T.train(tiny(tmp_path, out_dir=str(tmp_path / "a file" / "run")))
    assert not loaded  # before any data loads


@pytest.mark.parametrize("err, words", [(errno.ENOSPC, "no space left on the device"),
                                        (errno.EROFS, "read-only file system"),
                                        (errno.EACCES, "permission denied")])
def test_full_or_read_only_output_folder_fails_at_the_start(tmp_path, monkeypatch, err, words):
    real_write = os.write

    def failing_write(fd, data):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(IO.os, "write", failing_write)
    loaded = []
    monkeypatch.setattr(T, "load_dataset", lambda *a, **k: loaded.append(1))
    with pytest.raises(PermissionError, match=f"cannot write to output folder .*{words}"):
        T.train(tiny(tmp_path))
    assert not loaded
    monkeypatch.setattr(IO.os, "write", real_write)


def test_a_run_resumed_under_other_training_code_names_both(tmp_path, monkeypatch):
    from alexlib.train.record import training_code_digest
    cfg = tiny(tmp_path, norm="gn", epochs=2, out_dir=str(tmp_path / "r"))
    stop_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg)
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["code_digest"] == training_code_digest()
    monkeypatch.undo()
    monkeypatch.setattr(T, "training_code_digest", lambda: "0123456789ab")
    assert T.train(cfg)["code_digest"] == f"{training_code_digest()}+0123456789ab"


def test_on_epoch_sees_each_epoch_after_its_files_and_bar_counts_every_batch(tmp_path):
    """What a notebook shows while a run trains: the record after each epoch, and one bar per epoch that counts
    every batch; the run computes the same with and without them."""
    seen, bars = [], []

    class Bar:
        def __init__(self, label, total):
            self.label, self.total, self.n = label, total, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            self.n += n

    def on_epoch(record):
        seen.append((len(record["history"]), record["status"]))
    r = T.train(tiny(tmp_path, epochs=3, progress=True), on_epoch=on_epoch, bar=Bar)
    assert seen == [(1, "running"), (2, "running"), (3, "completed")]
    assert [(b.label, b.total, b.n) for b in bars] == [(f"epoch {e}/3", 6, 6) for e in (1, 2, 3)]  # 96 / 16
    plain = T.train(tiny(tmp_path, epochs=3, out_dir=str(tmp_path / "plain")))
    assert numbers(r) == numbers(plain)


def test_a_failing_display_does_not_end_the_run(tmp_path, capsys):
    def broken(record):
        raise ValueError("no display")
    r = T.train(tiny(tmp_path), on_epoch=broken)
    assert r["status"] == "completed"
    err = capsys.readouterr().err   # said even where progress is off, once, then left out
    assert err.count("warning: on_epoch failed (ValueError: no display)") == 1


def test_a_bar_that_cannot_start_gives_way_to_the_printed_line(tmp_path, capsys):
    def no_widgets(label, total):
        raise ImportError("IProgress not found")
    r = T.train(tiny(tmp_path, progress=True, epochs=2), bar=no_widgets)
    assert r["status"] == "completed"
    out, err = capsys.readouterr()
    assert err.count("warning: bar failed (ImportError: IProgress not found)") == 1 and "epoch   2/2" in out


def test_ctrl_c_inside_on_epoch_interrupts_the_run_and_a_rerun_shows_the_epochs_so_far_first(tmp_path):
    straight = T.train(tiny(tmp_path, norm="gn", epochs=3, out_dir=str(tmp_path / "straight")))
    cfg = tiny(tmp_path, norm="gn", epochs=3, out_dir=str(tmp_path / "stopped"))

    def stop(record):
        if len(record["history"]) == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg, on_epoch=stop)
    assert json.loads((tmp_path / "stopped" / "metrics.json").read_text())["status"] == "interrupted"
    seen = []
    resumed = T.train(cfg, on_epoch=lambda record: seen.append(len(record["history"])))
    assert seen == [2, 3]   # the two epochs kept, drawn before the third trains; then the third
    assert numbers(resumed) == numbers(straight)


def test_failed_bn_checks_leave_the_run_completed_and_lacking_them(tmp_path, monkeypatch, capsys):
    from alexlib.train.record import RunRecord

    def fail(tr):
        raise RuntimeError("out of memory")
    monkeypatch.setattr(T, "bn_checks", fail)
    r = T.train(tiny(tmp_path, norm="bn", progress=True))
    assert r["status"] == "completed" and "bn_checks" not in r
    assert "BatchNorm's checks failed (RuntimeError: out of memory)" in capsys.readouterr().err
    assert RunRecord.from_json(r).lacks == ("bn_checks",)   # grid --rerun-lacking bn_checks finds it
