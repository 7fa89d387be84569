#!/usr/bin/env bash
# The prepared device check (one call, a few minutes on one H100): alexlib.bench for every norm x batch
# size at 224 px against the report-style loop, plus a timed slice of params/paper.yaml through train().
# Needs only torch, torchvision, numpy, pyyaml and scikit-learn (no papermill/jupyter on the device).
# Writes JSON and logs to $OUT when set (the device tool), else bench/out/; prints the compact table last.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true; } | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" | tee -a "$OUT/gpu.txt"
python3 -m alexlib.bench --device cuda --steps "${STEPS:-50}" --warmup 8 --workers 8 \
  --measure-grid "${GRID_FRACTION:-0.05}" --json "$OUT/bench.json" > "$OUT/bench.log" 2>&1 || { tail -40 "$OUT/bench.log"; exit 1; }
tail -n 12 "$OUT/bench.log"
