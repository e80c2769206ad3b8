"""Inference backends behind one interface: PyTorch eager, or ONNX Runtime.

An :class:`Engine` holds the parts of a split model one side runs (``head``,
``tail``, ``whole``), with what that side needs to use and check them: the
model's :class:`ModelInfo`, the head fingerprint, the labels and the image
preprocessing. Its parts take and return float32 NumPy arrays, batch first, so
the per-frame code is the same for both backends.

- ``torch``: builds the model from its registry name and weights
  (:class:`bottlefit_ros.runtime.ModelSpec`); any torch device.
- ``onnxruntime``: loads the export of :mod:`bottlefit_ros.onnx_export` (the
  folder given as ``weights``, or for ``weights: default`` the one
  :func:`default_onnx_dir` names, which the project's set-up writes); providers
  ``cpu``, ``cuda`` or ``tensorrt``. Imports no PyTorch, so a robot needs only
  NumPy, OpenCV and ``onnxruntime``.

Both give the same head fingerprint for the same weights (the export carries the
PyTorch one), so a robot on one backend and an edge on the other interoperate.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from bottlefit_ros.deployment import BACKENDS
from bottlefit_ros.preprocess import ImagePreprocessor

__all__ = ["BACKENDS", "PARTS", "Engine", "ModelInfo", "OnnxEngine", "SpecLike", "TorchEngine",
           "default_onnx_dir", "load_engine"]

PARTS: tuple[str, ...] = ("head", "tail", "whole")


class SpecLike(Protocol):
    """What a backend reads of :class:`bottlefit_ros.runtime.ModelSpec`."""

    model: str
    split: str
    bottleneck_channels: int
    weights: str

    def build(self): ...  # noqa: E704  (torch backend only)


@dataclass(frozen=True)
class ModelInfo:
    """What both sides know of the split model, whatever the backend."""

    model: str
    split: str
    kind: str
    bottleneck_channels: int
    input_size: tuple[int, int]
    normalization: str
    head_output_shape: tuple[int, ...]
    num_classes: int
    head_params: int = 0       # 0: not known (ONNX exports do not count them)
    tail_params: int = 0


def default_onnx_dir(spec: SpecLike) -> Path:
    """Where the set-up exports ``spec`` with its packaged weights:
    ``$BOTTLEFIT_ONNX_DIR`` (default ``~/.cache/bottlefit_ros/onnx``) /
    ``<model>-<split or 'default'>-c<bottleneck_channels>``."""
    root = Path(os.environ.get("BOTTLEFIT_ONNX_DIR") or
                Path.home() / ".cache" / "bottlefit_ros" / "onnx")
    return root / f"{spec.model}-{spec.split or 'default'}-c{int(spec.bottleneck_channels)}"


class Engine:
    """The parts one side runs; see the module docstring."""

    backend: str
    info: ModelInfo
    head_fingerprint: str
    labels: tuple[str, ...]
    parts: tuple[str, ...]

    def preprocessor(self, crop_fraction: float | None = 0.875) -> ImagePreprocessor:
        """The image preprocessing the model expects."""
        return ImagePreprocessor(size=self.info.input_size, normalization=self.info.normalization,
                                 crop_fraction=crop_fraction)

    def run(self, part: str, x: np.ndarray) -> np.ndarray:
        """Forward pass of ``part`` on a float32 batch."""
        raise NotImplementedError

    def _require(self, part: str) -> None:
        if part not in self.parts:
            raise ValueError(f"this {self.backend} engine holds {', '.join(self.parts)}, "
                             f"not {part!r}")


class TorchEngine(Engine):
    """PyTorch eager; keeps only the modules of ``parts`` (the robot never holds the tail)."""

    backend = "torch"

    def __init__(self, spec: SpecLike, *, parts: Sequence[str] = PARTS, device: str = "cpu",
                 threads: int = 0) -> None:
        import torch

        from bottlefit_ros.models import load_labels

        if threads > 0:
            torch.set_num_threads(threads)
        self._torch = torch
        self.device = torch.device(device)
        model = spec.build().to(self.device)
        i = model.info
        self.info = ModelInfo(i.model, i.split, i.kind, int(i.bottleneck_channels or 0),
                              tuple(i.input_size), i.normalization, tuple(i.head_output_shape),
                              i.num_classes, i.head_params, i.tail_params)
        self.head_fingerprint = model.head_fingerprint
        self.labels = tuple(load_labels(model))
        self.parts = tuple(parts)
        nets = {"head": model.head, "tail": model.tail, "whole": model}
        self._nets = {p: nets[p] for p in self.parts}

    def run(self, part: str, x: np.ndarray) -> np.ndarray:
        self._require(part)
        torch = self._torch
        with torch.inference_mode():
            y = self._nets[part](torch.from_numpy(x).to(self.device))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return y.float().cpu().numpy()


class OnnxEngine(Engine):
    """ONNX Runtime over an export folder; refuses an export of another model."""

    backend = "onnxruntime"

    def __init__(self, spec: SpecLike, *, parts: Sequence[str] = PARTS, device: str = "cpu",
                 threads: int = 0) -> None:
        from bottlefit_ros.onnx_runtime import OnnxPart

        weights = str(spec.weights)
        if weights.lower() == "default":
            folder = default_onnx_dir(spec)
        elif weights and Path(weights).expanduser().is_dir():
            folder = Path(weights).expanduser()
        else:
            raise ValueError(f"backend onnxruntime needs weights 'default' or a folder written "
                             f"by `python -m bottlefit_ros.onnx_export`, got {weights!r}")
        missing = [p for p in parts if not (folder / f"{p}.onnx").is_file()]
        if missing:
            raise ValueError(
                f"no ONNX export of {', '.join(missing)} in {folder}: write it with `python -m "
                f"bottlefit_ros.onnx_export --model {spec.model} --bottleneck-channels "
                f"{spec.bottleneck_channels} --out {folder}` (needs PyTorch; the project's "
                "set-up does it for the packaged defaults)")
        self.parts = tuple(parts)
        self._parts = {p: OnnxPart(folder / f"{p}.onnx", device=device, threads=threads)
                       for p in self.parts}
        first = self._parts[self.parts[0]]
        for p, loaded in self._parts.items():
            if loaded.head_fingerprint != first.head_fingerprint:
                raise ValueError(f"{folder}: {p}.onnx comes from another export than "
                                 f"{self.parts[0]}.onnx (head fingerprints differ)")
        want_split = spec.split or first.split
        if (first.model, first.split, first.bottleneck_channels) != (
                spec.model, want_split, int(spec.bottleneck_channels)):
            raise ValueError(
                f"{folder} holds {first.model} split {first.split!r} with "
                f"{first.bottleneck_channels} bottleneck channels, not {spec.model} split "
                f"{want_split!r} with {spec.bottleneck_channels}")
        self.info = ModelInfo(first.model, first.split, first.kind, first.bottleneck_channels,
                              tuple(first.input_size), first.normalization,
                              tuple(first.head_output_shape), first.num_classes)
        self.head_fingerprint = first.head_fingerprint
        self.labels = first.labels
        self.folder = folder

    def run(self, part: str, x: np.ndarray) -> np.ndarray:
        self._require(part)
        return self._parts[part].run(np.ascontiguousarray(x, dtype=np.float32))


def load_engine(spec: SpecLike, *, backend: str = "torch", parts: Sequence[str] = PARTS,
                device: str = "cpu", threads: int = 0) -> Engine:
    """The :class:`Engine` of ``backend`` holding ``parts`` of ``spec``'s model."""
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        raise ValueError(f"parts must be a non-empty subset of {PARTS}, got {tuple(parts)}")
    if backend == "torch":
        return TorchEngine(spec, parts=parts, device=device, threads=threads)
    if backend == "onnxruntime":
        return OnnxEngine(spec, parts=parts, device=device, threads=threads)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
