"""Numerical noise, measured: a small grid trained under two kernel settings on this machine gives other
numbers for at least one run (only the kernels' summation order differs), and the rerun check calls its cells
in agreement."""
import pandas as pd

from alexlib.report.domain import against as AG
from alexlib.report.domain.records import read_study_runs
from alexlib.tools import noise as N

from conftest import TINY


def test_two_kernel_settings_give_other_numbers_that_agree_within_the_noise(tmp_path):
    base = {k: v for k, v in TINY.items() if k != "progress"} | {"epochs": 2, "threads": 1}
    # one cell of two seeds: its seed-to-seed sd, and a margin far above what the kernels move (measured here: seed
    # sd about 10 points, the settings' differences 0-2 points, every run's losses changed)
    configs = [{**base, "norm": "bn", "seed": s} for s in (0, 1)]
    lower = N.setting_env("lower")
    assert lower["ATEN_CPU_CAPABILITY"] in ("avx2", "default")   # one instruction set below this CPU's
    a = N.train_under(configs, {}, tmp_path / "default", "2")
    b = N.train_under(configs, lower, tmp_path / "lower", "2")
    runs = [read_study_runs(tmp_path / d).runs for d in ("default", "lower")]
    losses = [{r.run_id: r.loss_curve for r in df.itertuples()} for df in runs]
    assert set(a) == set(b) and len(a) == 2
    assert any(losses[0][k] != losses[1][k] for k in losses[0]), "the kernel settings changed no number"
    assert {r.kernel_env for r in runs[1].itertuples()} != {"none set"}   # the records say which kernels ran
    ag = AG.compare(runs[1], runs[0], [], [])
    assert set(ag.cells.decision) == {"agrees"}
    table = pd.DataFrame(N.compare(a, b, {r: N._cell(r) for r in a})["cells"])
    assert len(table) == 1 and (table.seed_sd >= 0).all()
