#!/usr/bin/env bash
# Fashion-MNIST at the authors' epochs with three seeds (issue 7 item 5), and the edge batching
# benchmark (issue 10 item 5), on the lent GPU machine; then the mean +- std table here.
#
#   tools/gpu_fmnist.sh run                 # on the GPU machine, repository root, carrying
#                                           # .gpu/whl and .gpu/fmnist; results go to $OUT
#   tools/gpu_fmnist.sh summary DIR... [--md FILE] [--csv FILE] [--plot PNG]   # here, CPU
#
# run: one grid process per seed (config/training/grid_fashion_mnist_seeds.yaml, teachers
# resnet18_s<seed>), all at once on the one GPU. Environment: SEEDS ("0 1 2"), JOBS (jobs at
# once per seed, 4), WIDTHS (default: the grid's), DEADLINE / HARD (s after the grids start:
# no job starts after DEADLINE, running ones are stopped at HARD), RUNS (runs/fm_seeds),
# SET (extra --set overrides, space-separated), BENCH (arguments of
# benchmarks/edge_batching.py: when set, it runs first, alone on the GPU).
# summary: every result.json under DIR/<teacher>_s<seed>/, grouped by method and width over
# the seeds: mean +- sample standard deviation; each student's drop is taken against its own
# seed's teacher.
set -uo pipefail
cmd="${1:-}"
shift || true
case "$cmd" in
run)
  # shellcheck source=tools/gpu_env.sh
  source "$(dirname "${BASH_SOURCE[0]}")/gpu_env.sh"
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    nproc
    python3 -c "import sys, torch, torchvision; print(sys.version.split()[0], torch.__version__, torchvision.__version__)"
  } > "$OUT/machine.txt" 2>&1
  cat "$OUT/machine.txt"
  if [ -n "${BENCH:-}" ]; then
    t0=$SECONDS
    # shellcheck disable=SC2086
    python3 benchmarks/edge_batching.py $BENCH --json "$OUT/edge_batching.json" \
      > "$OUT/edge_batching.txt" 2>&1
    echo "[edge_batching: rc $?, $((SECONDS - t0)) s]"
    cat "$OUT/edge_batching.txt"
  fi
  RUNS="${RUNS:-runs/fm_seeds}"
  sets=(--set data.root=.gpu/fmnist --set threads=2)
  for s in ${SET:-}; do sets+=(--set "$s"); done
  pids=()
  for seed in ${SEEDS:-0 1 2}; do
    python3 -m bottlefit_ros.training grid config/training/grid_fashion_mnist_seeds.yaml \
      --out "$RUNS" --only "resnet18_s$seed" ${WIDTHS:+--widths "$WIDTHS"} --jobs "${JOBS:-4}" \
      --deadline "${DEADLINE:-300}" --hard-deadline "${HARD:-400}" "${sets[@]}" \
      > "$OUT/grid-s$seed.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  tar czf "$OUT/fm_results.tgz" --exclude='*.ckpt' --exclude='*.pt' "$RUNS"
  tail -n 12 "$OUT"/grid-s*.log
  # epoch times, to size the next call: stage, epochs, median s per epoch, images/s
  python3 - "$RUNS" <<'EOF'
import json, statistics, sys
from pathlib import Path
for m in sorted(Path(sys.argv[1]).rglob("metrics.jsonl")):
    rows = [json.loads(l) for l in m.read_text().splitlines() if l.strip()]
    for stage in dict.fromkeys(r["stage"] for r in rows):
        s = [r for r in rows if r["stage"] == stage]
        print(f"{m.parent.relative_to(sys.argv[1])} {stage}: {len(s)} ep, "
              f"{statistics.median(r['seconds'] for r in s):.1f} s/ep, "
              f"{statistics.median(r['images_per_s'] for r in s):.0f} img/s, "
              f"eval {s[-1].get('eval_top1', float('nan')):.4f}")
EOF
  ls -la "$OUT"
  ;;
summary)
  exec python3 - "$@" <<'EOF'
"""Mean +- std over seeds of the Fashion-MNIST grid's result.json rows."""
import argparse, csv, json, math, re, statistics
from collections import defaultdict
from pathlib import Path

p = argparse.ArgumentParser(prog="gpu_fmnist.sh summary")
p.add_argument("dirs", nargs="+")
p.add_argument("--md", default="")
p.add_argument("--csv", default="")
p.add_argument("--plot", default="")
a = p.parse_args()

LABEL = {"teacher": "teacher (whole model, local)", "natural_q8": "natural split, 8-bit",
         "bottlefit": "BottleFit 2-stage", "bottlefit_stage1": "BottleFit stage 1 only",
         "naive": "naive (CE end to end)", "jpeg_offload": "JPEG offload, BottleFit's bytes"}
