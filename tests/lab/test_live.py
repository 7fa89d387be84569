"""run.ipynb in JupyterLab: the live view only in a kernel a Jupyter front end started, never in a notebook that
papermill or the grid executes; the cost printed before a run."""
import json

import nbformat
import pytest

from alexlib.lab import live
from alexlib.notebooks import execute, not_live
from alexlib.paths import RUN_NOTEBOOK
from alexlib.train.config import RunConfig

from conftest import TINY


@pytest.mark.parametrize("env, shell, expected", [
    ({}, True, False),                                   # papermill, nbval, nbconvert: no server session
    ({"JPY_SESSION_NAME": "notebooks/run.ipynb"}, True, True),   # a notebook open in JupyterLab
    ({"JPY_SESSION_NAME": "x.ipynb"}, False, False),     # not in a kernel at all
    ({"JPY_SESSION_NAME": "x.ipynb", "ALEXLIB_LIVE": "0"}, True, False),
    ({"ALEXLIB_LIVE": "1"}, True, True),
])
def test_interactive_only_in_a_front_end_kernel(monkeypatch, env, shell, expected):
    monkeypatch.setattr(live, "started_by_a_server", lambda: True)
    for k in ("JPY_SESSION_NAME", "ALEXLIB_LIVE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    class Kernel:
        kernel = object()
    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel() if shell else None)
    assert live.interactive() is expected


def test_a_kernel_papermill_started_under_lab_inherits_the_variable_but_is_not_live(monkeypatch):
    """`!papermill ...` in a Lab notebook: its kernel inherits JPY_SESSION_NAME; its parent is papermill."""
    import IPython
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/run.ipynb")
    monkeypatch.delenv("ALEXLIB_LIVE", raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: type("K", (), {"kernel": object()})())
    assert live.started_by_a_server() is False   # this test's parent: a shell or pytest's runner, not a server
    assert live.interactive() is False
    monkeypatch.setattr(live, "started_by_a_server", lambda: True)
    assert live.interactive() is True


def test_kernels_the_grid_starts_are_never_live(monkeypatch):
    import os
    monkeypatch.setenv("ALEXLIB_LIVE", "1")
    with not_live():
        assert os.environ["ALEXLIB_LIVE"] == "0"
    assert os.environ["ALEXLIB_LIVE"] == "1"


def test_run_notebook_executed_from_a_lab_kernel_keeps_no_widget(tmp_path, monkeypatch):
    """A grid started from a notebook in Lab: its kernels inherit JPY_SESSION_NAME, and still print lines."""
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/explore.ipynb")
    out = tmp_path / "o.ipynb"
    execute(RUN_NOTEBOOK, out, {**TINY, "progress": True, "out_dir": str(tmp_path / "run")})
    nb = nbformat.read(out, as_version=4)
    mimes = {k for c in nb.cells for o in c.get("outputs", []) for k in (o.get("data") or {})}
    assert not any("widget" in m for m in mimes) and "widgets" not in json.dumps(nb.metadata)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "epoch   1/2" in text and "estimate:" not in text   # the grid prints its own, once, before it starts


def test_cost_line_prices_the_run_from_a_calibration_or_recorded_rates(tmp_path, monkeypatch):
    cfg = RunConfig.from_dict({**TINY, "out_dir": str(tmp_path / "r")})
    line = live.cost_line(cfg, folders=[tmp_path])
    assert line.startswith("estimate: about ") and "calibration" in line and "2 epochs" in line
    assert "finish in minutes" not in line
    monkeypatch.setattr(live, "LONG_S", 0.0)   # every run counts as long: the pointer is added
    assert "finish in minutes here" in live.cost_line(cfg, folders=[tmp_path])


def test_live_run_draws_its_curves_in_place(monkeypatch):
    shown = []

    class Handle:
        def update(self, fig):
            shown.append(fig)
    import IPython.display
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: Handle())
    view = live.LiveRun()
    rec = {"config": {"dataset": "digits"}, "status": "running",
           "history": [{"epoch": 1, "train_loss": 2.0, "train_acc": 20.0, "test_loss": 1.9, "test_acc": 30.0,
                        "seconds": 1.0, "images_per_s": 100.0}]}
    view.on_epoch(rec)
    view.on_epoch(rec | {"history": rec["history"] * 2})
    assert len(shown) == 2 and all(len(f.axes) == 2 for f in shown)
    assert set(view.hooks()) == {"bar", "on_epoch"}
