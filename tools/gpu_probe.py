#!/usr/bin/env python3
"""Measure head-distillation throughput of the light Lite0 student and size a run to a budget.

Prints the images/s of one process (stderr) and, last on stdout, ``E1,E2``: the stage-1 and
stage-2 epochs (100 batches of 128 each) that ``--jobs`` processes running together fit into
``--budget`` seconds, assuming they run ``--speedup`` times faster together than one alone
(stage 2 is counted at 0.8 of a stage-1 epoch's cost; 3/4 of the epochs go to stage 1).
Run on the GPU machine by tools/gpu_light.sh.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from bottlefit_ros.training.config import load_config
from bottlefit_ros.training.data import PhotoBatches, read_image_folder
from bottlefit_ros.training.distributed import setup
from bottlefit_ros.training.methods import (_HeadDistillationStep, build_student,
                                            build_teacher_model, make_run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="config/training/lite0_light.yaml")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--budget", type=float, default=400.0)
    ap.add_argument("--speedup", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.config, args.overrides)
    dist = setup(cfg.device)
    run = make_run(cfg, dist)
    dev = run.device
    teacher = build_teacher_model(cfg).to(dev).requires_grad_(False).eval()
    student = build_student(cfg, teacher).to(dev)
    if dev.type == "cuda":
        teacher = teacher.to(memory_format=torch.channels_last)
        student = student.to(memory_format=torch.channels_last)
    student.requires_grad_(False).eval()
    for m in student.bottleneck_modules():
        m.requires_grad_(True).train()
    opt = torch.optim.Adam(student.bottleneck_parameters(), lr=1e-3)
    step = _HeadDistillationStep(student, teacher)
    images = read_image_folder(cfg.data.root, max_side=cfg.data.max_side)
    batches = PhotoBatches(images, size=cfg.model.input_size, batch_size=cfg.data.batch_size,
                           steps=args.steps + 5, device=dev, augment=cfg.data.augment)
    for i, (x, _) in enumerate(batches):
        if i == 5:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with run.autocast():
            loss, _ = step(run.prepare(x), None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    rate = args.steps * cfg.data.batch_size / (time.perf_counter() - t0)
    per_job = rate * args.speedup / args.jobs
    epochs = per_job * args.budget / (100 * cfg.data.batch_size)
    e1 = max(1, int(epochs * 0.75))
    e2 = max(1, int((epochs - e1) / 0.8))
    print(f"one process: {rate:.0f} images/s; {args.jobs} jobs: ~{per_job:.0f} images/s each",
          file=sys.stderr)
    print(f"{epochs:.1f} epochs in {args.budget:.0f} s", file=sys.stderr)
    print(f"{e1},{e2}")


if __name__ == "__main__":
    main()
