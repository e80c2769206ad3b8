"""Tensor codecs: 8-bit quantization and/or zstd compression of a float32 tensor.

=============  ==========================  ===================
codec          payload                     ``raw_size``
=============  ==========================  ===================
``q8+zstd``    zstd frame of uint8 values  ``prod(shape)``
``q8``         uint8 values                ``prod(shape)``
``f32+zstd``   zstd frame of float32 (LE)  ``4 * prod(shape)``
``f32``        float32 values (LE)         ``4 * prod(shape)``
=============  ==========================  ===================

Values are in C order. Quantized codecs carry ``scale`` and ``zero_point``
(see :mod:`bottlefit_ros.codec.quantization`); the others carry 0 and 0. zstd
frames hold one frame with its content size and a checksum.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass, field

import numpy as np
import zstandard

from bottlefit_ros.codec.errors import (
    CodecError,
    MalformedPayloadError,
    PayloadTooLargeError,
    UnknownCodecError,
)
from bottlefit_ros.codec.quantization import MAX_SCALE, dequantize_8bit, quantize_8bit

__all__ = ["CODECS", "MAX_DIMS", "EncodedTensor", "TensorCodec"]

CODECS: tuple[str, ...] = ("q8+zstd", "q8", "f32+zstd", "f32")
"""Names of the tensor codecs, as written in ``EncodedTensor.codec``."""

_QUANTIZED = frozenset({"q8+zstd", "q8"})
_COMPRESSED = frozenset({"q8+zstd", "f32+zstd"})
_DTYPE = "float32"
_WIRE_FLOAT = np.dtype("<f4")
_MIN_LEVEL = -(1 << 17)  # ZSTD_minCLevel(); python-zstandard clamps silently
_MAX_RAW_BYTES = 2**32 - 1  # raw_size is a uint32 in the message
MAX_DIMS = 8
"""The most dimensions a shape may have (``uint32[<=8] shape`` in the message)."""


@dataclass(frozen=True, slots=True)
class EncodedTensor:
    """One encoded tensor; the fields map 1:1 onto the Bottleneck message."""

    codec: str
    """One of :data:`CODECS`."""
    dtype: str
    """Element type after decoding: ``"float32"``."""
    shape: tuple[int, ...]
    """Decoded tensor shape."""
    scale: float
    """Quantization step (> 0); 0.0 for unquantized codecs."""
    zero_point: int
    """Quantized value standing for 0.0 (0..255); 0 for unquantized codecs."""
    raw_size: int
    """Bytes after decompression, before dequantization."""
    payload: bytes = field(repr=False)
    """What is sent; ``len(payload)`` is the transmitted size."""


class TensorCodec:
    """Encodes and decodes float32 tensors, reusing one zstd (de)compressor.

    ``codec`` is what :meth:`encode` produces; :meth:`decode` accepts any of
    :data:`CODECS`, as named by the encoded tensor. Reusing the zstd contexts is
    much faster for small inputs (python-zstandard ``docs/api_usage.rst``), but
    a context must not be used by two threads at once: **an instance is not
    thread-safe**; use one per thread (or per callback group).

    Args:
        codec: the codec :meth:`encode` uses, one of :data:`CODECS`.
        level: zstd compression level, -131072..22 (negative: faster).
        max_raw_bytes: the largest ``raw_size`` accepted (1..2**32 - 1), by
            :meth:`decode` and by :meth:`encode` alike.

    Raises:
        UnknownCodecError: ``codec`` is not in :data:`CODECS`.
        ValueError: ``level`` or ``max_raw_bytes`` is out of range.
    """

    def __init__(
        self,
        codec: str = "q8+zstd",
        *,
        level: int = 3,
        max_raw_bytes: int = 64 * 2**20,
    ) -> None:
        if codec not in CODECS:
            msg = f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}"
            raise UnknownCodecError(msg)
        max_level = zstandard.MAX_COMPRESSION_LEVEL
        if (
            not isinstance(level, int)
            or isinstance(level, bool)
            or not _MIN_LEVEL <= level <= max_level
        ):
            msg = f"zstd level must be an int in {_MIN_LEVEL}..{max_level}, got {level!r}"
            raise ValueError(msg)
        if (
            not isinstance(max_raw_bytes, int)
            or isinstance(max_raw_bytes, bool)
            or not 1 <= max_raw_bytes <= _MAX_RAW_BYTES
        ):
            msg = f"max_raw_bytes must be an int in 1..{_MAX_RAW_BYTES}, got {max_raw_bytes!r}"
            raise ValueError(msg)
        self._codec = codec
        self._level = level
        self._max_raw_bytes = max_raw_bytes
        self._compressor = zstandard.ZstdCompressor(
            level=level, write_content_size=True, write_checksum=True
        )
        self._decompressor = zstandard.ZstdDecompressor()

    @property
    def codec(self) -> str:
        """The codec :meth:`encode` uses."""
        return self._codec

    @property
    def level(self) -> int:
        """The zstd compression level."""
        return self._level

    @property
    def max_raw_bytes(self) -> int:
        """The largest ``raw_size`` accepted."""
        return self._max_raw_bytes

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._codec!r}, level={self._level}, "
            f"max_raw_bytes={self._max_raw_bytes})"
        )

    def encode(self, x: np.ndarray) -> EncodedTensor:
        """Encode a float32 tensor (any layout; sent in C order).

        Raises:
            TypeError: ``x`` is not a float32 numpy array (convert torch
                tensors with ``tensor.numpy()``).
            CodecError: ``x`` is 0-d or empty, or, for quantized codecs,
                holds NaN or infinity.
            PayloadTooLargeError: ``raw_size`` would exceed ``max_raw_bytes``.
        """
        if not isinstance(x, np.ndarray):
            msg = f"expected a numpy.ndarray, got {type(x).__name__} (use tensor.numpy())"
            raise TypeError(msg)
        if x.dtype != np.float32:
            msg = f"expected dtype float32, got {x.dtype}"
            raise TypeError(msg)
        if x.ndim == 0 or x.size == 0:
            msg = f"cannot encode a tensor of shape {x.shape}: need >= 1 dimension and >= 1 element"
            raise CodecError(msg)
        quantized = self._codec in _QUANTIZED
        raw_size = x.size * (1 if quantized else 4)
        if raw_size > self._max_raw_bytes:
            msg = (
                f"tensor of shape {x.shape} needs raw_size {raw_size} B "
                f"> max_raw_bytes {self._max_raw_bytes} B"
            )
            raise PayloadTooLargeError(msg)

        if quantized:
            q = quantize_8bit(x)
            raw, scale, zero_point = q.data, q.scale, q.zero_point
        else:
            raw = np.ascontiguousarray(x, dtype=_WIRE_FLOAT)
            scale, zero_point = 0.0, 0
        if self._codec in _COMPRESSED:
            payload = self._compressor.compress(raw)
        else:
            payload = raw.tobytes()
        return EncodedTensor(
            codec=self._codec,
            dtype=_DTYPE,
            shape=tuple(int(d) for d in x.shape),
            scale=scale,
            zero_point=zero_point,
            raw_size=raw_size,
            payload=payload,
        )

    def decode(
        self, enc: EncodedTensor, *, expect_shape: tuple[int, ...] | None = None
    ) -> np.ndarray:
        """Decode to a new, writable float32 array of shape ``enc.shape``.

        Everything is validated before any allocation, in this order: codec,
        dtype, shape (at most :data:`MAX_DIMS` dimensions), its size against
        ``max_raw_bytes`` and raw_size, shape equal to ``expect_shape`` (if
        given), scale and zero point (``255 * scale`` must be a
        finite float32, so every dequantized value is finite), then the
        payload (its length, or the zstd frame header's content size, then
        decompression bounded by raw_size). All shape arithmetic is linear in
        the number of dimensions. ``enc.payload`` may be any bytes-like object.

        Raises:
            UnknownCodecError: ``enc.codec`` is not in :data:`CODECS`.
            PayloadTooLargeError: ``enc.shape`` needs more than ``max_raw_bytes``.
            MalformedPayloadError: anything else is inconsistent, truncated
                or corrupt.
        """
        codec = enc.codec
        if codec not in CODECS:
            msg = f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}"
            raise UnknownCodecError(msg)
        if enc.dtype != _DTYPE:
            msg = f"unsupported dtype {enc.dtype!r} for codec {codec!r}; expected {_DTYPE!r}"
            raise MalformedPayloadError(msg)
        quantized = codec in _QUANTIZED
        shape = _check_shape(enc.shape)
        raw_size = _check_raw_size(enc.raw_size, shape, 1 if quantized else 4, self._max_raw_bytes)
        if expect_shape is not None and shape != tuple(expect_shape):
            msg = f"shape {shape} is not the expected {tuple(expect_shape)}"
            raise MalformedPayloadError(msg)
        if quantized:
            scale, zero_point = _check_quantization(enc.scale, enc.zero_point)
        else:
            _check_no_quantization(codec, enc.scale, enc.zero_point)
        payload = enc.payload
        try:
            size = memoryview(payload).nbytes
        except TypeError:
            msg = f"payload must be bytes-like, got {type(payload).__name__}"
            raise MalformedPayloadError(msg) from None

        if codec in _COMPRESSED:
            raw = self._decompress(payload, size, raw_size)
        elif size != raw_size:
            msg = f"{codec} payload is {size} B, raw_size says {raw_size} B"
            raise MalformedPayloadError(msg)
        else:
            raw = payload

        if quantized:
            return dequantize_8bit(np.frombuffer(raw, np.uint8).reshape(shape), scale, zero_point)
        # One copy, which makes the result writable and native-endian and
        # leaves the caller's payload buffer alone.
        return np.frombuffer(raw, _WIRE_FLOAT).reshape(shape).astype(np.float32)

    def _decompress(self, payload: bytes, size: int, raw_size: int) -> bytes:
        # python-zstandard's decompress() allocates the content size written in
        # the frame header and ignores max_output_size when there is one (a
        # header declaring 1 TiB raises MemoryError; a smaller lie is
        # allocated). So check the declared size first; max_output_size then
        # bounds frames that declare none.
        try:
            declared = zstandard.frame_content_size(payload)
        except zstandard.ZstdError as e:
            msg = f"payload of {size} B is not a zstd frame: {e}"
            raise MalformedPayloadError(msg) from None
        if declared != -1 and declared != raw_size:
            msg = f"zstd frame header declares {declared} B of content, raw_size says {raw_size} B"
            raise MalformedPayloadError(msg)
        try:
            raw = self._decompressor.decompress(
                payload, max_output_size=raw_size, allow_extra_data=False
            )
        except zstandard.ZstdError as e:
            msg = f"corrupt or truncated zstd payload of {size} B (raw_size {raw_size} B): {e}"
            raise MalformedPayloadError(msg) from None
        if len(raw) != raw_size:
            msg = f"zstd payload decompressed to {len(raw)} B, raw_size says {raw_size} B"
            raise MalformedPayloadError(msg)
        return raw


def _check_shape(shape: object) -> tuple[int, ...]:
    try:
        ndim = len(shape)  # type: ignore[arg-type]
    except TypeError:
        msg = f"shape must be a sequence of ints, got {type(shape).__name__}"
        raise MalformedPayloadError(msg) from None
    if not 1 <= ndim <= MAX_DIMS:
        msg = f"shape must have 1..{MAX_DIMS} dimensions, all > 0, got {ndim} dimensions"
        raise MalformedPayloadError(msg)
    try:
        dims = tuple(operator.index(d) for d in shape)  # type: ignore[attr-defined]
    except TypeError:
        msg = f"shape must be a sequence of ints, got {shape!r}"
        raise MalformedPayloadError(msg) from None
    if any(d <= 0 for d in dims):
        msg = f"shape must have 1..{MAX_DIMS} dimensions, all > 0, got {dims}"
        raise MalformedPayloadError(msg)
    return dims


def _check_raw_size(raw_size: object, shape: tuple[int, ...], itemsize: int, limit: int) -> int:
    """``raw_size`` if it is ``itemsize * prod(shape)`` and at most ``limit``.

    Raises:
        PayloadTooLargeError: the shape needs more than ``limit`` bytes.
        MalformedPayloadError: ``raw_size`` is not an int or does not match.
    """
    try:
        size = operator.index(raw_size)  # type: ignore[arg-type]
    except TypeError:
        msg = f"raw_size must be an int, got {raw_size!r}"
        raise MalformedPayloadError(msg) from None
    expected = itemsize
    for d in shape:  # stops as soon as the product passes the limit: no huge ints
        expected *= d
        if expected > limit:
            msg = f"raw_size {size} B of shape {shape}: the shape needs > max_raw_bytes {limit} B"
            raise PayloadTooLargeError(msg)
    if size != expected:
        msg = (
            f"raw_size {size} B does not match shape {shape}: "
            f"{expected // itemsize} elements x {itemsize} B = {expected} B"
        )
        raise MalformedPayloadError(msg)
    return size


def _check_quantization(scale: object, zero_point: object) -> tuple[float, int]:
    s = float(scale) if isinstance(scale, numbers.Real) else math.nan
    if not (math.isfinite(s) and s > 0):
        msg = f"scale must be finite and > 0, got {scale!r}"
        raise MalformedPayloadError(msg)
    if s > MAX_SCALE:
        msg = f"scale {scale!r} > {MAX_SCALE:.7g}: 255 * scale overflows float32"
        raise MalformedPayloadError(msg)
    try:
        zp = operator.index(zero_point)  # type: ignore[arg-type]
    except TypeError:
        zp = -1
    if not 0 <= zp <= 255:
        msg = f"zero_point must be an int in 0..255, got {zero_point!r}"
        raise MalformedPayloadError(msg)
    return s, zp


def _check_no_quantization(codec: str, scale: object, zero_point: object) -> None:
    if scale != 0 or zero_point != 0:
        msg = (
            f"codec {codec!r} is not quantized: scale and zero_point must be 0, "
            f"got {scale!r} and {zero_point!r}"
        )
        raise MalformedPayloadError(msg)
