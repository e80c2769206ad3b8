#!/usr/bin/env python3
"""Rate-accuracy curve of EfficientNet-Lite split models on any folder of photos.

For every photo, 14 views (``photo_views``: the demo's centre crop, the whole centre square,
a half-size centre crop, four 60 % corner crops, and their mirrors); each row is the
teacher's top-1 agreement after the real round trip (students and the natural split:
``q8+zstd``, batch size 1; JPEG offload: the image as JPEG, classified by the whole
teacher) and the mean bytes per frame. Also the cost of each head: parameters, FLOPs,
and median CPU time of one 224 x 224 frame on one thread.

    python benchmarks/student_eval.py --photos .gpu/images/heldout \\
        --student light:8=bottlefit_ros/models/data/efficientnet_lite0_light_c8.pt \\
        --student bottlefit:12=default --json out.json --plot curve.png

``--student FAMILY:C=FILE`` takes an ``export`` file (or ``default``: the packaged student
for that width). Runs on the CPU or a GPU (``--device``); ``--model efficientnet_lite2`` for
the Lite2 teacher and its students.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from bottlefit_ros.codec import TensorCodec
from bottlefit_ros.models import build_split_model, packaged_student
from bottlefit_ros.training import data as D
from bottlefit_ros.training.evaluate import (evaluate_jpeg_offload, evaluate_split,
                                             head_cost)
from bottlefit_ros.training.loop import RunContext
from bottlefit_ros.training.distributed import DistInfo

MODEL = "efficientnet_lite0"  # the default of --model
QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)


def _student(spec: str, model_name: str = MODEL) -> tuple[str, torch.nn.Module]:
    """``light:8=FILE`` -> (row name, model)."""
    left, _, path = spec.partition("=")
    family, _, width = left.partition(":")
    c = int(width)
    if path in ("", "default"):
        packaged = packaged_student(model_name, c)
        if packaged is None or packaged.encoder != family:
            raise SystemExit(f"no packaged {family} student with C = {c}")
        model = build_split_model(model_name, bottleneck_channels=c, encoder=family)
    else:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        meta = obj["meta"]
        model = build_split_model(model_name, bottleneck_channels=c, encoder=family,
                                  decoder_channels=int(meta["decoder_channels"]),
                                  encoder_width=int(meta.get("encoder_width", 0)) or None)
        own = model.state_dict()
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in obj["state_dict"].items()},
                              strict=False)
    return f"{family} C={c} ({Path(path).name or 'packaged'})", model.eval()


def cpu_ms(module: torch.nn.Module, repeats: int = 40) -> float:
    """Median wall time (ms) of one 1x3x224x224 forward pass on one CPU thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    module = module.cpu().eval()
    x = torch.randn(1, 3, 224, 224)
    times = []
    with torch.no_grad():
        for i in range(repeats + 5):
            t0 = time.perf_counter()
            module(x)
            if i >= 5:
                times.append(time.perf_counter() - t0)
    torch.set_num_threads(threads)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", required=True, help="folder of photos (any sizes)")
    ap.add_argument("--model", default=MODEL, help="the teacher (default: %(default)s)")
    ap.add_argument("--student", action="append", default=[], metavar="FAMILY:C=FILE")
    ap.add_argument("--qualities", default=",".join(map(str, QUALITIES)))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-timing", action="store_true", help="skip the CPU timings")
    ap.add_argument("--json", default="", help="write the rows here")
    ap.add_argument("--plot", default="", help="write the rate-accuracy plot here (PNG)")
    args = ap.parse_args()

    device = torch.device(args.device)
    teacher = build_split_model(args.model).to(device).eval()
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in ((127.0,) * 3, (128.0,) * 3))
    run = RunContext(out_dir=Path("."), dist=DistInfo(device=device), amp=False,
                     channels_last=False, progress="off", mean=mean, std=std)
    images = D.read_image_folder(args.photos, max_side=800)
    views, _ = D.photo_views(images, 224, "crops")
    batches = D.TensorBatches(views, None, size=224, batch_size=32, uint8=True, device=device)
    codec = TensorCodec("q8+zstd")
    rows = []
    whole = torch.nn.Sequential(teacher.head, teacher.tail)
    teacher_ms = None if args.no_timing else cpu_ms(whole)
    _, teacher_flops = head_cost(whole, (224, 224))
    print(f"{len(images)} photos, {len(views)} views; teacher {teacher_flops / 1e6:.0f} MFLOPs"
          + (f", {teacher_ms:.1f} ms on one CPU thread" if teacher_ms else ""), flush=True)

    def add(name: str, kind: str, model: torch.nn.Module | None, metrics: dict) -> None:
        row = {"name": name, "kind": kind, "agreement_top1": metrics["agreement_top1"],
               "agreement_top5": metrics.get("agreement_top5"),
               "bytes_mean": metrics["bytes_mean"],
               "jpeg95_bytes_mean": metrics.get("jpeg95_bytes_mean"),
               "head_params": metrics.get("head_params", 0),
               "head_flops": metrics.get("head_flops", 0),
               "teacher_flops": teacher_flops, "teacher_cpu_ms": teacher_ms,
               "jpeg_quality": metrics.get("jpeg_quality")}
        if model is not None and not args.no_timing:
            row["head_cpu_ms"] = cpu_ms(model.head)
            model.to(device)
        rows.append(row)
        print(f"{name:40s} {100 * row['agreement_top1']:5.1f} %  {row['bytes_mean']:8.0f} B  "
              f"head {row['head_flops'] / 1e6:6.1f} MFLOPs"
              + (f" {row['head_cpu_ms']:.2f} ms" if "head_cpu_ms" in row else ""), flush=True)

    metrics, _ = evaluate_split(teacher, batches, run, codec=codec, teacher=teacher)
    add(f"natural split @{teacher.info.split}, q8+zstd", "natural", teacher, metrics)
    for spec in args.student:
        name, model = _student(spec, args.model)
        metrics, _ = evaluate_split(model.to(device), batches, run, codec=codec, teacher=teacher)
        add(name, "student", model, metrics)
    for q in (int(v) for v in args.qualities.split(",") if v):
        metrics = evaluate_jpeg_offload(teacher, batches, run, quality=q, teacher=teacher)
        add(f"JPEG offload q{q}", "jpeg", None, metrics)
    if args.json:
        Path(args.json).write_text(json.dumps({"photos": args.photos, "views": len(views),
                                               "rows": rows}, indent=1) + "\n")
    if args.plot:
        _plot(rows, args.plot, f"{len(images)} held-out photos x 14 views", args.model)


