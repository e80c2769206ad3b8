"""8-bit bottleneck quantization (BottleFit, Matsubara et al., WoWMoM 2022).

Per-tensor asymmetric min/max quantization as in the authors' code
(torchdistill ``common/tensor_util.py``): ``q = round(x / scale + zero_point)``
clamped to 0..255, ``x' = scale * (q - zero_point)``, one float scale and one
integer zero point per tensor.

Two deliberate differences from torchdistill:

* The range is widened to include 0 (``lo = min(x.min(), 0)``,
  ``hi = max(x.max(), 0)``), as PyTorch's ``MinMaxObserver`` does. With an
  integer zero point in 0..255 this is what bounds the error by ``scale / 2``
  for every element: torchdistill clamps the zero point instead, so a tensor
  that lies away from 0 (say all in [10, 11]) is clipped to its first step.
  0.0 is represented exactly (``q == zero_point``). Bottleneck tensors (conv
  outputs) and ReLU outputs already span 0, so they lose no resolution.
* ``max == min`` does not divide by zero. A constant tensor ``c`` is encoded
  exactly, with the general formula: ``scale = |c|`` and ``q = 1, zero_point = 0``
  (``c > 0``) or ``q = 0, zero_point = 1`` (``c < 0``); all zeros use
  ``scale = 1, zero_point = 0``. So ``scale`` is always finite and > 0.

``scale`` is returned as a Python float that is exactly a float32 value (the
message field is float32), rounded up so that the 256 steps cover the range.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from bottlefit_ros.codec.errors import CodecError

__all__ = ["MAX_SCALE", "QuantizedTensor", "dequantize_8bit", "quantize_8bit"]

_QMAX = 255
MAX_SCALE = float(np.float32(float(np.finfo(np.float32).max) / _QMAX))
"""The largest scale (a float32, about 1.33e36): up to it, ``scale * (q - zero_point)``
is a finite float32 for every q and zero point in 0..255, so dequantized values are
always finite. Decoders reject a larger scale."""


class QuantizedTensor(NamedTuple):
    """A uint8 tensor with its dequantization parameters."""

    data: np.ndarray
    """uint8, C-contiguous, same shape as the input."""
    scale: float
    """Step between two quantized values; finite, > 0, exactly a float32."""
    zero_point: int
    """The quantized value that stands for 0.0, in 0..255."""


def _float32_at_least(value: float) -> float:
    """The smallest float32 that is >= ``value`` (``value`` finite, >= 0)."""
    rounded = np.float32(value)
    if float(rounded) < value:
        rounded = np.nextafter(rounded, np.float32(np.inf))
    return float(rounded)


def quantize_8bit(x: np.ndarray) -> QuantizedTensor:
    """Quantize a float tensor to uint8 with one scale and zero point.

    Every element round-trips through :func:`dequantize_8bit` within
    ``scale / 2`` (plus float32 rounding); constant tensors up to
    :data:`MAX_SCALE` in magnitude round-trip exactly.

    Raises:
        TypeError: ``x`` is not a floating-point numpy array.
        CodecError: ``x`` is empty, holds NaN or infinity, or spans a range
            wider than ``255 * MAX_SCALE`` (the float32 maximum).
    """
    if not isinstance(x, np.ndarray):
        msg = f"expected a numpy.ndarray, got {type(x).__name__}"
        raise TypeError(msg)
    if not np.issubdtype(x.dtype, np.floating):
        msg = f"expected a floating-point array, got dtype {x.dtype}"
        raise TypeError(msg)
    if x.size == 0:
        msg = f"cannot quantize an empty tensor of shape {x.shape}"
        raise CodecError(msg)

    x = np.ascontiguousarray(x)
    x_min, x_max = float(x.min()), float(x.max())
    if not (math.isfinite(x_min) and math.isfinite(x_max)):
        msg = f"cannot quantize a tensor holding NaN or infinity (min {x_min}, max {x_max})"
        raise CodecError(msg)

    if x_min == x_max and abs(x_min) <= MAX_SCALE:
        value = float(np.float32(x_min))
        if value == 0.0:
            return QuantizedTensor(np.zeros(x.shape, np.uint8), 1.0, 0)
        scale = abs(value)
        q, zero_point = (1, 0) if value > 0 else (0, 1)
        return QuantizedTensor(np.full(x.shape, q, np.uint8), scale, zero_point)

    lo, hi = min(x_min, 0.0), max(x_max, 0.0)
    step = (hi - lo) / _QMAX
    scale = _float32_at_least(step) if step <= MAX_SCALE else math.inf
    if not scale <= MAX_SCALE:
        msg = f"range [{lo}, {hi}] is wider than 255 * the largest scale {MAX_SCALE:.7g}"
        raise CodecError(msg)
    zero_point = min(max(round(-lo / scale), 0), _QMAX)

    work = np.result_type(x.dtype, np.float32)
    t = np.divide(x, work.type(scale), dtype=work)
    t += zero_point
    np.rint(t, out=t)
    np.clip(t, 0, _QMAX, out=t)
    return QuantizedTensor(t.astype(np.uint8), scale, zero_point)


def dequantize_8bit(data: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Map uint8 values back to float32: ``scale * (data - zero_point)``.

    ``scale`` and ``zero_point`` are used as given; ``TensorCodec.decode``
    validates them before calling this. Returns a new C-contiguous array.

    Raises:
        TypeError: ``data`` is not a uint8 numpy array.
    """
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        got = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        msg = f"expected a uint8 numpy.ndarray, got {got}"
        raise TypeError(msg)
    out = data.astype(np.float32, order="C")
    out -= np.float32(zero_point)
    out *= np.float32(scale)
    return out
