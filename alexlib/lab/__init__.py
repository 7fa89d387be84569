"""The notebooks' helpers, for JupyterLab: run (notebooks/run.ipynb's parameters as a checked configuration, its
result as a table and a plot), live (that run's cost before it starts and its live view while it trains) and
explore (a study's runs and epochs as tables, chosen runs' curves, a grid's state). On top of the pipeline: they
may read train/, grid/ and report/; nothing but the notebooks imports them."""
