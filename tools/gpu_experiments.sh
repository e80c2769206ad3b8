#!/usr/bin/env bash
# The GPU experiments of docs/training-results.md, run on the lent GPU machine (Python 3.12,
# its own torch/torchvision, no ROS, no network) from the repository root, with the
# ignored folders .gpu/whl (wheels), .gpu/fmnist (Debian's Fashion-MNIST idx files) and
# .gpu/images (tools/gpu_collect_images.py) carried along. Results go to $OUT.
#
#   tools/gpu_experiments.sh fm:resnet18 lite0     # several grids at once on the one GPU
#   tools/gpu_experiments.sh fm:densenet121
#
# Each argument is a grid: fm:<teacher> (config/training/grid_fashion_mnist.yaml),
# lite0 (config/training/grid_lite0.yaml), or train:CONFIG (one bottlefit run of
# config/training/CONFIG.yaml, e.g. train:lite0_continue). Environment: DEADLINE (s, no job starts
# after it), HARD (s, running jobs stopped), FM_JOBS / LITE0_JOBS (jobs at once),
# FM_WIDTHS / LITE0_WIDTHS (comma-separated bottleneck widths, default: the grid's),
# FM_SET / LITE0_SET (extra --set overrides, space-separated).
set -uo pipefail
# shellcheck source=tools/gpu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu_env.sh"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c "import sys, torch, torchvision; print(sys.version.split()[0], torch.__version__, torchvision.__version__)"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
DEADLINE="${DEADLINE:-420}"
HARD="${HARD:-540}"
pids=()
for grid in "$@"; do
  case "$grid" in
    fm:*)
      teacher="${grid#fm:}"
      sets=(--set data.root=.gpu/fmnist --set threads=2)
      for s in ${FM_SET:-}; do sets+=(--set "$s"); done
      python3 -m bottlefit_ros.training grid config/training/grid_fashion_mnist.yaml \
        --out runs/fm --only "$teacher" ${FM_WIDTHS:+--widths "$FM_WIDTHS"} --jobs "${FM_JOBS:-5}" --deadline "$DEADLINE" \
        --hard-deadline "$HARD" "${sets[@]}" > "$OUT/grid-fm-$teacher.log" 2>&1 &
      pids+=($!) ;;
    lite0)
      sets=(--set threads=2)
      for s in ${LITE0_SET:-}; do sets+=(--set "$s"); done
      python3 -m bottlefit_ros.training grid config/training/grid_lite0.yaml \
        --out runs/lite0 ${LITE0_WIDTHS:+--widths "$LITE0_WIDTHS"} --jobs "${LITE0_JOBS:-3}" --deadline "$DEADLINE" \
        --hard-deadline "$HARD" "${sets[@]}" > "$OUT/grid-lite0.log" 2>&1 &
      pids+=($!) ;;
    train:*)
      # train:CONFIG: one bottlefit run of config/training/CONFIG.yaml (e.g. lite0_continue)
      name="${grid#train:}"
      mkdir -p "runs/$name"
      python3 -m bottlefit_ros.training train bottlefit --config "config/training/$name.yaml" \
        --out "runs/$name/efficientnet_lite0/bottlefit-c12" --set progress=off \
        > "$OUT/grid-$name.log" 2>&1 &
      pids+=($!) ;;
    *) echo "unknown grid $grid" >&2; exit 2 ;;
  esac
done
for p in "${pids[@]}"; do wait "$p"; done
# Trained bottlenecks of the Lite0 students, as packaged files (float16 and float32).
for run in runs/*/efficientnet_lite0/bottlefit-c*; do
  [ -f "$run/stage2.pt" ] || continue
  c="${run##*-c}"
  tag="$(basename "$(dirname "$(dirname "$run")")")"
  python3 -m bottlefit_ros.training export "$run" --out "runs/export/${tag}_c${c}_fp16.pt"
  python3 -m bottlefit_ros.training export "$run" --out "runs/export/${tag}_c${c}_fp32.pt" --dtype float32
done
tar czf "$OUT/results.tgz" --exclude='*.ckpt' --exclude='*.pt' runs
[ -d runs/export ] && tar czf "$OUT/students.tgz" runs/export
tail -n 3 "$OUT"/grid-*.log
ls -la "$OUT"
