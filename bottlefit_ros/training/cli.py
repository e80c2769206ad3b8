"""``python -m bottlefit_ros.training``: train, evaluate, run grids, report, export.

Examples (configurations under ``config/training/``)::

    # CPU smoke run (seconds): Fashion-MNIST-shaped idx files in DIR
    python -m bottlefit_ros.training train bottlefit --config config/training/smoke.yaml \\
        --set data.root=DIR

    # one GPU, mixed precision; several GPUs through torchrun (DDP)
    python -m bottlefit_ros.training train teacher --config config/training/fashion_mnist.yaml
    torchrun --nproc-per-node 4 -m bottlefit_ros.training train bottlefit \\
        --config config/training/imagenet_resnet152.yaml --set data.root=/data/imagenet/train

    # every method and width, several jobs at once, then the table and the plot
    python -m bottlefit_ros.training grid config/training/grid_fashion_mnist.yaml --out runs/fm
    python -m bottlefit_ros.training report runs/fm --out docs/training-results-fm.md

    # data-free training images from the teacher (DeepInversion), cached by seed + settings
    python -m bottlefit_ros.training synthesize --config config/training/lite0_light.yaml \\
        --out .gpu/synth --count 4096 --budget 300 --synth batch_size=512

    # the trained bottleneck as a packaged student (float16)
    python -m bottlefit_ros.training export runs/lite0/efficientnet_lite0/bottlefit-c12 \\
        --out bottlefit_ros/models/data/efficientnet_lite0_bottlefit_c12.pt

Overrides: ``--set key.sub=value`` (YAML values), e.g. ``--set stage1.epochs=2``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from .methods import METHODS

    p = argparse.ArgumentParser(
        prog="python -m bottlefit_ros.training",
        description="BottleFit training (Matsubara et al., WoWMoM 2022): two-stage "
                    "training, baselines, evaluation of rate and accuracy. No ROS needed.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    sub = p.add_subparsers(dest="command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", "-c", help="YAML configuration (config/training/*.yaml)")
        q.add_argument("--set", "-s", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a configuration value (repeatable)")
        q.add_argument("--out", help="run folder (overrides out_dir)")

    t = sub.add_parser("train", help="train one method (and evaluate it)",
                       description="Train one method and write result.json in the run folder. "
                                   "methods: teacher (cross-entropy), bottlefit (stage 1 head "
                                   "distillation + stage 2 fine-tuning), stage1, stage2, naive "
                                   "(end-to-end cross-entropy), autoencoder (pair at a natural "
                                   "split), natural (evaluation of the natural split only)")
    t.add_argument("method", choices=METHODS)
    common(t)
    t.add_argument("--stop-after-epochs", type=int, default=0,
                   help="stop after N epochs of this invocation (resume later)")

    e = sub.add_parser("evaluate", help="evaluate a saved student (or the packaged one)")
    common(e)
    e.add_argument("--weights", default="default",
                   help="student checkpoint (.pt of a run) or 'default' (packaged student)")
    e.add_argument("--method", default="bottlefit", help="name of the result row")

    g = sub.add_parser("grid", help="train every teacher, width and method of a grid file")
    g.add_argument("grid", help="grid YAML (config/training/grid_*.yaml)")
    g.add_argument("--out", required=True, help="folder of the runs")
    g.add_argument("--jobs", type=int, default=1, help="jobs at once (one GPU can hold several)")
    g.add_argument("--deadline", type=float, default=0,
                   help="seconds after which no job starts (0: none)")
    g.add_argument("--hard-deadline", type=float, default=0,
                   help="seconds after which running jobs are stopped (0: none)")
    g.add_argument("--set", "-s", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override for every job (repeatable)")
    g.add_argument("--only", default="", help="comma-separated teachers to run (default: all)")
    g.add_argument("--widths", default="", help="comma-separated widths (default: the grid's)")

    r = sub.add_parser("report", help="tables (Markdown, CSV) and rate-accuracy plots")
    r.add_argument("runs", help="folder of runs (searched for result.json)")
    r.add_argument("--out", required=True, help="Markdown file to write")
    r.add_argument("--figures", default="", help="folder for the PNG plots (default: beside --out)")
    r.add_argument("--title", default="", help="heading of the tables")

    y = sub.add_parser("synthesize", help="make data-free training images from the teacher",
                       description="DeepInversion images of the configuration's teacher "
                                   "(model.*), PNG files in OUT/deepinversion-<key>/ (key: "
                                   "settings, seed, teacher weights); resumes, skips what exists. "
                                   "Train on them with data.source: folder.")
    common(y)
    y.add_argument("--count", type=int, default=1024, help="images (whole batches)")
    y.add_argument("--budget", type=float, default=0,
                   help="seconds after which no new batch starts (0: none)")
    y.add_argument("--synth", action="append", default=[], metavar="KEY=VALUE",
                   help="a synthesis setting (SynthesisSettings), e.g. batch_size=512")

    x = sub.add_parser("export", help="write a run's bottleneck as a packaged student file")
    x.add_argument("run", help="run folder (holds config.json and stage2.pt or stage1.pt)")
    x.add_argument("--out", required=True, help="file to write (.pt)")
    x.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a missing or unreadable file or folder is one ``error:`` line
    on stderr and exit code 2, not a traceback."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "report":
        from .report import write_report

        write_report(args.runs, args.out, figures=args.figures or None, title=args.title)
        return 0
    if args.command == "grid":
        from .grid import run_grid

        return run_grid(args.grid, args.out, jobs=args.jobs, deadline=args.deadline,
                        hard_deadline=args.hard_deadline, overrides=args.overrides,
                        only=[t for t in args.only.split(",") if t] or None,
                        widths=[int(w) for w in args.widths.split(",") if w] or None)
    if args.command == "export":
        from .export import export_student

        path = export_student(args.run, args.out, dtype=args.dtype)
        print(path)
        return 0

    import torch

    if args.command == "synthesize":
        return _synthesize(args)

    from .config import load_config
    from .distributed import cleanup, setup
    from .loop import seed_everything
    from .methods import evaluate_weights, make_run, run_method

    overrides = list(args.overrides) + ([f"out_dir={args.out}"] if args.out else [])
    cfg = load_config(args.config, overrides)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dist = setup(cfg.device)
    seed_everything(cfg.seed + dist.rank)
    run = make_run(cfg, dist, stop_after_epochs=getattr(args, "stop_after_epochs", 0))
    try:
        if args.command == "train":
            path = run_method(args.method, cfg, run)
        else:
            path = evaluate_weights(cfg, run, args.weights, method=args.method)
    finally:
        cleanup(dist)
    if path is not None:
        print(path)
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    import json

    from .config import load_config
    from .distributed import setup
    from .methods import build_teacher_model, make_run
    from .synthesis import SynthesisSettings, synthesize

    cfg = load_config(args.config, args.overrides)
    settings = SynthesisSettings.from_overrides(
        args.synth, SynthesisSettings(size=cfg.model.input_size,
                                      num_classes=cfg.model.num_classes))
    run = make_run(cfg, setup(cfg.device))
    result = synthesize(build_teacher_model(cfg), settings, count=args.count, seed=cfg.seed,
                        cache=args.out or ".gpu/synth", mean=run.mean, std=run.std,
                        device=run.device, amp=cfg.amp, channels_last=cfg.channels_last,
                        budget=args.budget)
    print(json.dumps({k: str(v) if k == "folder" else v
                      for k, v in vars(result).items()}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
