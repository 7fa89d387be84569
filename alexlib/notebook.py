"""Helpers for notebooks/run.ipynb: its parameters become a checked RunConfig, and its results a table."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import ConfigError, RunConfig
from .paths import REPO, from_repo


KERNEL_START_TIMEOUT = 120  # seconds; parallel kernel starts on a busy machine can be slow


def short_user_errors() -> None:
    """In a notebook's kernel: a bad parameter (ConfigError) or missing data (DataError) shows as its message
    alone, so papermill's console ends with what was wrong instead of a traceback through alexlib; any other
    error keeps its full traceback (a bug needs it)."""
    from IPython import get_ipython

    from .splits import DataError
    shell = get_ipython()
    if shell is None:
        return

    def message_only(shell, etype, value, tb, tb_offset=None):
        stb = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, stb)   # IPython shows a custom handler's result only if it sends it
        return stb
    shell.set_custom_exc((ConfigError, DataError), message_only)


def kernel_manager_config():
    """CurveZMQ encryption for the kernel's sockets when pyzmq and the kernel support it (ipykernel 7 does,
    and says so in its kernelspec). Unencrypted TCP is what makes every kernel print "Kernel is running over
    TCP without encryption"; encrypted, it has nothing to warn about, and the rest of its log still shows."""
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config
    c = Config()
    if zmq.has("curve") and KernelManager.class_traits().get("transport_encryption") is not None:
        c.KernelManager.transport_encryption = "auto"  # keys only for a kernel that declares it can use them
    return c


def execute(src: str | Path, dst: str | Path, parameters: dict[str, Any]) -> None:
    """Execute a notebook with papermill from the repository root, quietly (no progress bar). An error in a
    cell raises papermill's PapermillExecutionError; a kernel that dies raises too."""
    import papermill as pm
    pm.execute_notebook(str(src), str(dst), parameters=parameters, cwd=str(REPO), progress_bar=False,
                        log_output=False, start_timeout=KERNEL_START_TIMEOUT, kernel_name="python3",
                        config=kernel_manager_config())


def config_from_namespace(ns: dict[str, Any], before: set[str]) -> RunConfig:
    """The run's RunConfig from the notebook's variables. ``before`` holds the names that existed
    before the parameters cell, so a misspelled papermill ``-p`` name is caught, not ignored."""
    fields = RunConfig.field_names()
    new = {k for k in ns if k not in before and not k.startswith("_")}
    unknown = sorted(new - set(fields) - {"RUN_PARAMETERS"})
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                          f"known parameters: {', '.join(fields)}")
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
