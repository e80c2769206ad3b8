"""The per-frame work of each side, ROS-free: what the nodes, the in-process
reference and the benchmark all call.

- :class:`RobotRunner` turns an RGB frame into what the robot sends: the
  encoded bottleneck (``split``), a JPEG (``offload``), or, in ``local`` mode,
  the classification itself.
- :class:`EdgeRunner` validates and decodes what the robot sent, checks it was
  produced by the head this tail belongs to, and classifies it.

Models, codecs and buffers are built once, in the constructors; the per-frame
methods only convert, compute and time. The network runs on a backend of
:mod:`bottlefit_ros.backends` (``torch`` or ``onnxruntime``); this module imports
no PyTorch, so a robot on ONNX Runtime needs none.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Hashable, Sequence

from typing import TYPE_CHECKING

import numpy as np

from bottlefit_ros.backends import load_engine
from bottlefit_ros.deployment import MODES
from bottlefit_ros.codec import (EncodedTensor, JpegCodec, MalformedPayloadError,
                                 PayloadTooLargeError, TensorCodec)

if TYPE_CHECKING:
    from bottlefit_ros.models import SplitModel

JPEG_CODEC = 'jpeg'
OFFLOAD_DTYPE = 'uint8'
"""``dtype`` of an offload (JPEG) frame: the decoded image is ``uint8[H, W, 3]``."""
# Longest accepted string fields of a frame (msg/Bottleneck.msg documents them);
# anything longer is malformed.
MAX_NAME_CHARS = 64          # model, split, codec, dtype
MAX_FINGERPRINT_CHARS = 64
MAX_FRAME_ID_CHARS = 256
_TENSOR_CODECS_QUANTIZED = frozenset({'q8+zstd', 'q8'})


class MismatchError(ValueError):
    """The frame was produced by another model, split or head than this edge runs."""


@dataclass(frozen=True)
class ModelSpec:
    """Which split model to build; robot and edge must use the same one."""

    model: str = 'efficientnet_lite0'
    split: str = ''                 # '' = the model's default split point
    # The packaged BottleFit student with the encoder sized for this teacher
    # (docs/model-card-efficientnet-lite0-light.md); 12 = the authors' encoder
    # (docs/model-card-efficientnet-lite0-bottlefit.md); 0 = the natural split.
    bottleneck_channels: int = 8
    weights: str = 'default'        # 'default', '' (random init) or a checkpoint path

    def build(self) -> SplitModel:
        """Build the split model in eval mode (PyTorch)."""
        from bottlefit_ros.models import build_split_model

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
    # With keep_input, what classify() needs to answer this frame on the robot:
    # the preprocessed tensor (split), or the RGB frame itself (offload).
    input: np.ndarray | None = None

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


def top_k(logits: np.ndarray, labels: Sequence[str], k: int) -> TopK:
    """Softmax and the ``k`` best classes of a single-frame logits array, best first."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    e = np.exp(z - z.max())
    probs = e / e.sum()
    k = max(1, min(k, probs.size))
    ids = np.argpartition(-probs, k - 1)[:k]
    ids = ids[np.lexsort((ids, -probs[ids]))]      # by score, ties by index
    return TopK(
        class_ids=tuple(int(i) for i in ids),
        labels=tuple(labels[i] if i < len(labels) else f'class_{i}' for i in ids),
        scores=tuple(float(probs[i]) for i in ids),
    )


