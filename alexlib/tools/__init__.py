"""Measuring tools beside the pipeline: the training-speed benchmark (python -m alexlib.tools.bench) and the
first check on a GPU (python -m alexlib.tools.gpucheck, run by bench/gpu_check.sh)."""