ORDER = list(LABEL)
rows = []
for d in a.dirs:
    for path in sorted(Path(d).rglob("result.json")):
        seed_dir = path.parent.parent.name
        m = re.fullmatch(r"(.+)_s(\d+)", seed_dir)
        if not m:
            continue
        for r in json.loads(path.read_text())["rows"]:
            if r["method"] == "jpeg_offload" and r.get("matched_to") != "bottlefit":
                continue
            rows.append({**r, "teacher_run": f"{d}/{seed_dir}", "seed": int(m.group(2))})

# each seed's teacher accuracy (the teacher row of its own grid), for the drops
teacher_acc = {r["teacher_run"]: r["top1"] for r in rows if r["method"] == "teacher"}
groups = defaultdict(list)
for r in rows:
    groups[(r["method"], r.get("bottleneck_channels"))].append(r)


def ms(values, scale=100.0, digits=2):
    v = [scale * x for x in values if x is not None and not math.isnan(x)]
    if not v:
        return "", None, None
    mean = statistics.fmean(v)
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    text = f"{mean:.{digits}f} ± {sd:.{digits}f}" if len(v) > 1 else f"{mean:.{digits}f}"
    return text, mean, sd


head = ["method", "C", "seeds", "top-1 %", "Δ pts vs own teacher", "agree. %", "bytes/image",
        "saving vs JPEG q95", "JPEG q", "claim (≥ 77 %, ≤ 0.6)"]
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
table = []


def key(k):
    m, c = k
    return (0 if m in ("teacher", "natural_q8") else 1, c or 0, ORDER.index(m) if m in ORDER else 9)


for k in sorted(groups, key=key):
    method, c = k
    g = groups[k]
    acc, acc_m, acc_sd = ms([r["top1"] for r in g])
    drops = [r["top1"] - teacher_acc[r["teacher_run"]] for r in g
             if r["method"] != "teacher" and r["teacher_run"] in teacher_acc]
    drop, drop_m, drop_sd = ms(drops)
    agree, _, _ = ms([r.get("agreement_top1") for r in g], digits=1)
    nbytes = [r["bytes_mean"] for r in g if r.get("bytes_mean") is not None]
    saving = [r["saving_vs_jpeg95"] for r in g if r.get("saving_vs_jpeg95") is not None]
    sav_m = statistics.fmean(saving) if saving else None
    qs = sorted({r["jpeg_quality"] for r in g if r.get("jpeg_quality") is not None})
    claim = ""
    if method in ("bottlefit", "bottlefit_stage1", "naive") and sav_m is not None:
        claim = "yes" if (sav_m >= 0.77 and drop_m is not None and -drop_m <= 0.6) else "no"
    lines.append("| " + " | ".join([
        LABEL.get(method, method), "" if c is None else str(c), str(len(g)), acc,
        drop if method != "teacher" else "", agree,
        f"{statistics.fmean(nbytes):,.1f}" if nbytes else "",
        f"{100 * sav_m:.1f} %" if sav_m is not None else "",
        ",".join(f"q{q}" for q in qs), claim]) + " |")
    table.append({"method": method, "C": c, "seeds": len(g), "top1_mean": acc_m, "top1_std": acc_sd,
                  "drop_mean": drop_m, "drop_std": drop_sd,
                  "bytes_mean": statistics.fmean(nbytes) if nbytes else None,
                  "saving_vs_jpeg95": sav_m, "jpeg_quality": qs,
                  "top1_each": [r["top1"] for r in g], "runs": [r["teacher_run"] for r in g]})
text = "\n".join(lines) + "\n"
print(text)
if a.md:
    Path(a.md).write_text(text)
if a.csv:
    with open(a.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
if a.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    t = next((x for x in table if x["method"] == "teacher"), None)
    if t:
        ax.axhspan(t["top1_mean"] - t["top1_std"], t["top1_mean"] + t["top1_std"], color="0.85",
                   label="teacher (mean ± std)")
    for method, marker in (("bottlefit", "o"), ("naive", "s"), ("jpeg_offload", "^")):
        pts = sorted((x for x in table if x["method"] == method), key=lambda x: x["bytes_mean"])
        if pts:
            ax.errorbar([x["bytes_mean"] for x in pts], [x["top1_mean"] for x in pts],
                        yerr=[x["top1_std"] or 0 for x in pts], marker=marker, capsize=3,
                        label=LABEL[method])
    ax.set_xscale("log")
    ax.set_xlabel("bytes per image (q8+zstd; JPEG)")
    ax.set_ylabel("top-1 % (Fashion-MNIST test, 10 000)")
    ax.set_title("ResNet-18, authors' epochs, mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.plot, dpi=120)
EOF
  ;;
*) echo "usage: $0 run | summary DIR... [--md FILE] [--csv FILE] [--plot PNG]" >&2; exit 2 ;;
esac
