"""alexlib: the report's AlexNet with five normalization variants, trained and compared across batch sizes.

The package's folders are the pipeline's three commands, which meet only through a run's record
(metrics.json):

    params/*.yaml -> alexlib.grid (many runs) -> notebooks/run.ipynb -> alexlib.train (one run)
    -> runs/<grid>/<run>/metrics.json -> notebooks/summary.ipynb -> alexlib.report -> reports/<grid>/

``alexlib.pipeline`` runs the three in order (``alexlib.decide`` plans its second stage); ``alexlib.lab`` holds
the notebooks' helpers (the run notebook's, its live view, a study explored); ``alexlib.tools`` holds the benchmark
and the GPU check; vocab, paths, io, stages and notebooks are the small modules every folder shares. Train one
configuration with
``from alexlib.train import train; train({"norm": "gn", "batch_size": 32})``.
"""