def _plot(rows: list[dict], path: str, subtitle: str, model: str = MODEL) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    jpeg = sorted((r for r in rows if r["kind"] == "jpeg"), key=lambda r: r["bytes_mean"])
    ax.plot([r["bytes_mean"] / 1e3 for r in jpeg], [100 * r["agreement_top1"] for r in jpeg],
            "o-", color="grey", label="JPEG offload (q10-95)")
    for r in jpeg:
        ax.annotate(f"q{r['jpeg_quality']}", (r["bytes_mean"] / 1e3, 100 * r["agreement_top1"]),
                    fontsize=7, color="grey", xytext=(3, -9), textcoords="offset points")
    families: dict[str, list[dict]] = {}
    for r in rows:
        if r["kind"] == "student":
            families.setdefault(r["name"].split(" C=")[0], []).append(r)
    for fam, rs in families.items():
        rs.sort(key=lambda r: r["bytes_mean"])
        label = fam if fam.startswith("BottleFit") else f"BottleFit student, {fam} encoder"
        ax.plot([r["bytes_mean"] / 1e3 for r in rs], [100 * r["agreement_top1"] for r in rs],
                "s-", label=label)
        for r in rs:
            ax.annotate(r["name"].split(" (")[0].split(" ")[-1],
                        (r["bytes_mean"] / 1e3, 100 * r["agreement_top1"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    for r in rows:
        if r["kind"] == "natural":
            ax.plot([r["bytes_mean"] / 1e3], [100 * r["agreement_top1"]], "k^",
                    label=r["name"].replace(", q8+zstd", " (q8+zstd)"))
    ax.set_xlabel("bytes per frame (kB)")
    ax.set_ylabel("top-1 agreement with the teacher (%)")
    title = model.replace("efficientnet_lite", "EfficientNet-Lite")
    ax.set_title(f"{title}: rate vs agreement ({subtitle})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
