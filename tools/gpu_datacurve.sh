#!/usr/bin/env bash
# Learning curve of the light EfficientNet-Lite0 student (issue 7): light C = 8 students
# trained from scratch with the packaged recipe (config/training/lite0_light.yaml) on nested
# subsets of the training images, all at once, the same optimisation steps for each. Runs on
# the lent GPU machine from the repository root with .gpu/whl and .gpu/images carried;
# results (result.json and metrics of each run, the subsets, the ring evaluations, float16
# and float32 exports, logs) go to $OUT.
#
#   FRACTIONS="8 4 2 1" EPOCHS=20,9 HARD=480 tools/gpu_datacurve.sh
#   FRACTIONS="8 1" JOBS="8:8:40,18 8:16:20,9" HARD=480 tools/gpu_datacurve.sh
#
# Subset 1/k: every k-th training photo (sorted by name) and every composite whose background
# is one of those photos (docs/training-data-manifest.csv names it), so no image of a subset
# shows a photo from outside it; the subsets are nested when each k divides the larger ones.
# "Rings" are the differences of consecutive subsets; every student is evaluated on every ring
# (benchmarks/student_eval.py on the GPU, float32 exports, 14 views per image), which gives
# each student's agreement on its own training images (the fit) and on the unseen rest.
# Environment: FRACTIONS (the k, largest first), EPOCHS ("E1,E2"; or BUDGET + SPEEDUP to size
# them with tools/gpu_probe.py), C (bottleneck width, 8), JOBS (instead: "k:C:E1,E2[:SETS] ..." for
# jobs of their own width and epochs, each k one of FRACTIONS; SETS: "+"-joined --set overrides of
# that job alone, e.g. 8:8:20,9:model.encoder_width=288), HARD (s after the start at which
# training is stopped), SET (extra --set overrides for every job), EVAL_DEVICE (cuda).
set -uo pipefail
# shellcheck source=tools/gpu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu_env.sh"
start=$(date +%s)
CFG=config/training/lite0_light.yaml
FRACTIONS="${FRACTIONS:-8 4 2 1}"
C="${C:-8}"
DC=runs/datacurve
mkdir -p "$DC" runs/export
python3 - "$DC/subsets.json" $FRACTIONS <<'EOF'
# nested subsets .gpu/dc/s<k> and rings .gpu/dc/r<k> (folders of links) + their file lists
import csv, json, re, sys
from pathlib import Path
out, ks = sys.argv[1], sorted({int(k) for k in sys.argv[2:]}, reverse=True)
train = Path(".gpu/images/train").resolve()
files = sorted(p.name for p in train.glob("*.jpg"))
background = {}
for r in csv.DictReader(open("docs/training-data-manifest.csv")):
    m = re.search(r"background: the named training photo (\S+)", r["licence"])
    if r["split"] == "train" and m:
        stamp = r["file"].split("/stamps/", 1)[1].rsplit(".", 1)[0].replace("/", "_")
        background[f"{r['package']}__{stamp}.jpg"] = m.group(1)
photos = [f for f in files if f not in background]
subsets, rings, prev = {}, {}, set()
for k in ks:
    keep = set(photos[::k])
    subsets[k] = sorted(keep | {f for f, bg in background.items() if bg in keep and f in files})
    rings[k] = sorted(set(subsets[k]) - prev)
    assert prev <= set(subsets[k]), "subsets not nested: each k must divide the larger ones"
    prev = set(subsets[k])
for kind, sets in (("s", subsets), ("r", rings)):
    for k, names in sets.items():
        d = Path(f".gpu/dc/{kind}{k}")
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for n in names:
            (d / n).symlink_to(train / n)
json.dump({"photos": len(photos), "composites": len(background),
           "subsets": {k: {"images": len(v), "photos": sum(f in photos for f in v), "files": v}
                       for k, v in subsets.items()},
           "rings": {k: len(v) for k, v in rings.items()}}, open(out, "w"), indent=1)
for k in ks:
    print(f"1/{k}: {len(subsets[k])} images ({sum(f in photos for f in subsets[k])} photos); "
          f"ring {len(rings[k])}")
