"""The per-frame work of each side, ROS-free: what the nodes, the in-process
reference and the benchmark all call.

- :class:`RobotRunner` turns an RGB frame into what the robot sends: the
  encoded bottleneck (``split``), a JPEG (``offload``, sent as a
  ``sensor_msgs/CompressedImage``), or, in ``local`` mode, the classification
  itself.
- :class:`EdgeRunner` validates and decodes what the robot sent: a bottleneck
  (checked against the head this tail belongs to, then the tail) or a JPEG
  from any camera (checked against its format string and limits, then the
  whole model).

Models, codecs and buffers are built once, in the constructors; the per-frame
methods only convert, compute and time. The network runs on a backend of
:mod:`bottlefit_ros.backends` (``torch`` or ``onnxruntime``); this module imports
no PyTorch, so a robot on ONNX Runtime needs none.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

from typing import TYPE_CHECKING

import numpy as np

from bottlefit_ros.backends import load_engine
from bottlefit_ros.deployment import MODES
from bottlefit_ros.codec import (EncodedTensor, JpegCodec, MalformedPayloadError,
                                 PayloadTooLargeError, TensorCodec, UnknownCodecError)

if TYPE_CHECKING:
    from bottlefit_ros.models import SplitModel

# Longest accepted string fields of a frame (msg/Bottleneck.msg documents them);
# anything longer is malformed.
MAX_NAME_CHARS = 64          # model, split, codec, dtype; a CompressedImage's format
MAX_FINGERPRINT_CHARS = 64
MAX_FRAME_ID_CHARS = 256
_TENSOR_CODECS_QUANTIZED = frozenset({'q8+zstd', 'q8'})


# The sensor_msgs/CompressedImage format of the robot's offload JPEG: the plain
# form, which every viewer reads. image_transport's compressed subscriber (rqt)
# decodes a format without ";" as a bgr8 or mono8 JPEG, which is what it is;
# Foxglove documents only plain values (jpeg, png, ...), while its maintainers
# say the verbose "rgb8; jpeg compressed bgr8" that image_transport's publisher
# writes is not supported (ros2/common_interfaces#231). The edge reads both.
JPEG_FORMAT = 'jpeg'


def parse_jpeg_format(fmt: str) -> bool:
    """Check a ``sensor_msgs/CompressedImage`` format names JPEG; return whether
    the JPEG was compressed from RGB-ordered pixels (``... compressed rgb8``: its
    decoded colours are swapped, and must be swapped back).

    Accepted: ``jpeg`` or ``jpg`` alone (a driver's own stream, Foxglove's
    convention), or image_transport's ``ENCODING; jpeg compressed [PIXFMT]`` with
    PIXFMT ``bgr8``, ``rgb8``, ``mono8`` or none; case and spaces are ignored.

    Raises:
        UnknownCodecError: any other format, ``png`` included (not served:
            only the JPEG decoder here is bounded and checked, its size read
            from the header before decoding and libjpeg's damage reports
            caught; no camera of this package sends PNG).
    """
    text = fmt.strip().lower()
    codec, _, rest = text.partition(';')
    words = rest.replace(';', ' ').split() if rest else [codec]
    pixfmt = ''
    if rest:
        if len(words) not in (2, 3) or words[1] != 'compressed':
            words = ['']
        elif len(words) == 3:
            pixfmt = words[2]
    if words[0] in ('jpeg', 'jpg') and pixfmt in ('', 'bgr8', 'rgb8', 'mono8'):
        return pixfmt == 'rgb8'
    why = ('PNG is not served (only JPEG: set the publisher to jpeg)' if words[0] == 'png'
           else 'expected "jpeg" or "ENCODING; jpeg compressed [bgr8|rgb8|mono8]"')
    raise UnknownCodecError(f'compressed image format {_quote(fmt)}: {why}')


def _quote(text: str, limit: int = 40) -> str:
    """A message-supplied string, quoted, printable and short, for an error message."""
    short = repr(text[:limit])
    return short + ('...' if len(text) > limit else '')


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
    encoded: EncodedTensor | None = None      # split mode
    result: TopK | None = None                # local mode
    jpeg: bytes | None = None                 # offload mode: the image ...
    jpeg_format: str = ''                     # ... and its CompressedImage format
    # With keep_input, what classify() needs to answer this frame on the robot:
    # the preprocessed tensor (split), or the RGB frame itself (offload).
    input: np.ndarray | None = None

    @property
    def payload_bytes(self) -> int:
        """Bytes that go on the wire for this frame (the payload, or the JPEG)."""
        if self.encoded is not None:
            return len(self.encoded.payload)
        return len(self.jpeg) if self.jpeg is not None else 0


@dataclass
class EdgeOutput:
    """The edge's classification of one frame."""

    result: TopK
    timings: StageTimes = field(default_factory=StageTimes)


def _ms(t0: int) -> float:
    return (time.perf_counter_ns() - t0) / 1e6


