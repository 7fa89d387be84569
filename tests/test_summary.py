"""Numbers a reader can cite: each run counted once, cells of one protocol, lost seeds counted, labels
that say what the runs were, the report's values only where comparable, and statistics whose error
rates are what they claim (checked on constructed data with known answers)."""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from alexlib import grid as G
from alexlib import stats as ST
from alexlib.config import RunConfig
from alexlib.summary import ProtocolError, Study, load_runs

from conftest import REPO, fake_run

REF = str(REPO / "params" / "reference.yaml")


def study(tmp_path, select=""):
    return Study.load(str(tmp_path / "runs"), REF, str(tmp_path / "rep"), select)


# --------------------------------------------------------------------------------------------------
# run identity
# --------------------------------------------------------------------------------------------------
def test_a_grid_sweeping_momentum_runs_every_value(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"base": {"dataset": "synthetic", "image_size": 63},
                                    "grids": [{"momentum": [0.9, 0.0], "train_size": [100, 200], "dropout": [0.5, 0.0]}]}))
    plan = G.load_grid(path, tmp_path / "out")
    assert len(plan.runs) == 8
    assert len({c.out_dir for c in plan.runs}) == 8
    assert len({c.run_id() for c in plan.runs}) == 8
    assert plan.runs[0].run_id().startswith("synthetic-none-bs64-lr0.005-s0-px63-")


def test_speed_and_place_switches_do_not_change_the_run_id():
    a = RunConfig(norm="bn")
    for change in ({"cuda_graph": False}, {"deterministic": True}, {"eval_batch_size": 100}, {"progress": False},
                   {"out_dir": "x"}, {"data_dir": "y"}, {"device": "cpu"}, {"keep_checkpoint": True}):
        assert a.replace(**change).run_id() == a.run_id(), change
    for change in ({"momentum": 0.0}, {"precision": "fp32"}, {"gn_groups": 8}, {"test_size": 10}):
        assert a.replace(**change).run_id() != a.run_id(), change


def test_a_failing_notebook_never_overwrites_another_runs_record(tmp_path, monkeypatch):
    other = fake_run(tmp_path / "runs", norm="bn", batch_size=8, seed=0)
    before = (other / "metrics.json").read_bytes()
    cfg = RunConfig(dataset="digits", image_size=63, width=0.25, epochs=2, norm="bn", batch_size=8,
                    momentum=0.0, out_dir=str(other))  # another config pointed at that folder

    def fails(*a, **k):
        raise RuntimeError("out_dir already holds a different run (momentum: 0.9 there, 0.0 now)")

    monkeypatch.setattr(G, "run_notebook", fails)
    m = G.execute(cfg)
    assert m["status"] == "failed" and "different run" in m["error"]
    assert (other / "metrics.json").read_bytes() == before


def test_a_notebook_that_fails_after_training_keeps_its_completed_record(tmp_path, monkeypatch):
    folder = fake_run(tmp_path / "runs", norm="bn", seed=0)
    before = (folder / "metrics.json").read_bytes()
    cfg = RunConfig.from_dict(json.loads(before)["config"]).replace(out_dir=str(folder))

    def plot_fails(*a, **k):
        raise RuntimeError("a plot cell failed")

    monkeypatch.setattr(G, "run_notebook", plot_fails)
    said = []
    m = G.execute(cfg, log=said.append)
    assert m["status"] == "completed" and (folder / "metrics.json").read_bytes() == before
    assert "completed, but the notebook failed after training" in said[0]


def test_a_failure_the_grid_records_keeps_the_runs_protocol(tmp_path, monkeypatch):
    for seed in (0, 1):
        fake_run(tmp_path / "runs", norm="bn", seed=seed)
    cfg = RunConfig(dataset="digits", image_size=63, width=0.25, epochs=2, norm="bn", seed=2)
    cfg = cfg.replace(out_dir=str(tmp_path / "runs" / cfg.run_id()))

    def kernel_died(*a, **k):
        raise RuntimeError("DeadKernelError: Kernel died")

    monkeypatch.setattr(G, "run_notebook", kernel_died)
    assert G.execute(cfg)["status"] == "failed"
    cells = study(tmp_path).cells()   # one protocol: the failure carries the precision it would have run at
    assert cells[["n_completed", "n_failed"]].values.tolist() == [[2, 1]]


def test_resume_is_keyed_on_the_resolved_precision_and_not_on_speed_switches():
    from alexlib.store import same_run
    cfg = RunConfig(norm="gn")  # precision auto
    gpu_record = {"config": cfg.to_dict(), "env": {"precision": "bf16"}}
    same, why = same_run(gpu_record, cfg, "fp32")     # the same config, now on a CPU
    assert not same and "precision: 'bf16' there, 'fp32' now" in why
    assert same_run(gpu_record, cfg, "bf16")[0]
    ckpt = {"config": cfg.replace(cuda_graph=False, deterministic=True).to_dict(), "precision": "bf16"}
    assert same_run(ckpt, cfg, "bf16")[0]             # graphs and determinism change speed, not the run


