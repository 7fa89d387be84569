"""Shared test fixtures: small run configs and dataset files the tests write in the real on-disk formats."""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # make test-all's two workers share the two cores: an OpenMP thread that waits for work sleeps instead of
    # spinning (spinning, a 2-thread run beside another process was measured 8x slower here); numbers unchanged
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
import torch
import yaml

from alexlib.report.study import Study
from alexlib.train.config import RunConfig
from alexlib.train.inputs import data as D

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(min(2, os.cpu_count() or 1))

# A configuration that trains in about a second on a 2-core CPU: synthetic data, 63 px, a quarter width.
TINY = dict(dataset="synthetic", image_size=63, width=0.125, batch_size=16, epochs=2, lr=0.01,
            train_size=96, test_size=48, device="cpu", progress=False)


def tiny(tmp_path: Path, **kw) -> dict:
    return {**TINY, "out_dir": str(tmp_path / "run"), **kw}


def write_cifar_files(root: Path, n_per_batch: int = 40, n_test: int = 40, seed: int = 0) -> dict[str, str]:
    """Small files in the CIFAR-10 python format holding learnable images; returns their md5 sums,
    the checksums the loader is given for them."""
    train, test = D.make_synthetic(5 * n_per_batch, n_test, seed=seed)
    return D.write_cifar10_format(root, train, test)


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> None:
    raw = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def write_fashion_files(folder: Path, n_train: int = 60, n_test: int = 30, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8), gz)


@pytest.fixture
def cifar_dir(tmp_path):
    root = tmp_path / "cifar"
    sums = write_cifar_files(root)
    return root, sums


def fake_run(root: Path, status="completed", acc=50.0, train_images=5000, test_images=2000, precision="fp32",
             cpu_threads=2, device_name="CPU test", first_acc=None, checks=None, layers=None, **cfg) -> Path:
    """A metrics.json as train() writes it, without training (for the summary's bookkeeping)."""
    c = RunConfig.from_dict({"dataset": "digits", "image_size": 63, "width": 0.25, "epochs": 2, **cfg})
    folder = root / c.run_id()
    folder.mkdir(parents=True, exist_ok=True)
    hist = [{"epoch": e, "train_loss": 1.0, "train_acc": acc, "test_loss": 1.0, "test_acc": acc, "seconds": 1.0,
             "train_seconds": 1.0, "eval_seconds": 0.1, "images_per_s": 100.0} for e in range(1, c.epochs + 1)]
    if first_acc is not None:
        hist[0]["test_acc"] = first_acc
    if layers is not None:   # layer -> (grad_norm, weight_dist) of every epoch (schema 4's per-layer signals)
        for h in hist:
            h["layers"] = {ly: {"grad_norm": g, "weight_dist": d} for ly, (g, d) in layers.items()}
    if status != "completed":
        hist = hist[:1]
    m = {"run_id": c.run_id(), "config": c.to_dict(), "status": status, "history": hist,
         "final": ({"epoch": c.epochs, "test_acc": acc, "test_loss": 1.0, "train_acc": acc, "train_loss": 1.0,
                    "best_test_acc": acc, "train_seconds": 2.0, "seconds": 2.2} if status == "completed" else None),
         "env": {"device_name": device_name, "precision": precision, "torch": "x", "cpu_threads": cpu_threads},
         "dataset": {"train_images": train_images, "test_images": test_images, "synthetic": False},
         "updated_at": "2026-11-28T00:00:00+00:00"}
    if checks is not None:   # (recomputed, each test batch's own): a BatchNorm run's two extra accuracies
        m["bn_checks"] = {"recomputed": {"test_acc": checks[0]}, "batch_stats": {"test_acc": checks[1]}, "seconds": 1.0}
    if status == "diverged":
        m["diverged_at"] = {"epoch": 2, "step": 7}
    if status == "failed":
        m["error"] = "RuntimeError: test"
    (folder / "metrics.json").write_text(json.dumps(m))
    return folder


def grid_file(tmp_path: Path, runs: int = 1, executor: dict | None = None, **base) -> Path:
    doc = {"base": {**{k: v for k, v in TINY.items() if k != "progress"}, **base},
           "grids": [{"seed": list(range(runs))}]}
    if executor is not None:
        doc["executor"] = executor
    p = tmp_path / "g.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/metrics.json")}