def warm_up(calls: dict[str, Callable[[], object]], runs: int = 2) -> dict[str, float]:
    """Call each of ``calls`` ``runs`` times (the first pays the backend's set-up);
    the milliseconds of each one's last run, by name."""
    took = {}
    for name, call in calls.items():
        for _ in range(max(1, runs)):
            t0 = time.perf_counter_ns()
            call()
            took[name] = _ms(t0)
    return took


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
            jpeg = self._jpeg.encode(rgb)
            t.encode_ms = _ms(t0)
            # A copy: a source may reuse its frame buffer (the synthetic one does).
            return RobotOutput(mode, t, jpeg=jpeg, jpeg_format=JPEG_FORMAT,
                               input=rgb.copy() if keep_input else None)
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

    def warm_up(self) -> dict[str, float]:
        """Run each loaded model part on a blank frame, so that the first real
        frame (or the first fallback, which has a deadline to keep) does not pay
        the backend's first-run set-up; ms per part of the last run (``whole``:
        what answering a frame here costs once warm)."""
        x = self.preprocess(np.zeros((*self.preprocess.size, 3), dtype=np.uint8))
        return warm_up({part: (lambda part=part: self.engine.run(part, x))
                        for part in self.engine.parts})

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
    """The edge side: check, decode, tail (bottleneck frames) or whole model (JPEG).

    ``max_payload_bytes`` bounds both what is accepted on the wire and what a
    payload may expand to; beyond that, a tensor frame's shape must be this
    head's output shape before anything is decompressed, and a JPEG's size (from
    its header) at most ``max_payload_bytes / 3`` pixels before it is decoded, so
    a malformed or hostile frame allocates no more than a valid one.
    ``accept_offload`` loads the whole model for :meth:`process_jpeg`.
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

    def warm_up(self) -> dict[str, float]:
        """Serve a blank frame of each kind this edge accepts (a zero bottleneck:
        decode and tail; with ``accept_offload``, a black JPEG: decode,
        preprocessing and the whole model), so that the first real frames do not
        pay the backend's first-run set-up; ms of each (``tail``, ``whole``)."""
        blank = TensorCodec().encode(np.zeros(self._head_output_shape, dtype=np.float32))
        calls: dict[str, Callable[[], object]] = {'tail': lambda: self.process(blank)}
        if self.accept_offload:
            h, w = self.info.input_size
            jpeg = JpegCodec().encode(np.zeros((h, w, 3), dtype=np.uint8))
            calls['whole'] = lambda: self.process_jpeg(jpeg, fmt=JPEG_FORMAT)
        return warm_up(calls)

    def check(self, *, model: str, split: str, head_fingerprint: str, codec: str,
              dtype: str = '', frame_id: str = '') -> None:
        """Refuse bottleneck frames this edge cannot serve.

        Raises:
            MalformedPayloadError: a string field is longer than its limit
                (:data:`MAX_NAME_CHARS`, :data:`MAX_FINGERPRINT_CHARS`,
                :data:`MAX_FRAME_ID_CHARS`); checked first.
            MismatchError: another model, split or head fingerprint.
        """
        _check_lengths(model=model, split=split, codec=codec, dtype=dtype,
                       head_fingerprint=head_fingerprint, frame_id=frame_id)
        if model != self.spec.model:
            raise MismatchError(f'frame is for model {model!r}, this edge runs {self.spec.model!r}')
        if split != self.info.split:
            raise MismatchError(f'frame was split at {split!r}, this edge\'s tail starts '
                                f'after {self.info.split!r}')
        if head_fingerprint != self.head_fingerprint:
            raise MismatchError(f'head fingerprint {head_fingerprint!r} does not match this '
                                f'edge\'s head {self.head_fingerprint!r}: robot and edge run '
                                'different weights')

    def process(self, enc: EncodedTensor) -> EdgeOutput:
        """Decode one checked bottleneck frame and classify it with the tail.

        Every field is checked against what this edge's head produces before the
        payload is decompressed, so no frame allocates more than a valid one.
        Values that are not finite, or a tail output that is not, are refused:
        no NaN score is returned.

        Raises :class:`bottlefit_ros.codec.CodecError` for a malformed payload
        (:class:`~bottlefit_ros.codec.UnknownCodecError` for a codec not in
        :data:`bottlefit_ros.codec.CODECS`, ``jpeg`` included).
        """
        t = StageTimes()
        t0 = time.perf_counter_ns()
        z = self.decode(enc)
        t.decode_ms = _ms(t0)
        return self._classify('tail', z, t)

    def decode(self, enc: EncodedTensor) -> np.ndarray:
        """The tail's input (batch of one) from a bottleneck frame, checked as
        :meth:`process` says; what a batching edge stacks."""
        self._check_size(enc.payload)
        z = self._tensor_codec.decode(enc, expect_shape=self._head_output_shape)
        # q8 values are finite by construction (the codec bounds the scale).
        if enc.codec not in _TENSOR_CODECS_QUANTIZED and not np.isfinite(z).all():
            raise MalformedPayloadError('tensor holds NaN or infinity')
        return z

    def process_jpeg(self, data: bytes | memoryview, *, fmt: str,
                     frame_id: str = '') -> EdgeOutput:
        """Check, decode and classify (whole model) one JPEG image, e.g. a
        ``sensor_msgs/CompressedImage``'s ``data`` and ``format``: the robot's
        offload frame or any camera's compressed stream.

        Checked in this order: offload enabled, string lengths, the format
        (:func:`parse_jpeg_format`), ``len(data) <= max_payload_bytes``, then the
        size in the JPEG header (SOF) against ``max_payload_bytes / 3`` pixels
        before decoding; a JPEG that libjpeg finds damaged or short is refused.

        Raises:
            MismatchError: this edge was built with ``accept_offload=False``.
            UnknownCodecError: the format names no JPEG.
            PayloadTooLargeError: too many bytes, or the header declares too
                many pixels.
            MalformedPayloadError: an over-long format or frame_id; not a JPEG,
                corrupt or truncated.
        """
        t = StageTimes()
        t0 = time.perf_counter_ns()
        x = self.decode_jpeg(data, fmt=fmt, frame_id=frame_id)
        t.decode_ms = _ms(t0)
        return self._classify('whole', x, t)

    def decode_jpeg(self, data: bytes | memoryview, *, fmt: str,
                    frame_id: str = '') -> np.ndarray:
        """The whole model's input (batch of one) from a JPEG, checked as
        :meth:`process_jpeg` says; what a batching edge stacks."""
        if not self.accept_offload:
            raise MismatchError('offload (JPEG) frames are disabled on this edge '
                                '(accept_offload is false)')
        _check_lengths(format=fmt, frame_id=frame_id)
        swap = parse_jpeg_format(fmt)
        self._check_size(data)
        rgb = self._jpeg.decode(data)
        if swap:
            rgb = np.ascontiguousarray(rgb[:, :, ::-1])
        return self.preprocess(rgb)

    def _check_size(self, payload: bytes | memoryview) -> None:
        if len(payload) > self.max_payload_bytes:
            raise PayloadTooLargeError(f'payload of {len(payload)} bytes exceeds the '
                                       f'limit of {self.max_payload_bytes} bytes')

    def _classify(self, part: str, x: np.ndarray, t: StageTimes) -> EdgeOutput:
        """Run ``part`` (``tail`` or ``whole``) on ``x``; refuse a non-finite output."""
        t0 = time.perf_counter_ns()
        logits = self.engine.run(part, x)
        t.tail_ms = _ms(t0)
        if not np.isfinite(logits).all():
            raise MalformedPayloadError('the tail\'s output is not finite: the input values are '
                                        'out of the range this model handles')
        return EdgeOutput(top_k(logits, self.labels, self.k), t)