def test_a_bf16_checkpoint_is_not_resumed_as_fp32(tmp_path):
    import torch
    import alexlib.train as T
    from conftest import tiny
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


# --------------------------------------------------------------------------------------------------
# cells hold one protocol, each run once
# --------------------------------------------------------------------------------------------------
def test_runs_of_two_protocols_are_not_averaged_together(tmp_path):
    for seed in (0, 1):
        fake_run(tmp_path / "runs", norm="bn", seed=seed, acc=90.0)
        fake_run(tmp_path / "runs", norm="bn", seed=seed, acc=40.0, epochs=4)
    with pytest.raises(ProtocolError, match=r"2 protocols, which differ in epochs .*select='epochs=2'"):
        study(tmp_path)
    s = study(tmp_path, select="epochs=4")
    cells = s.cells()
    assert len(cells) == 1 and cells["mean"][0] == 40.0 and cells.n_completed[0] == 2


def test_precision_and_subset_size_are_part_of_the_protocol(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", precision="bf16")
    fake_run(tmp_path / "runs", norm="gn", precision="fp32")
    with pytest.raises(ProtocolError, match="precision"):
        study(tmp_path)
    shutil.rmtree(tmp_path / "runs")
    fake_run(tmp_path / "runs", norm="bn", train_size=100)
    fake_run(tmp_path / "runs", norm="gn", train_size=200)
    with pytest.raises(ProtocolError, match="train_size"):
        study(tmp_path)


def test_a_copied_run_folder_counts_once(tmp_path):
    a = fake_run(tmp_path / "runs", norm="bn", seed=0, acc=80.0)
    fake_run(tmp_path / "runs", norm="bn", seed=1, acc=70.0)
    shutil.copytree(a, tmp_path / "runs" / "backup" / a.name)
    df, problems, dups = load_runs(tmp_path / "runs")
    assert len(df) == 2 and dups == 1 and not problems
    s = study(tmp_path)
    assert s.cells().n_completed[0] == 2 and s.cells()["mean"][0] == 75.0
    assert "1 run folder(s) held a run already counted" in s.header_markdown()


# --------------------------------------------------------------------------------------------------
# lost seeds are counted, everywhere
# --------------------------------------------------------------------------------------------------
def test_diverged_and_failed_seeds_are_counted_in_every_cell_view(tmp_path):
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=0, acc=39.0)
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=1, status="diverged")
    fake_run(tmp_path / "runs", norm="none", batch_size=8, seed=2, status="failed")
    for seed in (0, 1, 2):
        fake_run(tmp_path / "runs", norm="bn", batch_size=8, seed=seed, acc=80.0 + seed)
        fake_run(tmp_path / "runs", norm="gn", batch_size=8, seed=seed, status="diverged")
    s = study(tmp_path)
    cells = s.cells().set_index("norm")
    assert (cells.loc["none", ["n_completed", "n_diverged", "n_failed"]].tolist()) == [1, 1, 1]
    assert (cells.loc["gn", ["n_completed", "n_diverged", "n_failed"]].tolist()) == [0, 3, 0]
    table = s.accuracy_table()
    assert table.loc["none", (8, "ours: mean ± sd (n)")] == "39.00 (n=1; 1 diverged, 1 failed)"
    assert table.loc["GroupNorm", (8, "ours: mean ± sd (n)")] == "— (n=0; 3 diverged)"
    s.write()
    csv = (tmp_path / "rep" / "cells.csv").read_text().splitlines()
    assert csv[0].startswith("norm,batch_size,mean,std,n_completed,n_diverged,n_failed")
    fig = s.bar_chart()
    marks = sorted(t.get_text() for t in fig.axes[0].texts)
    assert marks == ["2✕", "3✕"]


