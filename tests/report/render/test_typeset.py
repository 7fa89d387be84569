"""The study typeset: captions state the runs behind each figure and table, counted from the data: on a constructed study whose run
counts are known."""
import re

from alexlib.report.domain.runs import main_grid, sweep

from conftest import arms, fake_run, study


def runs_in(caption: str) -> int:
    return int(re.search(r"(\d+) runs?\b", caption).group(1))


def test_the_captions_count_the_runs_they_draw(tmp_path):
    arms(tmp_path)
    fake_run(tmp_path / "runs", norm="ln", batch_size=64, seed=7, status="diverged", acc=10.0, epochs=8)
    s = study(tmp_path)
    grid = main_grid(s.runs, only_completed=False)
    # 3 seeds x (none, bn at 8 and 64 + lrn at 64) + the diverged ln run
    assert len(grid) == 16
    assert runs_in(s.caption("protocol")) == len(s.runs)
    assert runs_in(s.caption("accuracy_bars")) == len(grid) and "1 of them diverged" in s.caption("accuracy_bars")
    assert runs_in(s.caption("accuracy")) == len(grid)
    assert runs_in(s.caption("differences")) == len(main_grid(s.runs)) == 15
    assert runs_in(s.caption("lr_sweep")) == len(sweep(s.runs)) == 4
    claim1 = s.caption("claim:1")
    assert claim1.startswith("**Table ") and "Claim 1:" in claim1
    assert runs_in(claim1) == 12   # none, BN at 8 and 64: the cells its parts read
