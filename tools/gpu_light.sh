#!/usr/bin/env bash
# The light-encoder EfficientNet-Lite0 students (config/training/grid_lite0_light.yaml), sized
# to the time of one device call: a short probe measures head-distillation throughput, the
# epochs of every job are set from it, the grid runs, each student is exported. Runs on the
# lent GPU machine from the repository root with .gpu/whl and .gpu/images carried; results
# (result.json files, exported students, logs) go to $OUT.
#
#   BUDGET=400 WIDTHS=3,4,6,8 JOBS=5 tools/gpu_light.sh
#
# Environment: BUDGET (s of training per job, all jobs at once), WIDTHS, JOBS, SPEEDUP (how
# much faster JOBS processes run together than one alone; default 2), INIT (folder of
# exported students lite0_light_c<C>_fp32.pt to start from), SET (extra --set overrides).
set -uo pipefail
# shellcheck source=tools/gpu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu_env.sh"
WIDTHS="${WIDTHS:-3,4,6,8}"
JOBS="${JOBS:-5}"
n=$(echo "$WIDTHS" | tr ',' '\n' | wc -l)
# images/s of one head-distillation process -> epochs (100 batches of 128) per job
EPOCHS=$(python3 tools/gpu_probe.py --jobs "$n" --budget "${BUDGET:-400}" --speedup "${SPEEDUP:-2}" \
         2> "$OUT/probe.log" | tail -n 1)
echo "probe: $(cat "$OUT/probe.log" | tail -n 2 | tr '\n' ' ') -> stage1,stage2 epochs $EPOCHS"
E1="${EPOCHS%,*}"; E2="${EPOCHS#*,}"
sets=(--set threads=2 --set stage1.epochs="$E1" --set stage2.epochs="$E2")
for s in ${SET:-}; do sets+=(--set "$s"); done
if [ -n "${INIT:-}" ]; then
  # continue each width from its exported student (a separate grid per width)
  for c in ${WIDTHS//,/ }; do
    python3 -m bottlefit_ros.training grid config/training/grid_lite0_light.yaml \
      --out "runs/lite0_light_c$c" --widths "$c" --jobs 1 "${sets[@]}" \
      --set "model.student_init=$INIT/lite0_light_c${c}_fp32.pt" \
      --hard-deadline "${HARD:-540}" > "$OUT/grid-c$c.log" 2>&1 &
  done
  wait
else
  python3 -m bottlefit_ros.training grid config/training/grid_lite0_light.yaml --out runs/lite0_light \
    --widths "$WIDTHS" --jobs "$JOBS" --hard-deadline "${HARD:-540}" "${sets[@]}" \
    > "$OUT/grid-lite0_light.log" 2>&1
fi
mkdir -p runs/export
for run in runs/lite0_light*/efficientnet_lite0/bottlefit-c*; do
  c="${run##*-c}"
  python3 -m bottlefit_ros.training export "$run" --out "runs/export/lite0_light_c${c}_fp16.pt" || continue
  python3 -m bottlefit_ros.training export "$run" --out "runs/export/lite0_light_c${c}_fp32.pt" --dtype float32
done
tar czf "$OUT/results.tgz" --exclude='*.ckpt' --exclude='*.pt' runs
tar czf "$OUT/students.tgz" runs/export
tail -n 4 "$OUT"/grid-*.log
grep -h '"agreement_top1"\|"bytes_mean"\|"method"' runs/lite0_light*/*/*/result.json | head -60
ls -la "$OUT"
