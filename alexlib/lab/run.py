"""Helpers for notebooks/run.ipynb: its parameters become a checked RunConfig, and its result a table and a plot."""
from __future__ import annotations

from typing import Any

from ..paths import from_repo
from ..train.config import ConfigError, RunConfig, check_known


def short_user_errors() -> None:
    """In a notebook's kernel: a bad parameter (ConfigError) or missing data (DataError) shows as its message
    alone, so papermill's console ends with what was wrong instead of a traceback through alexlib; any other
    error keeps its full traceback (a bug needs it)."""
    from IPython import get_ipython

    from ..train.inputs.splits import DataError
    shell = get_ipython()
    if shell is None:
        return

    def message_only(shell, etype, value, tb, tb_offset=None):
        stb = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, stb)   # IPython shows a custom handler's result only if it sends it
        return stb
    shell.set_custom_exc((ConfigError, DataError), message_only)


def config_from_namespace(ns: dict[str, Any], before: set[str]) -> RunConfig:
    """The run's RunConfig from the notebook's variables. ``before`` holds the names that existed
    before the parameters cell, so a misspelled papermill ``-p`` name is caught, not ignored."""
    fields = RunConfig.field_names()
    new = {k for k in ns if k not in before and not k.startswith("_") and k != "RUN_PARAMETERS"}
    check_known(new, fields)
    values = {k: ns[k] for k in fields if k in ns}
    cfg = RunConfig.from_dict(values)
    # relative paths mean "under the repository root", wherever the kernel started
    out_dir = str(from_repo(cfg.resolved_out_dir()))
    return cfg.replace(data_dir=str(from_repo(cfg.data_dir)), out_dir=out_dir)


def history_table(record: dict[str, Any]):
    import pandas as pd
    df = pd.DataFrame(record.get("history") or [])
    if df.empty:
        return df
    cols = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "images_per_s"]
    return df[cols].set_index("epoch").round({"train_loss": 4, "test_loss": 4, "train_acc": 2, "test_acc": 2,
                                              "seconds": 1, "images_per_s": 0})


def plot_curves(record: dict[str, Any]):
    """Loss and accuracy per epoch, train (running, dropout on) and test (full split, eval mode)."""
    from matplotlib.figure import Figure  # not pyplot's: shown once, where the notebook displays it
    df = history_table(record)
    fig = Figure(figsize=(10, 3.6))
    a, b = fig.subplots(1, 2)
    if not df.empty:
        a.plot(df.index, df.train_loss, "o-", label="train (running mean)")
        a.plot(df.index, df.test_loss, "s-", label="test")
        b.plot(df.index, df.train_acc, "o-", label="train (running, dropout on)")
        b.plot(df.index, df.test_acc, "s-", label="test")
    a.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    b.set(xlabel="epoch", ylabel="accuracy %", title="accuracy")
    from matplotlib.ticker import MaxNLocator
    epochs = (record.get("config") or {}).get("epochs") or (int(df.index.max()) if not df.empty else 1)
    for ax in (a, b):   # the whole run's epochs on the axis from the first one on (a live view redraws it)
        ax.set_xlim(0.5, epochs + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    a.legend(); b.legend()
    fig.suptitle(run_label(record), fontsize=9)
    fig.tight_layout()
    return fig


def run_label(record: dict[str, Any]) -> str:
    c, env = record.get("config", {}), record.get("env", {})
    synth = " | SYNTHETIC DATA: NOT A RESULT" if (record.get("dataset") or {}).get("synthetic") else ""
    return (f"{c.get('dataset')} {c.get('image_size')} px, width {c.get('width')}, norm {c.get('norm')}, "
            f"batch {c.get('batch_size')}, lr {c.get('lr')}, seed {c.get('seed')} | "
            f"{env.get('device_name')} {env.get('precision')} | status {record.get('status')}{synth}")
