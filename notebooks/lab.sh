#!/usr/bin/env bash
# make lab: JupyterLab with the repository root as its root, so notebooks/, params/, runs/ and reports/
# can all be browsed; --allow-root only when run as root (Jupyter refuses root without it). Arguments
# go on to `jupyter lab` (tests/test_lab.py starts it so: --no-browser, a port, a token).
# JUPYTER: the jupyter command to run (make lab passes .venv's).
set -euo pipefail
cd "$(dirname "$0")/.."
args=(--ServerApp.root_dir="$PWD")
if [ "$(id -u)" = 0 ]; then
  args+=(--allow-root)
fi
exec "${JUPYTER:-.venv/bin/jupyter}" lab "${args[@]}" "$@"