class RobotRunner:
    """The robot side: preprocess, head (or whole model), encode.

    ``codec`` names a :data:`bottlefit_ros.codec.CODECS` entry for ``split``
    mode; ``offload`` always sends JPEG at ``jpeg_quality``. ``backend`` is one
    of :data:`bottlefit_ros.backends.BACKENDS`; ``threads`` its intra-op threads
    (0: its default). ``modes`` are the modes it can be switched to while it runs
    (:meth:`switch`; default: ``mode`` alone): everything they need is loaded
    here, so a switch costs no frame. The robot never holds the tail.
    """

    def __init__(self, spec: ModelSpec, *, mode: str = 'split', codec: str = 'q8+zstd',
                 compression_level: int = 3, jpeg_quality: int = 90, top_k: int = 5,
                 device: str = 'cpu', backend: str = 'torch', threads: int = 0,
                 modes: Sequence[str] = ()) -> None:
        self.modes = tuple(dict.fromkeys((mode, *modes)))
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ValueError(f'mode must be one of {MODES}, got {unknown[0]!r}')
        self.spec = spec
        self.k = top_k
        # Offload runs no network; the head is loaded for the model's name and
        # fingerprint (and costs nothing more when split or local is loaded too).
        parts = (['head'] if {'split', 'offload'} & set(self.modes) else []) + \
            (['whole'] if 'local' in self.modes else [])
        self.engine = load_engine(spec, backend=backend, parts=parts, device=device,
                                  threads=threads)
        self.info = self.engine.info
        self.preprocess = self.engine.preprocessor()
        self.head_fingerprint = self.engine.head_fingerprint
        self.labels = self.engine.labels
        self._tensor_codec = (TensorCodec(codec, level=compression_level)
                              if 'split' in self.modes else None)
        self._jpeg = JpegCodec(jpeg_quality) if 'offload' in self.modes else None
        self.mode = mode

    def switch(self, mode: str) -> None:
        """Run ``mode`` from the next frame on; it must be one of :attr:`modes`."""
        if mode not in self.modes:
            raise ValueError(f'mode {mode!r} was not loaded at start (loaded: '
                             f'{", ".join(self.modes)})')
        self.mode = mode

    def process(self, rgb: np.ndarray, *, mode: str | None = None,
                keep_input: bool = False) -> RobotOutput:
        """Run the robot stages of ``mode`` (default: this runner's mode, which
        must be loaded) on one RGB (or grey) uint8 frame; with ``keep_input``, the
        output keeps what :meth:`classify` needs to answer the frame here later."""
        mode = mode or self.mode
        if mode not in self.modes:
            raise ValueError(f'mode {mode!r} is not loaded (loaded: {", ".join(self.modes)})')
        t = StageTimes()
        if mode == 'offload':
            t0 = time.perf_counter_ns()
            payload = self._jpeg.encode(rgb)
            t.encode_ms = _ms(t0)
            shape = tuple(int(s) for s in rgb.shape[:2]) + (3,)
            enc = EncodedTensor(codec=JPEG_CODEC, dtype=OFFLOAD_DTYPE, shape=shape, scale=0.0,
                                zero_point=0, raw_size=int(np.prod(shape)), payload=payload)
            # A copy: a source may reuse its frame buffer (the synthetic one does).
            return RobotOutput(mode, t, encoded=enc, input=rgb.copy() if keep_input else None)
        t0 = time.perf_counter_ns()
        x = self.preprocess(rgb)
        t.preprocess_ms = _ms(t0)
        t0 = time.perf_counter_ns()
        y = self.engine.run('whole' if mode == 'local' else 'head', x)
        t.head_ms = _ms(t0)
        if mode == 'local':
            return RobotOutput(mode, t, result=top_k(y, self.labels, self.k))
        t0 = time.perf_counter_ns()
        enc = self._tensor_codec.encode(y)
        t.encode_ms = _ms(t0)
        return RobotOutput(mode, t, encoded=enc, input=x if keep_input else None)

    def warm_up(self) -> None:
        """Run each loaded model part once on a blank frame, so that the first real
        frame (or the first fallback, which has a deadline to keep) does not pay
        the backend's first-run set-up."""
        x = self.preprocess(np.zeros((*self.preprocess.size, 3), dtype=np.uint8))
        for part in self.engine.parts:
            self.engine.run(part, x)

    def classify(self, out: RobotOutput) -> tuple[TopK, StageTimes]:
        """The whole model on a frame already processed for the edge with
        ``keep_input`` (the fallback when the edge does not answer); ``local``
        must be loaded. The timings are the frame's robot stages plus this
        work (preprocessing, for an offload frame; the whole model, in ``head_ms``)."""
        if out.input is None:
            raise ValueError('the frame was processed without keep_input')
        t = StageTimes(**vars(out.timings))
        x = out.input
        if out.mode == 'offload':
            t0 = time.perf_counter_ns()
            x = self.preprocess(x)
            t.preprocess_ms += _ms(t0)
        t0 = time.perf_counter_ns()
        y = self.engine.run('whole', x)
        t.head_ms += _ms(t0)
        return top_k(y, self.labels, self.k), t


