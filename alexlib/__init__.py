"""alexlib: the report's AlexNet with five normalization variants, datasets held on the device, and a fast,
resumable training loop. Pipeline: params/*.yaml -> alexlib.grid -> notebooks/run.ipynb -> alexlib.train
-> runs/<grid>/<run>/metrics.json -> notebooks/summary.ipynb -> alexlib.report -> reports/."""
from .config import DATASETS, NORMS, ConfigError, RunConfig
from .model import AlexNet

__all__ = ["AlexNet", "ConfigError", "DATASETS", "NORMS", "RunConfig", "train"]


def train(cfg):
    """See alexlib.train.train (imported lazily so ``python -m alexlib.train`` runs cleanly)."""
    from .train import train as _train
    return _train(cfg)
