"""Running one configuration: ``train(config) -> record`` (loop), the model and its step (trainer, with the CUDA
graph's seam in graphs), where it runs (device), its checkpoints (checkpoint), BatchNorm's checks after training
(bnchecks), and how fast a step of one shape runs here (timing: the estimate and the benchmark)."""
