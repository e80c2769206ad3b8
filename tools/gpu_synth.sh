#!/usr/bin/env bash
# Data-free synthesis (DeepInversion) from the EfficientNet-Lite0 teacher, then light C = 8
# students distilled from mixes of natural photos and the synthetic images, in one device
# call. Runs on the lent GPU machine from the repository root with .gpu/whl and .gpu/images
# carried; results (synthesis log and sample sheet, result.json files, exported students,
# logs) go to $OUT. The synthetic images are cached by seed and settings in .gpu/synth
# (bottlefit_ros/training/synthesis.py): a later call with the same settings regenerates
# the same set (targets, noise, shifts, flips; GPU kernels aside).
#
#   SYNTH_BUDGET=180 SYNTH="batch_size=512 low_iterations=200 iterations=60" \
#   MIXES="natural mix synth mix_init" BUDGET=240 tools/gpu_synth.sh
#
# Environment: COUNT (most synthetic images), SYNTH_BUDGET (s of generation), SYNTH
# (SynthesisSettings overrides), REPEAT (copies of each natural photo in a mix: its weight
# against one synthetic image), MIXES (jobs: natural | synth | mix, and X_init: X continued
# from the packaged C = 8 student), BUDGET (s of training for all jobs at once), SPEEDUP
# (gpu_probe.py), EPOCHS ("E1,E2": skip the probe), SET (extra --set overrides for every job), HARD (s after which training
# jobs are stopped).
set -uo pipefail
# shellcheck source=tools/gpu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu_env.sh"
start=$(date +%s)
CFG=config/training/lite0_light.yaml
synth_args=()
for s in ${SYNTH:-}; do synth_args+=(--synth "$s"); done
python3 -m bottlefit_ros.training synthesize --config "$CFG" --out .gpu/synth \
  --count "${COUNT:-16384}" --budget "${SYNTH_BUDGET:-180}" "${synth_args[@]}" 2>&1 \
  | tee "$OUT/synth.log"
folder=$(tail -n 1 "$OUT/synth.log" | python3 -c "import json, sys; print(json.load(sys.stdin)['folder'])") \
  || { echo "synthesis failed"; exit 1; }
echo "synthesis done after $(( $(date +%s) - start )) s: $folder"
python3 - "$folder" "$OUT/synth_sheet.jpg" <<'EOF'
# a contact sheet of the first 48 images (with their target class names) for the docs
import sys
from pathlib import Path
import cv2
import numpy as np
from bottlefit_ros.models import load_labels
names = load_labels(1000)
files = sorted(Path(sys.argv[1]).rglob("*.png"))[:48]
tiles = []
for f in files:
    img = cv2.resize(cv2.imread(str(f)), (128, 128), interpolation=cv2.INTER_AREA)
    label = names[int(f.stem.split("_c")[-1])].split(",")[0][:18]
    cv2.putText(img, label, (2, 124), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1)
    tiles.append(img)
tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 8)
rows = [np.hstack(tiles[i:i + 8]) for i in range(0, len(tiles), 8)]
cv2.imwrite(sys.argv[2], np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
EOF
# the mixes: folders of links (a natural photo REPEAT times against each synthetic image)
python3 - "$folder" "${REPEAT:-4}" <<'EOF'
import sys
from bottlefit_ros.training.synthesis import link_mix
synth, repeat = sys.argv[1], int(sys.argv[2])
for name, sources in {"natural": [(".gpu/images/train", 1)], "synth": [(synth, 1)],
                      "mix": [(".gpu/images/train", repeat), (synth, 1)]}.items():
    print(name, link_mix(f".gpu/mix/{name}", sources), "images")
EOF
MIXES="${MIXES:-natural mix synth mix_init}"
n=$(echo $MIXES | wc -w)
EPOCHS=${EPOCHS:-$(python3 tools/gpu_probe.py --config "$CFG" --jobs "$n" --budget "${BUDGET:-240}" \
         --speedup "${SPEEDUP:-1.4}" 2> "$OUT/probe.log" | tail -n 1)}
echo "probe: $(tail -n 2 "$OUT/probe.log" | tr '\n' ' ') -> stage1,stage2 epochs $EPOCHS"
E1="${EPOCHS%,*}"; E2="${EPOCHS#*,}"
left=$(( ${HARD:-560} - ($(date +%s) - start) ))
mkdir -p runs/synth
for job in $MIXES; do
  sets=(--set threads=2 --set progress=off --set model.bottleneck_channels=8
        --set stage1.epochs="$E1" --set stage2.epochs="$E2")
  case "$job" in
    *_init) sets+=(--set "data.root=.gpu/mix/${job%_init}" --set stage1.lr=0.001
                   --set model.student_init=bottlefit_ros/models/data/efficientnet_lite0_light_c8.pt) ;;
    *) sets+=(--set "data.root=.gpu/mix/$job") ;;
  esac
  for s in ${SET:-}; do sets+=(--set "$s"); done
  timeout "$left" python3 -m bottlefit_ros.training train bottlefit --config "$CFG" \
    --out "runs/synth/$job" "${sets[@]}" > "runs/synth/$job.log" 2>&1 &
done
wait
echo "training done after $(( $(date +%s) - start )) s"
mkdir -p runs/export
for job in $MIXES; do
  python3 -m bottlefit_ros.training export "runs/synth/$job" --out "runs/export/lite0_light_c8_$job.pt" \
    || continue
  tail -n 3 "runs/synth/$job.log"
done
python3 - "$folder" > runs/synth/summary.json <<'EOF'
import json, sys
from pathlib import Path
out = {"synthesis": json.loads(Path(sys.argv[1], "settings.json").read_text())}
for p in sorted(Path("runs/synth").glob("*/result.json")):
    out[p.parent.name] = [{k: r.get(k) for k in ("method", "agreement_top1", "bytes_mean",
                           "jpeg_quality", "top1")} for r in json.loads(p.read_text())["rows"]]
print(json.dumps(out, indent=1))
EOF
cat runs/synth/summary.json
cp "$folder"/shard_*.json "$folder/settings.json" runs/synth/ 2>/dev/null
tar czf "$OUT/results.tgz" --exclude='*.ckpt' --exclude='*.pt' runs/synth
tar czf "$OUT/students.tgz" runs/export
ls -la "$OUT"
echo "all done after $(( $(date +%s) - start )) s"