class EdgeRunner:
    """The edge side: check, decode, tail (or whole model for JPEG frames).

    ``max_payload_bytes`` bounds both what is accepted on the wire and what a
    payload may expand to; beyond that, a tensor frame's shape must be this
    head's output shape before anything is decompressed, so a malformed or
    hostile frame allocates no more than a valid one.
    """

    def __init__(self, spec: ModelSpec, *, max_payload_bytes: int = 16 * 2**20,
                 top_k: int = 5, device: str = 'cpu', accept_offload: bool = True,
                 backend: str = 'torch', threads: int = 0) -> None:
        self.spec = spec
        self.k = top_k
        self.max_payload_bytes = max_payload_bytes
        self.accept_offload = accept_offload
        parts = ('tail', 'whole') if accept_offload else ('tail',)
        self.engine = load_engine(spec, backend=backend, parts=parts, device=device,
                                  threads=threads)
        self.info = self.engine.info
        self.head_fingerprint = self.engine.head_fingerprint
        self.labels = self.engine.labels
        self.preprocess = self.engine.preprocessor()
        self._tensor_codec = TensorCodec(max_raw_bytes=max_payload_bytes)
        self._head_output_shape = (1, *(int(d) for d in self.info.head_output_shape))
        self._jpeg = JpegCodec(max_pixels=max(1, max_payload_bytes // 3))

    def check(self, *, model: str, split: str, head_fingerprint: str, codec: str,
              dtype: str = '', frame_id: str = '') -> None:
        """Refuse frames this edge cannot serve.

        Raises:
            MalformedPayloadError: a string field is longer than its limit
                (:data:`MAX_NAME_CHARS`, :data:`MAX_FINGERPRINT_CHARS`,
                :data:`MAX_FRAME_ID_CHARS`); checked first.
            MismatchError: another model; offload frames while they are
                disabled; another split or head fingerprint (offload frames may
                leave both empty: any camera's JPEG can be served).
        """
        for name, value, limit in (('model', model, MAX_NAME_CHARS),
                                   ('split', split, MAX_NAME_CHARS),
                                   ('codec', codec, MAX_NAME_CHARS),
                                   ('dtype', dtype, MAX_NAME_CHARS),
                                   ('head_fingerprint', head_fingerprint, MAX_FINGERPRINT_CHARS),
                                   ('frame_id', frame_id, MAX_FRAME_ID_CHARS)):
            if len(value) > limit:
                raise MalformedPayloadError(f'{name} of {len(value)} characters is longer than '
                                            f'the limit of {limit}')
        if model != self.spec.model:
            raise MismatchError(f'frame is for model {model!r}, this edge runs {self.spec.model!r}')
        offload = codec == JPEG_CODEC
        if offload and not self.accept_offload:
            raise MismatchError('offload (jpeg) frames are disabled on this edge')
        if split != self.info.split and not (offload and split == ''):
            raise MismatchError(f'frame was split at {split!r}, this edge\'s tail starts '
                                f'after {self.info.split!r}')
        if head_fingerprint != self.head_fingerprint and not (offload and head_fingerprint == ''):
            raise MismatchError(f'head fingerprint {head_fingerprint!r} does not match this '
                                f'edge\'s head {self.head_fingerprint!r}: robot and edge run '
                                'different weights')

    def _offload_image(self, enc: EncodedTensor) -> np.ndarray:
        """Check an offload frame's fields (msg/Bottleneck.msg) and decode its JPEG."""
        if enc.dtype != OFFLOAD_DTYPE:
            raise MalformedPayloadError(f'offload frame with dtype {enc.dtype!r}, expected '
                                        f'{OFFLOAD_DTYPE!r}')
        if len(enc.shape) != 3 or enc.shape[2] != 3 or min(enc.shape) < 1:
            raise MalformedPayloadError(f'offload frame with shape {tuple(enc.shape[:8])} '
                                        f'({len(enc.shape)} dimensions), expected [H, W, 3]')
        height, width = int(enc.shape[0]), int(enc.shape[1])
        if height * width > self._jpeg.max_pixels:
            raise PayloadTooLargeError(f'offload frame of {width}x{height} pixels exceeds the '
                                       f'limit of {self._jpeg.max_pixels}')
        if enc.scale != 0 or enc.zero_point != 0:
            raise MalformedPayloadError(f'offload frame with scale {enc.scale!r} and zero_point '
                                        f'{enc.zero_point!r}, expected 0 and 0')
        if enc.raw_size != height * width * 3:
            raise MalformedPayloadError(f'offload frame with raw_size {enc.raw_size}, expected '
                                        f'H*W*3 = {height * width * 3}')
        return self._jpeg.decode(enc.payload, expect_size=(height, width))

    def process(self, enc: EncodedTensor) -> EdgeOutput:
        """Decode one checked frame and classify it.

        Every field is checked against what this edge's head produces (or, for
        JPEG, against the JPEG header) before the payload is decompressed, so
        no frame allocates more than a valid one. Values that are not finite,
        or a tail output that is not, are refused: no NaN score is returned.

        Raises :class:`bottlefit_ros.codec.CodecError` for a malformed payload.
        """
        if len(enc.payload) > self.max_payload_bytes:
            raise PayloadTooLargeError(f'payload of {len(enc.payload)} bytes exceeds the '
                                       f'limit of {self.max_payload_bytes} bytes')
        t = StageTimes()
        t0 = time.perf_counter_ns()
        if enc.codec == JPEG_CODEC:
            rgb = self._offload_image(enc)
            x = self.preprocess(rgb)
            part = 'whole'
        else:
            z = self._tensor_codec.decode(enc, expect_shape=self._head_output_shape)
            # q8 values are finite by construction (the codec bounds the scale).
            if enc.codec not in _TENSOR_CODECS_QUANTIZED and not np.isfinite(z).all():
                raise MalformedPayloadError('tensor holds NaN or infinity')
            x = z
            part = 'tail'
        t.decode_ms = _ms(t0)
        t0 = time.perf_counter_ns()
        logits = self.engine.run(part, x)
        t.tail_ms = _ms(t0)
        if not np.isfinite(logits).all():
            raise MalformedPayloadError('the tail\'s output is not finite: the input values are '
                                        'out of the range this model handles')
        return EdgeOutput(top_k(logits, self.labels, self.k), t)


class SeqGaps:
    """Frames that sources numbered but that never arrived, from gaps in their numbers.

    Each source (a publisher, or whatever identifies a camera) numbers what it
    sends 1, 2, 3, ... (DDS sample numbers) or 0, 1, 2, ... (``seq``); a number
    ahead of the source's last one by ``1 < d <= max_gap`` means ``d - 1``
    frames were lost on the way (or dropped by a full queue before the
    receiver's callback): they are added to :attr:`missed`. A repeated or
    older number (a restarted camera, a duplicate) or a jump beyond
    ``max_gap`` (a forged ``seq``) is counted in :attr:`discontinuities`
    instead, so one message cannot add more than ``max_gap`` to
    :attr:`missed`. A source's first number is compared with ``first``, the
    number sources start from (frames sent before the receiver matched count
    as missed; a receiver started long after its source sees a
    discontinuity). At most ``max_sources`` sources are remembered (least
    recently seen forgotten first), so memory stays bounded.
    """

    def __init__(self, *, max_sources: int = 256, max_gap: int = 1000) -> None:
        self.max_sources = max_sources
        self.max_gap = max_gap
        self.missed = 0
        self.discontinuities = 0
        self._last: OrderedDict[Hashable, int] = OrderedDict()

    def update(self, source: Hashable, seq: int, first: int | None = 0) -> int:
        """Record number ``seq`` from ``source`` (whose numbers start at
        ``first``; None: count from the first number seen, for a receiver that
        may join a source long running); return how many frames it shows missed."""
        last = self._last.pop(source, (seq if first is None else first) - 1)
        self._last[source] = seq
        if len(self._last) > self.max_sources:
            self._last.popitem(last=False)
        gap = seq - last - 1
        if 0 < gap <= self.max_gap:
            self.missed += gap
            return gap
        if gap != 0:
            self.discontinuities += 1
        return 0
