"""The per-frame work of each side, ROS-free: what the nodes, the in-process
reference and the benchmark all call.

- :class:`RobotRunner` turns an RGB frame into what the robot sends: the
  encoded bottleneck (``split``), a JPEG (``offload``), or, in ``local`` mode,
  the classification itself.
- :class:`EdgeRunner` validates and decodes what the robot sent, checks it was
  produced by the head this tail belongs to, and classifies it.

Models, codecs and buffers are built once, in the constructors; the per-frame
methods only convert, compute and time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import torch

from bottlefit_ros.codec import (CodecError, EncodedTensor, JpegCodec, PayloadTooLargeError,
                                 TensorCodec)
from bottlefit_ros.models import Preprocessor, SplitModel, build_split_model, load_labels

Mode = Literal['split', 'local', 'offload']
MODES: tuple[str, ...] = ('split', 'local', 'offload')
JPEG_CODEC = 'jpeg'


class MismatchError(ValueError):
    """The frame was produced by another model, split or head than this edge runs."""


@dataclass(frozen=True)
class ModelSpec:
    """Which split model to build; robot and edge must use the same one."""

    model: str = 'efficientnet_lite0'
    split: str = ''                 # '' = the model's default split point
    # The packaged BottleFit student (docs/model-card-efficientnet-lite0-bottlefit.md);
    # 0 = the natural split of the unchanged teacher.
    bottleneck_channels: int = 12
    weights: str = 'default'        # 'default', '' (random init) or a checkpoint path

    def build(self) -> SplitModel:
        """Build the split model in eval mode."""
        model = build_split_model(
            self.model,
            split=self.split or None,
            bottleneck_channels=self.bottleneck_channels or None,
            weights=(self.weights or None),
        )
        return model.eval()


@dataclass
class StageTimes:
    """Per-stage compute times of one frame, milliseconds (msg/StageTimings.msg)."""

    preprocess_ms: float = 0.0
    head_ms: float = 0.0
    encode_ms: float = 0.0
    decode_ms: float = 0.0
    tail_ms: float = 0.0


@dataclass(frozen=True)
class TopK:
    """The k best classes of one frame, best first."""

    class_ids: tuple[int, ...]
    labels: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass
class RobotOutput:
    """What the robot produced for one frame."""

    mode: str
    timings: StageTimes
    encoded: EncodedTensor | None = None      # split and offload modes
    result: TopK | None = None                # local mode

    @property
    def payload_bytes(self) -> int:
        """Bytes that go on the wire for this frame."""
        return len(self.encoded.payload) if self.encoded is not None else 0


@dataclass
class EdgeOutput:
    """The edge's classification of one frame."""

    result: TopK
    timings: StageTimes = field(default_factory=StageTimes)


def _ms(t0: int) -> float:
    return (time.perf_counter_ns() - t0) / 1e6


def top_k(logits: torch.Tensor, labels: Sequence[str], k: int) -> TopK:
    """Softmax and the ``k`` best classes of a single-frame logits tensor."""
    probs = torch.softmax(logits.reshape(-1).float(), dim=0)
    k = max(1, min(k, probs.numel()))
    scores, ids = torch.topk(probs, k)
    id_list = [int(i) for i in ids]
    return TopK(
        class_ids=tuple(id_list),
        labels=tuple(labels[i] if i < len(labels) else f'class_{i}' for i in id_list),
        scores=tuple(float(s) for s in scores),
    )


def set_torch_threads(num_threads: int) -> None:
    """Limit intra-op threads (0 keeps torch's default)."""
    if num_threads > 0:
        torch.set_num_threads(num_threads)


