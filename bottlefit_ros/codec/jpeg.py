"""JPEG codec for edge offloading: the robot sends the image, not a tensor.

The API takes and returns RGB; OpenCV's BGR stays inside this module.
"""

from __future__ import annotations

import cv2
import numpy as np

from bottlefit_ros.codec.errors import CodecError, MalformedPayloadError, PayloadTooLargeError

__all__ = ["JpegCodec"]

# Start-of-frame markers carry the image size: SOF0..SOF15 except DHT (C4),
# JPG (C8) and DAC (CC), which share the range.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM and RST0..RST7.
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def _read_jpeg_size(data: memoryview) -> tuple[int, int]:
    """Return ``(height, width)`` from the SOF segment, without decoding.

    ``data`` is a byte-format memoryview (its items are ints).

    Raises:
        MalformedPayloadError: not a JPEG, or no complete SOF before SOS/EOI.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != _SOI:
        msg = f"not a JPEG: payload of {n} B starts with {bytes(data[:4]).hex()!r}, not SOI 'ffd8'"
        raise MalformedPayloadError(msg)
    i = 2
    while True:
        if i >= n:
            msg = f"truncated JPEG: no frame header (SOF) in {n} B"
            raise MalformedPayloadError(msg)
        if data[i] != 0xFF:
            msg = f"corrupt JPEG: expected a marker at offset {i}, found 0x{data[i]:02x}"
            raise MalformedPayloadError(msg)
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            continue
        marker = data[i]
        i += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if marker in (_SOS, _EOI, _SOI):
            msg = (
                f"corrupt JPEG: marker 0x{marker:02x} at offset {i - 1} "
                "before any frame header (SOF)"
            )
            raise MalformedPayloadError(msg)
        if i + 2 > n:
            msg = f"truncated JPEG: segment 0x{marker:02x} at offset {i - 1} has no length"
            raise MalformedPayloadError(msg)
        length = (data[i] << 8) | data[i + 1]
        if marker in _SOF_MARKERS:
            if length < 8 or i + 8 > n:
                msg = (
                    f"truncated JPEG: frame header (SOF) of length {length} "
                    f"at offset {i - 1} in {n} B"
                )
                raise MalformedPayloadError(msg)
            height = (data[i + 3] << 8) | data[i + 4]
            width = (data[i + 5] << 8) | data[i + 6]
            if height == 0 or width == 0:
                msg = f"unsupported JPEG: frame header declares {width}x{height} (DNL or empty)"
                raise MalformedPayloadError(msg)
            return height, width
        if length < 2:
            msg = f"corrupt JPEG: segment 0x{marker:02x} at offset {i - 1} has length {length}"
            raise MalformedPayloadError(msg)
        i += length


class JpegCodec:
    """Encodes RGB images to JPEG bytes and decodes them back, with limits.

    Args:
        quality: JPEG quality, 1..100.
        max_pixels: the largest ``height * width`` :meth:`decode` accepts,
            checked from the JPEG header before decoding.

    Raises:
        ValueError: ``quality`` or ``max_pixels`` is out of range.
    """

    def __init__(self, quality: int = 90, *, max_pixels: int = 4096 * 4096) -> None:
        if not isinstance(quality, int) or isinstance(quality, bool) or not 1 <= quality <= 100:
            msg = f"JPEG quality must be an int in 1..100, got {quality!r}"
            raise ValueError(msg)
        if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
            msg = f"max_pixels must be an int >= 1, got {max_pixels!r}"
            raise ValueError(msg)
        self._quality = quality
        self._max_pixels = max_pixels

    @property
    def quality(self) -> int:
        """JPEG quality used by :meth:`encode`."""
        return self._quality

    @property
    def max_pixels(self) -> int:
        """The largest ``height * width`` :meth:`decode` accepts."""
        return self._max_pixels

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._quality}, max_pixels={self._max_pixels})"

    def encode(self, rgb: np.ndarray) -> bytes:
        """Encode a uint8 image, HxWx3 RGB or HxW (or HxWx1) grey, to JPEG.

        Raises:
            TypeError: ``rgb`` is not a uint8 numpy array.
            CodecError: bad shape, or the encoder failed (e.g. a side > 65535).
        """
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
            got = rgb.dtype if isinstance(rgb, np.ndarray) else type(rgb).__name__
            msg = f"expected a uint8 numpy.ndarray, got {got}"
            raise TypeError(msg)
        if rgb.ndim == 3 and rgb.shape[2] == 1:
            rgb = rgb[:, :, 0]
        if not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)) or rgb.size == 0:
            msg = f"expected a non-empty HxWx3 (RGB) or HxW (grey) image, got shape {rgb.shape}"
            raise CodecError(msg)
        image = np.ascontiguousarray(rgb)
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        try:
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        except cv2.error as e:
            ok, reason = False, str(e).strip()
        else:
            reason = "cv2.imencode returned False"
        if not ok:
            msg = f"JPEG encoding of a {rgb.shape} image failed: {reason}"
            raise CodecError(msg)
        return buf.tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        """Decode JPEG bytes (any bytes-like object) to a HxWx3 uint8 RGB array.

        The size in the JPEG header is checked against ``max_pixels`` before
        anything is decoded. EXIF orientation is ignored. Not every damage is
        detectable: libjpeg (through OpenCV) rejects a truncated stream but
        decodes one whose entropy-coded data is damaged or short, filling
        what it could not decode (it only prints a warning).

        Raises:
            PayloadTooLargeError: the header declares more than ``max_pixels``.
            MalformedPayloadError: not a JPEG, truncated or corrupt.
        """
        try:
            buf = np.frombuffer(data, np.uint8)
        except (TypeError, ValueError):
            msg = f"JPEG payload must be bytes-like, got {type(data).__name__}"
            raise MalformedPayloadError(msg) from None
        height, width = _read_jpeg_size(memoryview(buf))
        if height * width > self._max_pixels:
            msg = (
                f"JPEG header declares {width}x{height} = {height * width} pixels "
                f"> max_pixels {self._max_pixels}"
            )
            raise PayloadTooLargeError(msg)
        try:
            image = cv2.imdecode(buf, _IMREAD_FLAGS)
        except cv2.error as e:
            msg = f"corrupt JPEG of {buf.size} B: {str(e).strip()}"
            raise MalformedPayloadError(msg) from None
        if image is None:
            msg = f"corrupt or truncated JPEG of {buf.size} B ({width}x{height})"
            raise MalformedPayloadError(msg)
        if image.shape != (height, width, 3):
            msg = f"JPEG decoded to shape {image.shape}, header declares {width}x{height}"
            raise MalformedPayloadError(msg)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)
