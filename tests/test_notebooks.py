"""The run notebook as users call it (papermill CLI, -f YAML, nbval) and the source notebooks' hygiene."""
import json
import shutil
import subprocess
import sys
import uuid
from dataclasses import fields

import nbformat
import pytest

from alexlib.paths import EXPLORE_NOTEBOOK, RUN_NOTEBOOK, SUMMARY_NOTEBOOK
from alexlib.train.config import RunConfig

from conftest import REPO, nbval

PAPERMILL = [sys.executable, "-m", "papermill"]
SMALL = ["-p", "dataset", "synthetic", "-p", "image_size", "63", "-p", "width", "0.125", "-p", "epochs", "1",
         "-p", "train_size", "64", "-p", "test_size", "32", "-p", "device", "cpu"]
SMALL_DICT = dict(dataset="synthetic", image_size=63, width=0.125, epochs=1, train_size=64, test_size=32, device="cpu")


def parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0]


@pytest.mark.parametrize("path", [RUN_NOTEBOOK, SUMMARY_NOTEBOOK, EXPLORE_NOTEBOOK])
def test_source_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None


def test_run_notebook_parameters_are_every_config_field_with_its_default():
    nb = nbformat.read(RUN_NOTEBOOK, as_version=4)
    ns = {}
    exec(parameters_cell(nb).source, ns)
    assert {k: ns[k] for k in RunConfig.field_names()} == {f.name: f.default for f in fields(RunConfig)}
    # the first code cell after the parameters validates them
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "config_from_namespace" in code[code.index(parameters_cell(nb)) + 1].source