TIMING = {"seconds", "train_seconds", "eval_seconds", "images_per_s"}


def numbers(record):
    """A run's numbers without its timings."""
    return [{k: v for k, v in h.items() if k not in TIMING} for h in record["history"]]


def stop_after_epoch(monkeypatch, n):
    """Make train() stop (as Ctrl-C would) right after epoch n's files are handed to the writer."""
    import alexlib.train.run.loop as T
    real = T.save_epoch

    def save_then_stop(writer, out, ckpt, metrics):
        real(writer, out, ckpt, metrics)
        if ckpt is not None and ckpt["epoch"] == n:
            raise KeyboardInterrupt(f"stopped after epoch {n}")

    monkeypatch.setattr(T, "save_epoch", save_then_stop)


def nbval(path, tmp_path, sanitize=None):
    """nbval in its strict mode: re-executes every cell and compares each output with the one stored."""
    extra = ["--nbval-sanitize-with", str(sanitize)] if sanitize else []
    r = subprocess.run([sys.executable, "-m", "pytest", "--nbval", *extra, "-q", "-p", "no:cacheprovider", str(path)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    return r.stdout


# --------------------------------------------------------------------------------------------------
# A barrier in a run's kernel: the tests that kill, interrupt or race a grid stop one run at a known point
# instead of racing a long run. Nothing in alexlib knows of it: an IPython startup file (IPYTHONDIR, which the
# kernel papermill starts inherits through the grid and SLURM) wraps train()'s per-epoch step in that kernel only.
# --------------------------------------------------------------------------------------------------
HOLD_STARTUP = """
# tests/conftest.py Hold: the run whose folder is $ALEXLIB_TEST_HOLD_RUN stops in epoch $ALEXLIB_TEST_HOLD_EPOCH,
# after training it and before evaluating or recording it, says so (held) and waits until go is there.
import os as _os
if _os.environ.get("ALEXLIB_TEST_HOLD"):
    def _install_hold():
        import time
        from pathlib import Path
        import alexlib.train.run.loop as loop
        control, at = Path(_os.environ["ALEXLIB_TEST_HOLD"]), int(_os.environ["ALEXLIB_TEST_HOLD_EPOCH"])
        run = Path(_os.environ["ALEXLIB_TEST_HOLD_RUN"]).resolve()
        finish = loop._finish_epoch

        def held(tr, epoch, seconds):
            if epoch == at and Path(tr.cfg.resolved_out_dir()).resolve() == run and not (control / "go").exists():
                (control / "held.tmp").write_text(str(_os.getpid()))
                (control / "held.tmp").replace(control / "held")
                while not (control / "go").exists():
                    time.sleep(0.05)
            return finish(tr, epoch, seconds)
        loop._finish_epoch = held
    _install_hold()
"""


class Hold:
    """Holds the run in ``run_dir`` in epoch ``epoch`` (trained, not yet evaluated or recorded: the epochs before
    it are on disk, checkpoint and metrics.json) in any kernel started with ``env`` in its environment, until
    ``release()``. ``held(...)`` waits until it is held there, failing at once if it no longer can be (the grid that
    runs it exited, its job ended); no clock: a loaded machine is slow, not wrong."""

    def __init__(self, tmp_path: Path, run_dir: str | Path, epoch: int = 2):
        self.control, self.run_dir, self.epoch = tmp_path / "hold", Path(run_dir), epoch
        startup = tmp_path / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-hold.py").write_text(HOLD_STARTUP)
        self.control.mkdir()
        self.env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython"), "ALEXLIB_TEST_HOLD": str(self.control),
                    "ALEXLIB_TEST_HOLD_RUN": str(self.run_dir), "ALEXLIB_TEST_HOLD_EPOCH": str(epoch)}

    def held(self, hopeless) -> int:
        """Waits until the run is held with the epochs before ``epoch`` recorded; returns its kernel's pid. Fails as
        soon as ``hopeless()`` names why it can no longer happen (a subprocess.Popen: the grid exited)."""
        import time
        if isinstance(hopeless, subprocess.Popen):
            proc = hopeless

            def hopeless():
                if proc.poll() is None:
                    return None
                out = proc.stdout.read() if proc.stdout else ""
                return f"the grid exited ({proc.returncode}): {out[-3000:]}"
        metrics = self.run_dir / "metrics.json"
        while True:
            if (self.control / "held").exists() and metrics.exists():
                m = json.loads(metrics.read_text())   # written whole, after the checkpoint it names
                if len(m["history"]) == self.epoch - 1:
                    return int((self.control / "held").read_text())
            why = hopeless()
            assert not why, f"the run was never held in epoch {self.epoch}: {why}"
            time.sleep(0.05)

    def release(self) -> None:
        (self.control / "go").write_text("")


# --------------------------------------------------------------------------------------------------
# Runs folders for the report's modules (runs, cells, analysis, claims, texts, figures, study):
# fake_run's records, as a grid of seeds would leave them
# --------------------------------------------------------------------------------------------------
REF = str(REPO / "params" / "reference.yaml")
SEEDS = (0, 1, 2)
JITTER = (-0.6, 0.1, 0.5)   # seed-to-seed spread of the constructed runs (sd ~0.55 points)


def study(tmp_path, select=""):
    return Study.load(str(tmp_path / "runs"), REF, str(tmp_path / "rep"), select)


def cell(tmp_path, norm, bs, acc, first=None, jitter=JITTER, **cfg):
    for seed, j in zip(SEEDS, jitter):
        fake_run(tmp_path / "runs", norm=norm, batch_size=bs, seed=seed, acc=acc + j,
                 first_acc=None if first is None else first + j, **cfg)


def arms(tmp_path, none8=(30.0, 60.0, 58.0), bn8=(80.0, 80.0, 79.0), none64=60.0, bn64=85.0):
    """Fixed (8 epochs), equal steps (batch 8 at 1 epoch), linear lr (batch 8 at lr/8), at batch 8 and 64.
    ``none8``/``bn8``: batch-8 accuracy in the fixed, equal-steps and lr-scaled designs."""
    for norm, at8, at64 in (("none", none8, none64), ("bn", bn8, bn64)):
        cell(tmp_path, norm, 64, at64, epochs=8)
        cell(tmp_path, norm, 8, at8[0], epochs=8)
        cell(tmp_path, norm, 8, at8[1], epochs=1)
        cell(tmp_path, norm, 8, at8[2], epochs=8, lr=0.000625)
    cell(tmp_path, "lrn", 64, 20.0, epochs=8)   # in the fixed design only: not drawn into the arms
    fake_run(tmp_path / "runs", norm="none", batch_size=64, lr=0.01, epochs=8, acc=55.0)  # the sweep
    fake_run(tmp_path / "runs", norm="bn", batch_size=16, lr=0.02, epochs=8, acc=55.0)    # fits no design


# --------------------------------------------------------------------------------------------------
# A real SLURM (make slurm-up; .ci/run starts it): the tests that need one skip without it, except in CI
# --------------------------------------------------------------------------------------------------
def slurm_problem() -> str | None:
    """Why no usable SLURM answers here (None when one does); points SLURM_CONF at make slurm-up's own."""
    import shutil
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return "SLURM's commands are not installed (as root on Debian: make slurm-up)"
    ours = Path(os.environ.get("ALEXLIB_SLURM_DIR", "/tmp/alexlib-slurm")) / "etc" / "slurm.conf"
    if "SLURM_CONF" not in os.environ and not Path("/etc/slurm/slurm.conf").exists() and ours.exists():
        os.environ["SLURM_CONF"] = str(ours)
    r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"SLURM does not answer (make slurm-up starts one): {r.stderr.strip()[:200]}"
    if "idle" not in r.stdout.split() and "mixed" not in r.stdout.split():
        return f"no idle SLURM node (sinfo: {r.stdout.split()})"
    if subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True).returncode != 0:
        return "sacct does not answer (SLURM without accounting)"
    return None