def test_cells_whose_seeds_ran_with_other_thread_counts_or_devices_say_so(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", seed=0, acc=80.0, cpu_threads=1)
    fake_run(tmp_path / "runs", norm="bn", seed=1, acc=82.0, cpu_threads=2)
    fake_run(tmp_path / "runs", norm="gn", seed=0, acc=70.0, device_name="CPU a")
    fake_run(tmp_path / "runs", norm="gn", seed=1, acc=72.0, device_name="CPU b")
    fake_run(tmp_path / "runs", norm="ln", seed=0, acc=75.0)
    s = study(tmp_path)
    cells = s.cells().set_index("norm")
    assert cells.loc["bn", "mixed"] == "threads 1/2" and cells.loc["gn", "mixed"] == "devices CPU a / CPU b"
    assert cells.loc["ln", "mixed"] == ""
    assert s.accuracy_table().loc["BatchNorm", (64, "ours: mean ± sd (n)")] == "81.00 ± 1.41 (n=2; mixed threads 1/2)"


# --------------------------------------------------------------------------------------------------
# labels and the report's values
# --------------------------------------------------------------------------------------------------
def test_labels_say_the_subset_sizes(tmp_path):
    fake_run(tmp_path / "runs", norm="bn", train_size=5000, test_size=0, train_images=5000, test_images=10000)
    s = study(tmp_path)
    assert "5,000 train / 10,000 test images" in s.label()
    assert "full" not in s.label() and "500" not in s.label().replace("5,000", "")
    assert "5,000 train / 10,000 test images" in s.short_label()


def _crimson_lines(fig):
    return [l for l in fig.axes[0].lines if l.get_color() == "crimson" and len(l.get_xdata())]


def test_the_reports_values_are_drawn_only_where_the_protocol_is_the_reports(tmp_path):
    for norm in ("none", "bn"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=60.0 + seed)
    s = study(tmp_path)
    assert not s.comparable() and not _crimson_lines(s.bar_chart())
    assert "Not comparable" in s.comparison_note() and "diff" not in s.accuracy_table().columns.get_level_values(1)
    shutil.rmtree(tmp_path / "runs")
    for norm in ("none", "bn"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", norm=norm, batch_size=64, seed=seed, acc=80.0 + seed, dataset="cifar10",
                     image_size=224, width=1.0, epochs=10, train_images=50000, test_images=10000)
    s = study(tmp_path, select="")
    assert s.comparable() and len(_crimson_lines(s.bar_chart())) == 2
    assert "diff" in s.accuracy_table().columns.get_level_values(1)


# --------------------------------------------------------------------------------------------------
# statistics on constructed data with known answers
# --------------------------------------------------------------------------------------------------
NORMS4 = ["none", "bn", "ln", "gn"]


def simulate(rng, effect: dict[str, float], seeds=3, sizes=(8, 64), seed_sd=2.0, noise_sd=1.0, shared=True):
    """batch -> norm -> seed -> accuracy: a per-seed effect shared by every norm (as a seed fixes init,
    order and dropout for all of them), the norm's effect, and noise."""
    out = {}
    for bs in sizes:
        seed_effect = rng.normal(0, seed_sd, seeds)
        out[bs] = {n: {(s if shared else 10 * i + s): 70 + effect.get(n, 0.0) + seed_effect[s] + rng.normal(0, noise_sd)
                       for s in range(seeds)} for i, n in enumerate(NORMS4)}
    return out


@pytest.mark.parametrize("shared", [True, False])
def test_identical_norms_are_called_different_at_about_the_nominal_rate(shared):
    rng = np.random.default_rng(1)
    studies = 400 if shared else 150  # Tukey's studentized-range integrals take ~0.2 s a batch size
    any_call = sum(any(c.shown for c in ST.compare_norms(simulate(rng, {}, shared=shared))) for _ in range(studies))
    # family-wise error at alpha 0.05 over 12 comparisons; the old uncorrected best-vs-runner-up
    # procedure, with its ANOVA, called far more often
    assert any_call / studies < 0.09


def test_a_table_mixing_paired_and_tukey_batch_sizes_holds_alpha_as_a_whole():
    rng = np.random.default_rng(4)
    studies, calls = 100, 0
    for _ in range(studies):
        paired = simulate(rng, {}, sizes=(8,))
        unpaired = simulate(rng, {}, sizes=(64,), shared=False)
        comps = ST.compare_norms({**paired, **unpaired})
        assert {c.method.split(",")[0].split(" (")[0] for c in comps} == {"paired t", "Tukey HSD"}
        assert all(c.method.endswith("Bonferroni over 2 batch sizes") for c in comps)
        calls += any(c.shown for c in comps)
    assert calls / studies < 0.09


def test_norms_far_apart_are_called_different():
    rng = np.random.default_rng(2)
    comps = ST.compare_norms(simulate(rng, {"bn": 15.0, "ln": 15.0, "gn": 30.0}))
    shown = {(c.batch_size, c.a, c.b): c.shown for c in comps}
    assert shown[(8, "gn", "none")] and shown[(64, "bn", "none")] and shown[(8, "gn", "bn")]
    assert shown[(8, "bn", "ln")] is False or shown[(8, "ln", "bn")] is False
    c = next(c for c in comps if (c.batch_size, c.a, c.b) == (8, "gn", "none"))
    assert c.ci_low < 30.0 < c.ci_high and c.ci_low > 0


def test_pairing_by_seed_is_used_when_seeds_are_shared():
    rng = np.random.default_rng(3)
    # a large seed effect hides a small consistent difference from an unpaired test, not from a paired one
    data = simulate(rng, {"bn": 2.0}, seeds=5, sizes=(8,), seed_sd=10.0, noise_sd=0.2)
    comps = {(c.a, c.b): c for c in ST.compare_norms(data)}
    assert comps[("bn", "none")].method.startswith("paired t (5 seeds)")
    assert comps[("bn", "none")].shown
    unpaired = {n: {10 * i + s: v for s, v in seeds.items()} for i, (n, seeds) in enumerate(data[8].items())}
    uc = {(c.a, c.b): c for c in ST.compare_norms({8: unpaired})}
    assert uc[("bn", "none")].method == "Tukey HSD" and not uc[("bn", "none")].shown


def test_holm_adjustment():
    r = ST.holm([0.01, 0.04, math.nan, 0.03])
    assert math.isnan(r[2]) and np.allclose([r[0], r[1], r[3]], [0.03, 0.06, 0.06])
