"""From run records to a report: the runs table (runs), cells, the statistics (stats, power), the claims'
verdicts (verdicts, claims), the analysis and its findings, prose, tables and figures, the facade the summary
notebook uses (study), the report folder's files (outputs) and the HTML/PDF export.

    python -m alexlib.report runs/<grid> [--out reports/<grid>]

Reads records (alexlib.train.record) and never the grid: the two meet only through metrics.json.
"""