EOF
# jobs "k:C:E1,E2": every subset at width C and the same epochs, unless JOBS names them
if [ -z "${JOBS:-}" ]; then
  n=$(echo $FRACTIONS | wc -w)
  EPOCHS=${EPOCHS:-$(python3 tools/gpu_probe.py --config "$CFG" --jobs "$n" --budget "${BUDGET:-370}" \
           --speedup "${SPEEDUP:-1.45}" 2> "$OUT/probe.log" | tail -n 1)}
  JOBS=$(for k in $FRACTIONS; do printf '%s ' "$k:$C:$EPOCHS"; done)
fi
echo "jobs (k:C:stage1,stage2 epochs of 100 batches of 128): $JOBS"
left=$(( ${HARD:-480} - ($(date +%s) - start) ))
names=()
for job in $JOBS; do
  IFS=: read -r k c e own <<< "$job"
  name="s${k}_c${c}_e${e/,/_}"
  [ -n "$own" ] && name="${name}_$(echo "$own" | tr -c 'A-Za-z0-9\n' '_' | sed 's/model_//g')"
  names+=("$name")
  sets=(--set threads=2 --set progress=off --set model.bottleneck_channels="$c"
        --set data.root=.gpu/dc/s$k --set stage1.epochs="${e%,*}" --set stage2.epochs="${e#*,}")
  for s in ${SET:-} ${own//+/ }; do sets+=(--set "$s"); done
  timeout "$left" python3 -m bottlefit_ros.training train bottlefit --config "$CFG" \
    --out "$DC/$name" "${sets[@]}" > "$DC/$name.log" 2>&1 &
done
wait
echo "training done after $(( $(date +%s) - start )) s"
students=()
for name in "${names[@]}"; do
  c="${name#*_c}"; c="${c%%_*}"
  ( python3 -m bottlefit_ros.training export "$DC/$name" --out "runs/export/lite0_dc_$name.pt" &&
    python3 -m bottlefit_ros.training export "$DC/$name" --out "runs/export/lite0_dc_${name}_fp32.pt" \
      --dtype float32 ) > "$DC/export_$name.log" 2>&1 &
  students+=(--student "light:$c=runs/export/lite0_dc_${name}_fp32.pt")
done
wait
# every student on every ring of training images (GPU, float32 exports, no JPEG, no timings)
for k in $FRACTIONS; do
  python3 benchmarks/student_eval.py --photos ".gpu/dc/r$k" --device "${EVAL_DEVICE:-cuda}" --no-timing \
    --qualities "" "${students[@]}" --json "$DC/ring_r$k.json" > "$DC/ring_r$k.log" 2>&1 &
done
wait
echo "evaluation done after $(( $(date +%s) - start )) s"
python3 - "$DC" "$FRACTIONS" "${names[@]}" <<'EOF'
# held-out (in-run, float32) and fit / unseen (rings) for each job: a short table
import json, sys
from pathlib import Path
dc, ks, names = Path(sys.argv[1]), [int(k) for k in sys.argv[2].split()], sys.argv[3:]
sub = json.loads((dc / "subsets.json").read_text())["subsets"]
rings = {k: json.loads((dc / f"ring_r{k}.json").read_text()) for k in ks
         if (dc / f"ring_r{k}.json").exists()}
print("job               images  stage1  2-stage  bytes   fit(own)  unseen-train")
for name in names:
    k = int(name.split("_")[0][1:])
    res = dc / name / "result.json"
    rows = {r["method"]: r for r in json.loads(res.read_text())["rows"]} if res.exists() else {}
    two, one = rows.get("bottlefit", {}), rows.get("bottlefit_stage1", {})
    agree = {}
    for j, ring in rings.items():
        row = next((r for r in ring["rows"] if f"lite0_dc_{name}_fp32" in r["name"]), None)
        if row:
            agree[j] = (row["agreement_top1"], ring["views"])
    def mean(js):
        w = [agree[j] for j in js if j in agree]
        return sum(a * v for a, v in w) / sum(v for _, v in w) if w else float("nan")
    own, rest = mean([j for j in ks if j >= k]), mean([j for j in ks if j < k])
    print(f"{name:17s} {sub[str(k)]['images']:6d}  {one.get('agreement_top1', float('nan')):.3f}   "
          f"{two.get('agreement_top1', float('nan')):.3f}   {two.get('bytes_mean', 0):6.0f}  "
          f"{own:.3f}     {rest:.3f}")
EOF
tar czf "$OUT/results.tgz" --exclude='*.ckpt' --exclude='*.pt' "$DC"
tar czf "$OUT/students.tgz" runs/export/lite0_dc_*
ls -la "$OUT"
echo "all done after $(( $(date +%s) - start )) s"