class RobotRunner:
    """The robot side: preprocess, head (or whole model), encode.

    ``codec`` names a :data:`bottlefit_ros.codec.CODECS` entry for ``split``
    mode; ``offload`` always sends JPEG at ``jpeg_quality``.
    """

    def __init__(self, spec: ModelSpec, *, mode: str = 'split', codec: str = 'q8+zstd',
                 compression_level: int = 3, jpeg_quality: int = 90, top_k: int = 5,
                 device: str = 'cpu') -> None:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        self.mode = mode
        self.spec = spec
        self.device = torch.device(device)
        self.k = top_k
        model = spec.build().to(self.device)
        self.info = model.info
        self.preprocess = Preprocessor.for_model(model)
        self.head_fingerprint = model.head_fingerprint
        self.labels = load_labels(model)
        # Keep only what this mode runs: the robot never holds the tail in split mode.
        self._net: torch.nn.Module | None = None
        self._tensor_codec: TensorCodec | None = None
        self._jpeg: JpegCodec | None = None
        if mode == 'split':
            self._net = model.head
            self._tensor_codec = TensorCodec(codec, level=compression_level)
        elif mode == 'local':
            self._net = model
        else:
            self._jpeg = JpegCodec(jpeg_quality)

    @torch.inference_mode()
    def process(self, rgb: np.ndarray) -> RobotOutput:
        """Run this mode's robot stages on one RGB (or grey) uint8 frame."""
        t = StageTimes()
        if self._jpeg is not None:
            t0 = time.perf_counter_ns()
            payload = self._jpeg.encode(rgb)
            t.encode_ms = _ms(t0)
            shape = tuple(int(s) for s in rgb.shape[:2]) + (3,)
            enc = EncodedTensor(codec=JPEG_CODEC, dtype='uint8', shape=shape, scale=0.0,
                                zero_point=0, raw_size=int(np.prod(shape)), payload=payload)
            return RobotOutput(self.mode, t, encoded=enc)
        t0 = time.perf_counter_ns()
        x = self.preprocess(rgb).to(self.device)
        t.preprocess_ms = _ms(t0)
        t0 = time.perf_counter_ns()
        y = self._net(x)
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        t.head_ms = _ms(t0)
        if self._tensor_codec is None:
            return RobotOutput(self.mode, t, result=top_k(y, self.labels, self.k))
        t0 = time.perf_counter_ns()
        enc = self._tensor_codec.encode(y.float().cpu().numpy())
        t.encode_ms = _ms(t0)
        return RobotOutput(self.mode, t, encoded=enc)


class EdgeRunner:
    """The edge side: check, decode, tail (or whole model for JPEG frames).

    ``max_payload_bytes`` bounds both what is accepted on the wire and what a
    payload may expand to, so a malformed or hostile message cannot make the
    edge allocate more than that.
    """

    def __init__(self, spec: ModelSpec, *, max_payload_bytes: int = 16 * 2**20,
                 top_k: int = 5, device: str = 'cpu', accept_offload: bool = True) -> None:
        self.spec = spec
        self.device = torch.device(device)
        self.k = top_k
        self.max_payload_bytes = max_payload_bytes
        model = spec.build().to(self.device)
        self.info = model.info
        self.head_fingerprint = model.head_fingerprint
        self.labels = load_labels(model)
        self.preprocess = Preprocessor.for_model(model)
        self._tail = model.tail
        self._model = model if accept_offload else None
        self._tensor_codec = TensorCodec(max_raw_bytes=max_payload_bytes)
        max_pixels = max_payload_bytes // 3
        self._jpeg = JpegCodec(max_pixels=max_pixels)

    def check(self, *, model: str, split: str, head_fingerprint: str, codec: str) -> None:
        """Refuse frames this edge cannot serve (raises :class:`MismatchError`)."""
        if model != self.spec.model:
            raise MismatchError(f'frame is for model {model!r}, this edge runs {self.spec.model!r}')
        if codec == JPEG_CODEC:
            if self._model is None:
                raise MismatchError('offload (jpeg) frames are disabled on this edge')
            return
        if split != self.info.split:
            raise MismatchError(f'frame was split at {split!r}, this edge\'s tail starts '
                                f'after {self.info.split!r}')
        if head_fingerprint != self.head_fingerprint:
            raise MismatchError(f'head fingerprint {head_fingerprint!r} does not match this '
                                f'edge\'s head {self.head_fingerprint!r}: robot and edge run '
                                'different weights')

    @torch.inference_mode()
    def process(self, enc: EncodedTensor) -> EdgeOutput:
        """Decode one checked frame and classify it.

        Raises :class:`bottlefit_ros.codec.CodecError` for a malformed payload.
        """
        if len(enc.payload) > self.max_payload_bytes:
            raise PayloadTooLargeError(f'payload of {len(enc.payload)} bytes exceeds the '
                                       f'limit of {self.max_payload_bytes} bytes')
        t = StageTimes()
        t0 = time.perf_counter_ns()
        if enc.codec == JPEG_CODEC:
            rgb = self._jpeg.decode(enc.payload)
            x = self.preprocess(rgb).to(self.device)
            net = self._model
        else:
            z = self._tensor_codec.decode(enc)
            expected = self.info.head_output_shape
            if tuple(z.shape[1:]) != tuple(expected) or z.shape[0] != 1:
                raise CodecError(f'tensor shape {tuple(z.shape)} does not match the head '
                                 f'output (1, {", ".join(map(str, expected))}) of this split')
            x = torch.from_numpy(z).to(self.device)
            net = self._tail
        t.decode_ms = _ms(t0)
        t0 = time.perf_counter_ns()
        logits = net(x)
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        t.tail_ms = _ms(t0)
        return EdgeOutput(top_k(logits, self.labels, self.k), t)
