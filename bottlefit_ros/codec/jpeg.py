"""JPEG codec for edge offloading: the robot sends the image, not a tensor.

The API takes and returns RGB; OpenCV's BGR stays inside this module.

libjpeg (inside OpenCV) decodes damaged data anyway (a body shorter than the
header's size, a flipped byte) and only prints a warning to the process's
stderr; OpenCV offers no hook for it. :meth:`JpegCodec.decode` therefore
points file descriptor 2 at a private file for the length of the decode, so
the warning never reaches stderr, and rejects the image when libjpeg warned.
Anything else written to stderr meanwhile (another thread's log line) is
copied back to stderr.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading

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
# libjpeg(-turbo)'s warnings (jerror.h, the JWRN_* messages) as it prints them.
_LIBJPEG_WARNING = re.compile(
    rb"^(Corrupt JPEG data|Premature end of JPEG file|Invalid SOS parameters|"
    rb"Inconsistent progression sequence|Application transferred too many scanlines|"
    rb"Unknown Adobe color transform code|Warning: unknown JFIF revision)"
)


class _Stderr:
    """Captures what the C library writes to file descriptor 2 during a block.

    ``with _STDERR as warnings:`` fills ``warnings`` on exit with the lines
    libjpeg wrote; anything else is written back to stderr. One per process
    (fd 2 is), serialized by a lock; the capture file is made on first use
    and reused, so a block costs a few system calls.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file = -1
        self._saved = -1
        self._warnings: list[bytes] = []

    def __enter__(self) -> list[bytes]:
        self._lock.acquire()
        self._warnings = []
        self._saved = -1
        try:
            if self._file < 0:
                fd, path = tempfile.mkstemp(prefix="bottlefit_jpeg_stderr_")
                os.unlink(path)
                self._file = fd
            # Whatever fd 2 is now (a test harness may have redirected it).
            self._saved = os.dup(2)
            os.dup2(self._file, 2)
        except OSError:  # no stderr, or no temporary file: decode uncaptured
            if self._saved >= 0:
                os.close(self._saved)
            self._saved = -1
        except BaseException:
            self._lock.release()
            raise
        return self._warnings

    def __exit__(self, *exc: object) -> None:
        if self._saved < 0:
            self._lock.release()
            return
        try:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            size = os.fstat(self._file).st_size
            if size:
                data = os.pread(self._file, size, 0)
                os.ftruncate(self._file, 0)
                os.lseek(self._file, 0, os.SEEK_SET)
                other = []
                for line in data.splitlines(keepends=True):
                    if _LIBJPEG_WARNING.match(line):
                        self._warnings.append(line.rstrip())
                    else:
                        other.append(line)
                if other:
                    os.write(2, b"".join(other))
        finally:
            self._lock.release()


_STDERR = _Stderr()


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

    def decode(self, data: bytes, *, expect_size: tuple[int, int] | None = None) -> np.ndarray:
        """Decode JPEG bytes (any bytes-like object) to a HxWx3 uint8 RGB array.

        The size in the JPEG header is checked against ``expect_size``
        (``(height, width)``, if given) and ``max_pixels`` before anything is
        decoded. EXIF orientation is ignored. An image libjpeg warns about
        (damaged or short entropy-coded data, which it would fill in; a
        missing end-of-image marker) is rejected; the warning is kept off
        stderr (see the module docstring). Damage that libjpeg does not
        notice (a flipped bit inside a Huffman code that still decodes)
        cannot be detected.

        Raises:
            PayloadTooLargeError: the header declares more than ``max_pixels``.
            MalformedPayloadError: not a JPEG, another size than ``expect_size``,
                truncated or corrupt.
        """
        try:
            buf = np.frombuffer(data, np.uint8)
        except (TypeError, ValueError):
            msg = f"JPEG payload must be bytes-like, got {type(data).__name__}"
            raise MalformedPayloadError(msg) from None
        height, width = _read_jpeg_size(memoryview(buf))
        if expect_size is not None and (height, width) != tuple(expect_size):
            msg = (
                f"JPEG header declares {width}x{height}, expected "
                f"{expect_size[1]}x{expect_size[0]}"
            )
            raise MalformedPayloadError(msg)
        if height * width > self._max_pixels:
            msg = (
                f"JPEG header declares {width}x{height} = {height * width} pixels "
                f"> max_pixels {self._max_pixels}"
            )
            raise PayloadTooLargeError(msg)
        try:
            with _STDERR as warnings:
                image = cv2.imdecode(buf, _IMREAD_FLAGS)
        except cv2.error as e:
            msg = f"corrupt JPEG of {buf.size} B: {str(e).strip()}"
            raise MalformedPayloadError(msg) from None
        if warnings:
            text = warnings[0][:120].decode("ascii", "backslashreplace")
            msg = f"corrupt JPEG of {buf.size} B ({width}x{height}): libjpeg: {text}"
            raise MalformedPayloadError(msg)
        if image is None:
            msg = f"corrupt or truncated JPEG of {buf.size} B ({width}x{height})"
            raise MalformedPayloadError(msg)
        if image.shape != (height, width, 3):
            msg = f"JPEG decoded to shape {image.shape}, header declares {width}x{height}"
            raise MalformedPayloadError(msg)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)