_LENGTH_LIMITS = {'model': MAX_NAME_CHARS, 'split': MAX_NAME_CHARS, 'codec': MAX_NAME_CHARS,
                  'dtype': MAX_NAME_CHARS, 'format': MAX_NAME_CHARS,
                  'head_fingerprint': MAX_FINGERPRINT_CHARS, 'frame_id': MAX_FRAME_ID_CHARS}


def _check_lengths(**fields: str) -> None:
    """Raise ``MalformedPayloadError`` for a string field over its limit."""
    for name, value in fields.items():
        limit = _LENGTH_LIMITS[name]
        if len(value) > limit:
            raise MalformedPayloadError(f'{name} of {len(value)} characters is longer than '
                                        f'the limit of {limit}')


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
    discontinuity); those first gaps are also added to :attr:`unheard`, so a
    receiver can tell frames sent before it heard a source from frames that
    went missing later. At most ``max_sources`` sources are remembered (least
    recently seen forgotten first), so memory stays bounded.
    """

    def __init__(self, *, max_sources: int = 256, max_gap: int = 1000) -> None:
        self.max_sources = max_sources
        self.max_gap = max_gap
        self.missed = 0
        self.unheard = 0        # the part of missed sent before a source's first number here
        self.discontinuities = 0
        self._last: OrderedDict[Hashable, int] = OrderedDict()

    def update(self, source: Hashable, seq: int, first: int | None = 0) -> int:
        """Record number ``seq`` from ``source`` (whose numbers start at
        ``first``; None: count from the first number seen, for a receiver that
        may join a source long running); return how many frames it shows missed."""
        known = source in self._last
        last = self._last.pop(source, (seq if first is None else first) - 1)
        self._last[source] = seq
        if len(self._last) > self.max_sources:
            self._last.popitem(last=False)
        gap = seq - last - 1
        if 0 < gap <= self.max_gap:
            self.missed += gap
            if not known:
                self.unheard += gap
            return gap
        if gap != 0:
            self.discontinuities += 1
        return 0
