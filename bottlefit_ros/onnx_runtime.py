"""Split-model parts exported by :mod:`bottlefit_ros.onnx_export`, run by ONNX Runtime.

Torch-free: a robot with only NumPy, OpenCV and ``onnxruntime`` loads a head (or
the whole model) with what it needs to use it: the input size and normalization
(:class:`bottlefit_ros.preprocess.ImagePreprocessor`), the head output shape, the
labels, and the head fingerprint the edge checks.

Execution providers are named as the ``device`` parameter of the nodes does:
``cpu``, ``cuda`` (a Jetson or an edge GPU with ``onnxruntime-gpu``) or
``tensorrt``; a provider this ``onnxruntime`` build lacks is refused with the list
of those it has, rather than silently running on the CPU.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from bottlefit_ros.preprocess import ImagePreprocessor

__all__ = ["PROVIDERS", "OnnxPart", "execution_providers"]

PROVIDERS: dict[str, tuple[str, ...]] = {
    "cpu": ("CPUExecutionProvider",),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
}


def execution_providers(device: str) -> list[str]:
    """ONNX Runtime providers for ``device`` (``cpu``, ``cuda[:N]``, ``tensorrt``)."""
    import onnxruntime as ort

    kind = device.split(":", 1)[0].lower()
    if kind not in PROVIDERS:
        raise ValueError(f"device {device!r} for onnxruntime must be one of "
                         f"{', '.join(PROVIDERS)}")
    wanted = list(PROVIDERS[kind])
    available = ort.get_available_providers()
    if wanted[0] not in available:
        raise ValueError(f"device {device!r} needs {wanted[0]}, which this onnxruntime lacks "
                         f"(available: {', '.join(available)})")
    return [p for p in wanted if p in available]


class OnnxPart:
    """One exported part (``head``, ``tail`` or ``whole``): ``run(x) -> y`` on float32
    arrays, batch first, and the export's metadata as attributes.

    ``threads`` sets ONNX Runtime's intra-op threads (0: its default).
    """

    def __init__(self, path: str | os.PathLike[str], *, device: str = "cpu",
                 threads: int = 0) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no ONNX file at {self.path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                            providers=execution_providers(device))
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.part = meta["bottlefit.part"]
            self.model = meta["bottlefit.model"]
            self.split = meta["bottlefit.split"]
            self.kind = meta["bottlefit.kind"]
            self.bottleneck_channels = int(meta["bottlefit.bottleneck_channels"])
            self.input_size = tuple(int(v) for v in json.loads(meta["bottlefit.input_size"]))
            self.normalization = meta["bottlefit.normalization"]
            self.head_output_shape = tuple(
                int(v) for v in json.loads(meta["bottlefit.head_output_shape"]))
            self.num_classes = int(meta["bottlefit.num_classes"])
            self.head_fingerprint = meta["bottlefit.head_fingerprint"]
            self.labels: tuple[str, ...] = tuple(json.loads(meta["bottlefit.labels"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{self.path} is not a bottlefit_ros export (metadata: "
                             f"{exc!r}); write it with python -m bottlefit_ros.onnx_export") \
                from None
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name

    def preprocessor(self, crop_fraction: float | None = 0.875) -> ImagePreprocessor:
        """The image preprocessing this part's model expects."""
        return ImagePreprocessor(size=self.input_size, normalization=self.normalization,
                                 crop_fraction=crop_fraction)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Forward pass of a float32 batch."""
        return self.session.run([self._output], {self._input: x})[0]
