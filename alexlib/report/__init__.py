"""From run records to a report, in three layers that import only downwards:

- ``inference/``: the tests (stats), the two-look sequential test (looks), power, verdicts part by part, and the planner
  of seeds on demand. Plain numbers in and out: no pandas, no plotting.
- ``domain/``: the study on its runs table: the records read into one table (runs), the numbers per cell
  (cells), flags and convergence (learning), the report's claims (claims), every comparison (analysis) and the
  rerun check (against).
- ``render/``: prose (texts, findings), page 1 (front), the small-batch section (why), tables, figures, and the
  report folder's files with the HTML/PDF export (export).

``study.Study`` is the facade the summary notebook calls. ``python -m alexlib.report runs/<grid> [--out
reports/<grid>]`` builds a report. Reads records (alexlib.train.record) and never the grid: the two meet only
through metrics.json.
"""
