#!/usr/bin/env bash
# The prepared device check, the first command a GPU session runs (one call, a few minutes on one H100):
#  1. python -m alexlib.tools.gpucheck: for every norm, a short graphed run of train() against an eager run of
#     the same seed on CIFAR-10-format files, plus a deterministic LRN run; prints "GPU CHECK: PASS" or
#     "GPU CHECK: FAIL (...)" with what failed (see alexlib/tools/gpucheck.py for the limits);
#  2. alexlib.tools.bench for every norm x batch size at 224 px against the report-style loop, plus a timed
#     slice of params/paper.yaml through train().
#  3. a short slice of the report's protocol on CIFAR-10's own images, the JPEG q75 copy (data/cifar10-jpeg.tar.xz:
#     copy ../shared/data/cifar10-jpeg.tar.xz there and carry it, 18 MiB): BN, batch 64, 224 px, the report's
#     network, one epoch of 10,240 images, all 10,000 test images; prints its accuracy and speed.
# Needs only torch, torchvision, numpy, pyyaml and Pillow (no papermill/jupyter on the device).
# Writes JSON and logs to $OUT when set (the device tool), else bench/out/; prints the verdict and the
# compact table last. Exit status: 1 if the graph check failed (the bench still runs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true; } | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" | tee -a "$OUT/gpu.txt"
python3 -m alexlib.tools.gpucheck --epochs "${CHECK_EPOCHS:-2}" --json "$OUT/gpucheck.json" 2>&1 | tee "$OUT/gpucheck.log"
check=${PIPESTATUS[0]}
python3 -m alexlib.tools.bench --device cuda --steps "${STEPS:-50}" --warmup 8 --workers 8 \
  --measure-grid "${GRID_FRACTION:-0.05}" --json "$OUT/bench.json" > "$OUT/bench.log" 2>&1 || { tail -40 "$OUT/bench.log"; exit 1; }
tail -n 12 "$OUT/bench.log"
if python3 -c "from alexlib.train.inputs.datasets import find_cifar10_jpeg; find_cifar10_jpeg('data')" 2>/dev/null; then
  python3 -m alexlib.train --dataset cifar10_jpeg --norm bn --batch-size 64 --epochs 1 --train-size 10240 \
    --test-size 0 --device cuda --out-dir "$OUT/real_image_check" 2>&1 | tail -n 3 | tee "$OUT/real_image_check.log"
else
  echo "REAL-IMAGE CHECK: skipped (the CIFAR-10 JPEG copy is not here: cp ../shared/data/cifar10-jpeg.tar.xz data/ and carry it)"
fi
grep "^GPU CHECK" "$OUT/gpucheck.log" || echo "GPU CHECK: FAIL (no verdict; see $OUT/gpucheck.log)"
exit "$check"
