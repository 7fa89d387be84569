"""Where a run runs and what it ran on: the device and precision a configuration resolves to here, the
process-wide switches a run sets and restores, and the environment recorded in every metrics.json.
"""
from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

import torch

from ...paths import REPO
from ..config import ConfigError, RunConfig

CUBLAS_DETERMINISTIC = ":4096:8"
GIT_TIMEOUT = 5  # seconds for each git call (a hung or slow git never holds up a run)


def resolve_device(cfg: RunConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={cfg.device!r} but this machine has no usable CUDA device; use auto or cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device={cfg.device!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev


def resolve_precision(cfg: RunConfig, dev: torch.device) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    return "bf16" if dev.type == "cuda" else "fp32"


def resolved_precision_here(cfg: RunConfig) -> str | None:
    """What ``cfg.precision`` means on this machine, or None when its device is not here."""
    try:
        return resolve_precision(cfg, resolve_device(cfg))
    except ConfigError:
        return None


@contextlib.contextmanager
def run_context(cfg: RunConfig, dev: torch.device):
    """The process-wide switches a run needs, set for the run and restored after it: the current CUDA
    device (graphs capture on the current device's streams), deterministic algorithms, cuDNN autotuning,
    the CPU thread count."""
    cudnn = torch.backends.cudnn
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             cudnn.benchmark, cudnn.deterministic, torch.get_num_threads())
    try:
        if cfg.deterministic and dev.type == "cuda":
            # cuBLAS reads this once, when CUDA starts in the process: too late afterwards
            if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (CUBLAS_DETERMINISTIC, ":16:8"):
                if torch.cuda.is_initialized():
                    raise ConfigError(
                        "deterministic=True on CUDA needs CUBLAS_WORKSPACE_CONFIG=:4096:8 before CUDA starts in "
                        "this process, and CUDA has already started; run it in a new process (the grid and the "
                        "notebook do), or export CUBLAS_WORKSPACE_CONFIG=:4096:8 first")
                os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.use_deterministic_algorithms(cfg.deterministic)
        cudnn.deterministic = cfg.deterministic
        cudnn.benchmark = dev.type == "cuda" and not cfg.deterministic
        with torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext():
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]
        if torch.get_num_threads() != saved[4]:
            torch.set_num_threads(saved[4])


# Environment variables that choose the CPU kernels (and so the order of a float sum): recorded when set
KERNEL_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS",
               "MKL_NUM_THREADS")


def environment(dev: torch.device, precision: str, cfg: RunConfig) -> dict[str, Any]:
    """What a run ran on and with: the device, the code (git commit, alexlib's version), the versions of the
    libraries that compute its numbers, and what can move them on another machine: the CPU's instruction set as
    torch's kernels use it, the BLAS and oneDNN builds, the kernel-choosing environment, and on CUDA the GPU,
    CUDA and cuDNN versions."""
    import numpy
    import torchvision
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name()
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version(),
            "device": str(dev), "device_name": name, "precision": precision,
            "cuda_graph": False,  # true once a graph has been captured and its first replay checked
            "deterministic": cfg.deterministic, "cpu_threads": torch.get_num_threads(), "host": platform.node(),
            "alexlib": alexlib_version(), **git_state(), "numpy": numpy.__version__,
            "scikit-learn": _version("scikit-learn"), "scipy": _version("scipy"), **kernels(dev),
            **({"slurm": slurm} if (slurm := slurm_job()) else {})}


def kernels(dev: torch.device) -> dict[str, Any]:
    """What chooses the kernels a run's numbers come from (another CPU or GPU sums floats in another order)."""
    build = torch.__config__.show()
    out = {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "blas": _build_line(build, r"(Intel\(R\) oneAPI Math Kernel Library Version [^\s]+|OpenBLAS[^\n]*)"),
           "onednn": _build_line(build, r"(?:Intel\(R\) MKL-DNN|oneDNN) (v[\d.]+)"),
           "kernel_env": {k: os.environ[k] for k in KERNEL_VARS if k in os.environ}}
    if dev.type == "cuda":
        out.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   gpu_capability=".".join(map(str, torch.cuda.get_device_capability(dev))))
    return out


def _build_line(text: str, pattern: str) -> str | None:
    import re
    m = re.search(pattern, text)
    return m.group(1).strip() if m else None


def _version(dist: str) -> str | None:
    """An installed distribution's version, without importing it (None when it is not installed)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def alexlib_version() -> str | None:
    """The installed alexlib's version, else the one in the checkout's pyproject.toml (run from a clone
    without installing it), else None."""
    installed = _version("alexlib")
    if installed is not None:
        return installed
    try:
        import tomllib
        with open(REPO / "pyproject.toml", "rb") as f:
            return tomllib.load(f)["project"]["version"]
    except (OSError, KeyError, ValueError, ImportError):
        return None


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", "-c", f"safe.directory={REPO}", "-C", str(REPO), *args], capture_output=True,
                           text=True, timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):  # no git, or too slow
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The commit of the checkout alexlib runs from, and whether its tracked files differ from it
    (``git_dirty``; untracked files do not count, as in ``git describe --dirty``). None for both outside
    a checkout (an installed copy) or without git: a run never fails for want of git."""
    commit = _git("rev-parse", "HEAD") if (REPO / ".git").exists() else None
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else status != ""}


def slurm_job() -> dict[str, str]:
    """The SLURM job this process runs in ({} outside SLURM), so a record says where it ran. ``job_id`` is
    what squeue and sacct show (``<array job>_<index>`` for an array task)."""
    e = os.environ
    if "SLURM_JOB_ID" not in e:
        return {}
    array = "SLURM_ARRAY_TASK_ID" in e and "SLURM_ARRAY_JOB_ID" in e
    info = {"job_id": f"{e['SLURM_ARRAY_JOB_ID']}_{e['SLURM_ARRAY_TASK_ID']}" if array else e["SLURM_JOB_ID"],
            "slurm_job_id": e["SLURM_JOB_ID"], "array_index": e.get("SLURM_ARRAY_TASK_ID"),
            "node": e.get("SLURMD_NODENAME"), "partition": e.get("SLURM_JOB_PARTITION"),
            "restarts": e.get("SLURM_RESTART_COUNT", "0"), "cuda_visible_devices": e.get("CUDA_VISIBLE_DEVICES")}
    return {k: v for k, v in info.items() if v is not None}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"CPU {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