def need(problem: str | None) -> None:
    """Skip with ``problem``; in CI (CI=true, where .ci/run starts SLURM) fail instead."""
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SLURM tests (.ci/run starts make slurm-up): {problem}")
        pytest.skip(problem)


def _queue_drained(bound_s: float = 120) -> None:
    """Until SLURM lists no job (the module before may leave one completing for a moment), at most ``bound_s``."""
    import time
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        q = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
        if q.returncode != 0 or not q.stdout.strip():
            return
        time.sleep(0.5)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A module's SLURM tests have the node to themselves: under make test-all's two workers the modules that use
    SLURM take turns (a lock file both workers see, held for the module; a preemption test's exclusive job would
    otherwise preempt the other module's runs), each starting on an empty queue."""
    import fcntl
    with open(tmp_path_factory.getbasetemp().parent / "slurm-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        problem = slurm_problem()
        if problem and problem.startswith("no idle SLURM node"):
            _queue_drained()
            problem = slurm_problem()
        need(problem)
        yield


# --------------------------------------------------------------------------------------------------
# JupyterLab as `make lab` starts it (notebooks/lab.sh), for test_lab.py and test_browser.py
# --------------------------------------------------------------------------------------------------
LAB = REPO / "notebooks" / "lab.sh"
LAB_START_TIMEOUT = 180  # seconds for Lab to answer on a busy 2-core machine (it takes ~10 s when idle)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server(tmp_path: Path, env: dict[str, str] | None = None):
    """notebooks/lab.sh on a free port with a token, its server files in ``tmp_path`` (not the user's), once it
    answers; yields (base URL, token, its log file), and stops it (SIGTERM, then SIGKILL) after."""
    import secrets
    import signal
    import time
    import urllib.error
    import urllib.request
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    full = {**os.environ, "JUPYTER": str(Path(sys.executable).parent / "jupyter"),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), **(env or {})}
    full.pop("ALEXLIB_LIVE", None)
    with open(log, "w") as out:
        lab = subprocess.Popen(["bash", str(LAB), "--no-browser", "--ServerApp.ip=127.0.0.1",
                                f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                                f"--IdentityProvider.token={token}"],
                               cwd=tmp_path, env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            assert lab.poll() is None, f"Lab exited with {lab.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"Lab did not answer in {LAB_START_TIMEOUT} s:\n{log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        yield base, token, log
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)   # Jupyter shuts down cleanly on SIGTERM
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait(timeout=30)
        assert lab.returncode is not None


# --------------------------------------------------------------------------------------------------
# Two tiers: `make test` runs what is not marked slow (a few minutes on 2 cores, still one crossing of train ->
# record -> report -> a rendered page: tests/test_tier.py); `make test-all` runs everything (.ci/run calls it).
# The slow marker is applied here, by module and by fixture, never by hand one test at a time.
# --------------------------------------------------------------------------------------------------
SLOW_MODULES = {   # what makes each slow, measured on the 2-core machine (2026-12-07)
    "tests/grid/test_command.py": "subprocess grids held at a barrier, then killed or interrupted",
    "tests/grid/test_runner.py": "papermill per run",
    "tests/grid/test_slurm.py": "a real SLURM",
    "tests/grid/test_watchdog.py": "a kernel left to stall",
    "tests/test_notebooks.py": "papermill and nbval",
    "tests/test_pipeline.py": "the whole pipeline to a PDF",
    "tests/lab/test_live.py": "papermill",
    "tests/test_lab.py": "a JupyterLab server",
    "tests/test_browser.py": "JupyterLab in Chromium",
    "tests/test_fashion.py": "training on Debian's Fashion-MNIST",
    "tests/test_decide.py": "a second stage trained end to end",
    "tests/lab/test_explore.py": "grids trained for a study",
    "tests/train/run/test_loop.py": "in-process training, resumed and killed",
    "tests/train/run/test_graphs.py": "the CUDA-graph path trained on the CPU stand-in",
    "tests/train/run/test_bnchecks.py": "BatchNorm runs trained for their checks",
    "tests/train/net/test_signals.py": "runs trained and resumed for their per-layer signals",
    "tests/tools/test_bench.py": "the benchmark end to end",
    "tests/tools/test_gpucheck.py": "the GPU check end to end",
    "tests/tools/test_noise.py": "runs trained under two kernel settings",
}
SLOW_FIXTURES = {"slurm", "lab", "simulated"}   # a daemon, a server, a simulated study of thousands of trials


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix() if REPO in Path(str(item.fspath)).resolve().parents else ""
        if rel in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def simulated():
    """Marks a simulated study of many trials (slow tier) and gives it its random generator, seeded."""
    return np.random.default_rng(20261207)