def run_papermill(args, cwd=REPO):
    return subprocess.run(PAPERMILL + args, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_papermill_command_line_as_users_type_it(tmp_path):
    out = tmp_path / "out dir é"
    r = run_papermill(["notebooks/run.ipynb", str(tmp_path / "out.ipynb"), "-p", "norm", "gn", "-p", "batch_size", "32",
                       *SMALL, "-p", "out_dir", str(out)])
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "completed"
    assert (m["config"]["norm"], m["config"]["batch_size"], m["config"]["dataset"]) == ("gn", 32, "synthetic")
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert "final test accuracy" in text and "image/png" in text


def test_papermill_with_a_yaml_file_and_relative_paths_from_elsewhere(tmp_path):
    rel = f"runs/_pytest_{uuid.uuid4().hex[:8]}"
    params = tmp_path / "one run.yaml"
    params.write_text("\n".join(f"{k}: {v}" for k, v in {**SMALL_DICT, "norm": "bn", "batch_size": 16,
                                                          "out_dir": rel}.items()))
    try:  # started from another folder: relative out_dir still means <repo>/runs/...
        r = run_papermill([str(RUN_NOTEBOOK), str(tmp_path / "o.ipynb"), "-f", str(params)], cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        m = json.loads((REPO / rel / "metrics.json").read_text())
        assert m["config"]["norm"] == "bn" and m["config"]["out_dir"] == rel   # recorded relative to the repo
    finally:
        shutil.rmtree(REPO / rel, ignore_errors=True)


BAD_VALUES = [
    (["-p", "batch_size", "0"], "batch_size=0 is not allowed: must be between 1 and 65536"),
    (["-p", "norm", "batchnorm"], "norm='batchnorm' is not allowed: choose one of none, bn, ln, gn, lrn"),
    (["-p", "lr", "fast"], "lr must be a number, got 'fast'"),
    (["-p", "batchsize", "32"], "unknown parameter(s) 'batchsize'; known parameters: norm, batch_size"),
    (["-p", "lr", "nan"], "lr must be a finite number"),
    (["-p", "epochs", "1e9"], "epochs=1000000000 is not allowed"),
    (["-p", "image_size", "32"], "image_size=32 is not allowed: must be between 63 and 1024"),
    (["-p", "dataset", "imagenet"], "dataset='imagenet' is not allowed"),
]


def prepared(tmp_path, monkeypatch, args):
    """notebooks/run.ipynb with ``args`` injected by papermill's own command line, in this process, as
    ``papermill ... --prepare-only`` writes it (the values typed as the command line types them; no kernel)."""
    from click.testing import CliRunner
    from papermill.cli import papermill
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")   # papermill's command line sets it otherwise
    dst = tmp_path / "prepared.ipynb"
    r = CliRunner().invoke(papermill, [str(RUN_NOTEBOOK), str(dst), *args, "--prepare-only"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return nbformat.read(dst, as_version=4)


def first_error(nb) -> tuple[int, BaseException | None]:
    """The notebook's code cells run in order in one namespace, as its kernel runs them (the display magic
    ``%matplotlib inline`` aside), until one raises: (that cell's index among the code cells, its error)."""
    ns: dict = {"__name__": "__main__"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        source = "\n".join(line for line in cell.source.splitlines() if line.strip() != "%matplotlib inline")
        try:
            exec(compile(source, f"<cell {i}>", "exec"), ns)
        except Exception as e:  # noqa: BLE001
            return i, e
    return len(code), None


@pytest.mark.parametrize("args, message", BAD_VALUES)
def test_bad_papermill_values_fail_in_the_first_cell_and_write_nothing(tmp_path, monkeypatch, args, message):
    """Every bad value through papermill's command line (in this process: its parser and its injected cell), run
    cell by cell: the first cell after the parameters stops with the message, before anything is written."""
    from alexlib.train.config import ConfigError
    out = tmp_path / "never"
    nb = prepared(tmp_path, monkeypatch, [*SMALL, "-p", "out_dir", str(out), *args])
    code = [c for c in nb.cells if c.cell_type == "code"]
    injected = next(i for i, c in enumerate(code) if "injected-parameters" in c.metadata.get("tags", []))
    at, err = first_error(nb)
    assert at == injected + 1 and "config_from_namespace" in code[at].source, (at, err)
    assert isinstance(err, ConfigError) and message in str(err), err
    assert not out.exists()


def test_a_bad_papermill_value_fails_as_the_console_shows_it(tmp_path):
    """One bad value through the real papermill command line and kernel: it fails in the first cell, writes
    nothing, and the console ends with what was wrong, not a traceback through alexlib (the notebook's own cell
    shows it too)."""
    out = tmp_path / "never"
    args, message = BAD_VALUES[3]   # a misspelled name: caught among the real kernel's globals
    r = run_papermill(["notebooks/run.ipynb", str(tmp_path / "bad.ipynb"), *SMALL, "-p", "out_dir", str(out), *args])
    assert r.returncode != 0
    assert message in r.stderr + r.stdout
    assert not out.exists()
    assert r.stderr.rstrip().splitlines()[-1].startswith("ConfigError: ") and "alexlib/train/config.py" not in r.stderr
    executed = nbformat.read(tmp_path / "bad.ipynb", as_version=4)
    failed = [c for c in executed.cells if c.cell_type == "code" and
              any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "config_from_namespace" in failed[0].source


def test_nbval_run_notebook_reproduces_its_outputs(tmp_path):
    """Executed once by papermill, its run folder removed, then re-executed by nbval: the same seed on
    the same machine gives the same per-epoch numbers, table and label (timings aside)."""
    from alexlib.notebooks import execute
    out = tmp_path / "nbval run"
    executed = tmp_path / "run_executed.ipynb"
    execute(RUN_NOTEBOOK, executed, {**SMALL_DICT, "norm": "lrn", "epochs": 2, "out_dir": str(out)})
    first = json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out)  # so nbval trains again instead of finding the run done
    stdout = nbval(executed, tmp_path, REPO / "tests" / "nbval_run_sanitize.cfg")
    assert " passed" in stdout and "failed" not in stdout
    again = json.loads((out / "metrics.json").read_text())
    assert again["status"] == "completed" and again["final"]["test_acc"] == first["final"]["test_acc"]
    text = json.dumps([c.get("outputs", []) for c in nbformat.read(executed, as_version=4).cells])
    assert "final test accuracy" in text and "epoch   2/2" in text  # what the comparison covered


def test_nbval_explore_notebook_reproduces_its_outputs_on_the_committed_study(tmp_path):
    """explore.ipynb as a user opens it: executed once, then re-executed by nbval, every table the same; its
    figures drawn (BN against GN, test accuracy and training loss), from every committed record."""
    from alexlib.notebooks import execute
    executed = tmp_path / "explore_executed.ipynb"
    execute(EXPLORE_NOTEBOOK, executed, {})
    stdout = nbval(executed, tmp_path)
    assert " passed" in stdout and "failed" not in stdout
    outputs = [o for c in nbformat.read(executed, as_version=4).cells for o in c.get("outputs", [])]
    assert sum("image/png" in (o.get("data") or {}) for o in outputs) == 2
    records = len(list((REPO / "reports" / "fashion" / "records").rglob("metrics.json")))
    assert f"{records} records" in json.dumps(outputs)


def tiny_notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (alexlib)", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_execute_prints_no_kernel_tcp_warning_and_the_kernels_log_still_shows(tmp_path, capfd, caplog):
    """The kernel's sockets are encrypted, so it has nothing to warn about; its own log is not silenced."""
    from alexlib.notebooks import execute
    src = tiny_notebook(tmp_path / "tiny.ipynb", "print(x + 1)",
                        "from ipykernel.kernelapp import IPKernelApp\n"
                        "IPKernelApp.instance().log.error('a kernel error still reaches stderr')")
    execute(src, tmp_path / "out.ipynb", {"x": 41})
    out, err = capfd.readouterr()  # the kernel writes to the file descriptors it inherits
    assert "without encryption" not in out + err + caplog.text
    assert "a kernel error still reaches stderr" in err
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "42\n"


def test_an_error_in_a_cell_still_reaches_the_caller(tmp_path):
    import papermill as pm

    from alexlib.notebooks import execute
    src = tiny_notebook(tmp_path / "fails.ipynb", "raise ValueError(f'bad x {x}')")
    with pytest.raises(pm.PapermillExecutionError, match="bad x 7"):
        execute(src, tmp_path / "out.ipynb", {"x": 7})
