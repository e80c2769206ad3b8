"""Export a split model's head, tail and whole network as ONNX, with its metadata.

Each file carries, as ONNX ``metadata_props``, what a runtime needs without the
PyTorch model: model name, split, kind, bottleneck width, input size,
normalization, head output shape, number of classes, the class labels, and the
head fingerprint the PyTorch path computes (``SplitModel.head_fingerprint``), so a
robot on ONNX Runtime and an edge on PyTorch (or the reverse) check each other's
frames exactly as two PyTorch nodes do. :mod:`bottlefit_ros.onnx_runtime` reads
them back.

Command line (the packaged default, into ``--out`` or else the folder
:func:`bottlefit_ros.backends.default_onnx_dir` names, where ``backend:
onnxruntime`` with ``weights: default`` looks)::

    python -m bottlefit_ros.onnx_export [--out DIR] [--model efficientnet_lite0]
        [--bottleneck-channels 12] [--split NAME] [--weights default|PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from bottlefit_ros.backends import default_onnx_dir
from bottlefit_ros.models import SplitModel, load_labels
from bottlefit_ros.runtime import ModelSpec

__all__ = ["PARTS", "METADATA_KEYS", "export_split_model", "main"]

PARTS: tuple[str, ...] = ("head", "tail", "whole")
"""The files an export writes: ``<part>.onnx``."""
METADATA_KEYS: tuple[str, ...] = (
    "bottlefit.part", "bottlefit.model", "bottlefit.split", "bottlefit.kind",
    "bottlefit.bottleneck_channels", "bottlefit.input_size", "bottlefit.normalization",
    "bottlefit.head_output_shape", "bottlefit.num_classes", "bottlefit.head_fingerprint",
    "bottlefit.labels")
OPSET = 17


def _metadata(model: SplitModel, part: str) -> dict[str, str]:
    info = model.info
    return {
        "bottlefit.part": part,
        "bottlefit.model": info.model,
        "bottlefit.split": info.split,
        "bottlefit.kind": info.kind,
        "bottlefit.bottleneck_channels": str(info.bottleneck_channels or 0),
        "bottlefit.input_size": json.dumps(list(info.input_size)),
        "bottlefit.normalization": info.normalization,
        "bottlefit.head_output_shape": json.dumps(list(info.head_output_shape)),
        "bottlefit.num_classes": str(info.num_classes),
        "bottlefit.head_fingerprint": model.head_fingerprint,
        "bottlefit.labels": json.dumps(list(load_labels(model))),
    }


def _export(module: nn.Module, example: torch.Tensor, path: Path, input_name: str,
            output_name: str, metadata: dict[str, str]) -> None:
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}})
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


@torch.no_grad()
def export_split_model(model: SplitModel, out_dir: str | os.PathLike[str], *,
                       parts: Sequence[str] = PARTS) -> dict[str, Path]:
    """Write ``<part>.onnx`` for each of ``parts`` into ``out_dir``; return their paths.

    Inputs: ``image`` (N, 3, H, W) float32, normalized as the metadata says (head,
    whole) or ``bottleneck`` (N, *head_output_shape) float32 (tail); outputs:
    ``bottleneck`` (head) or ``logits`` (N, num_classes) (tail, whole). The batch
    dimension is dynamic, so an edge can batch frames of several robots.
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    # Not created in inference mode: the exporter traces through these.
    image = torch.zeros((1, 3, *model.info.input_size))
    bottleneck = torch.zeros((1, *model.info.head_output_shape))
    jobs = {"head": (model.head, image, "image", "bottleneck"),
            "tail": (model.tail, bottleneck, "bottleneck", "logits"),
            "whole": (model, image, "image", "logits")}
    paths: dict[str, Path] = {}
    for part in parts:
        module, example, input_name, output_name = jobs[part]
        path = out / f"{part}.onnx"
        _export(module, example, path, input_name, output_name, _metadata(model, part))
        paths[part] = path
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bottlefit_ros.onnx_export``: export a split model's parts."""
    defaults = ModelSpec()
    ap = argparse.ArgumentParser(prog="python -m bottlefit_ros.onnx_export",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="", help="output folder (default: where backend "
                    "onnxruntime looks for weights 'default')")
    ap.add_argument("--model", default=defaults.model)
    ap.add_argument("--split", default=defaults.split, help="empty: the model's default")
    ap.add_argument("--bottleneck-channels", type=int, default=defaults.bottleneck_channels,
                    help="0: natural split")
    ap.add_argument("--weights", default=defaults.weights,
                    help="default (packaged), a checkpoint path, or empty for random")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of "
                    + ", ".join(PARTS))
    args = ap.parse_args(argv)
    spec = ModelSpec(args.model, args.split, args.bottleneck_channels, args.weights)
    try:
        model = spec.build()
        out = args.out or default_onnx_dir(spec)
        paths = export_split_model(model, out,
                                   parts=[p for p in args.parts.split(",") if p])
    except (ValueError, OSError, KeyError) as exc:
        print(f"onnx_export: {exc}", file=sys.stderr)
        return 2
    for part, path in paths.items():
        print(f"{part}: {path} ({path.stat().st_size:,} bytes)")
    print(f"head fingerprint {model.head_fingerprint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
