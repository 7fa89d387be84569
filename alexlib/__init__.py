"""alexlib: the report's AlexNet with five normalization variants, datasets held on the device, and a fast,
resumable training loop. Pipeline: params/*.yaml -> alexlib.grid -> notebooks/run.ipynb -> alexlib.train
-> runs/<grid>/<run>/metrics.json -> notebooks/summary.ipynb -> alexlib.report -> reports/.

Train one configuration with ``from alexlib.train import train; train({"norm": "gn", "batch_size": 32})``.
"""
from .config import ConfigError, RunConfig
from .vocab import DATASETS, NORMS
from .model import AlexNet

__all__ = ["AlexNet", "ConfigError", "DATASETS", "NORMS", "RunConfig"]
