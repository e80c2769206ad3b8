"""Message <-> core object conversions, in one place.

The nodes call these and nothing else touches message fields, so the
message definitions in ``msg/`` and the core types change together here.
"""
from __future__ import annotations

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image

from bottlefit_ros.codec import MAX_DIMS, EncodedTensor, MalformedPayloadError
from bottlefit_ros.framelog import frame_metrics_fields
from bottlefit_ros.metrics import FrameRecord
from bottlefit_ros.msg import Bottleneck, Classification, FrameMetrics, StageTimings
from bottlefit_ros.runtime import StageTimes, TopK

class ImageError(ValueError):
    """An image message that cannot be converted; ``reason`` names the class of
    fault for counters (``encoding``, ``malformed`` or ``too_large``)."""

    reason = 'malformed'


class UnsupportedEncodingError(ImageError):
    """The image's encoding is not one :data:`IMAGE_ENCODINGS` names."""

    reason = 'encoding'


class ImageTooLargeError(ImageError):
    """The image's declared size is over the caller's limit."""

    reason = 'too_large'


# encoding -> (element dtype, channels per pixel, conversion of the (H, W, C)
# array to RGB; ``None``: already RGB). 16-bit images are scaled to 8 bit over
# their full range (value >> 8: a 16UC1 depth image in millimetres comes out
# dark), float images are read as intensities in [0, 1] (clipped, NaN -> 0; a
# depth image in metres comes out mostly white), 8UC3/8UC4 as bgr8/bgra8 (as
# cv_bridge does). yuv422 is UYVY and yuv422_yuy2 is YUYV, BT.601 video range
# (ROS sensor_msgs image_encodings); bayer_XXXX names the colours of the
# top-left 2x2 block.
IMAGE_ENCODINGS: dict[str, tuple[str, int, int | None]] = {
    'rgb8': ('u1', 3, None), 'bgr8': ('u1', 3, cv2.COLOR_BGR2RGB),
    'rgba8': ('u1', 4, cv2.COLOR_RGBA2RGB), 'bgra8': ('u1', 4, cv2.COLOR_BGRA2RGB),
    'rgb16': ('u2', 3, None), 'bgr16': ('u2', 3, cv2.COLOR_BGR2RGB),
    'rgba16': ('u2', 4, cv2.COLOR_RGBA2RGB), 'bgra16': ('u2', 4, cv2.COLOR_BGRA2RGB),
    'mono8': ('u1', 1, cv2.COLOR_GRAY2RGB), '8UC1': ('u1', 1, cv2.COLOR_GRAY2RGB),
    '8UC3': ('u1', 3, cv2.COLOR_BGR2RGB), '8UC4': ('u1', 4, cv2.COLOR_BGRA2RGB),
    'mono16': ('u2', 1, cv2.COLOR_GRAY2RGB), '16UC1': ('u2', 1, cv2.COLOR_GRAY2RGB),
    '32FC1': ('f4', 1, cv2.COLOR_GRAY2RGB),
    'yuv422': ('u1', 2, cv2.COLOR_YUV2RGB_UYVY), 'uyvy': ('u1', 2, cv2.COLOR_YUV2RGB_UYVY),
    'yuv422_yuy2': ('u1', 2, cv2.COLOR_YUV2RGB_YUY2), 'yuyv': ('u1', 2, cv2.COLOR_YUV2RGB_YUY2),
    # OpenCV's Bayer codes name the pattern one pixel diagonally on (as in cv_bridge).
    'bayer_rggb8': ('u1', 1, cv2.COLOR_BayerBG2RGB),
    'bayer_bggr8': ('u1', 1, cv2.COLOR_BayerRG2RGB),
    'bayer_gbrg8': ('u1', 1, cv2.COLOR_BayerGR2RGB),
    'bayer_grbg8': ('u1', 1, cv2.COLOR_BayerGB2RGB),
    'bayer_rggb16': ('u2', 1, cv2.COLOR_BayerBG2RGB),
    'bayer_bggr16': ('u2', 1, cv2.COLOR_BayerRG2RGB),
    'bayer_gbrg16': ('u2', 1, cv2.COLOR_BayerGR2RGB),
    'bayer_grbg16': ('u2', 1, cv2.COLOR_BayerGB2RGB),
}


def _text(value: object, limit: int = 40) -> str:
    """A message-supplied string, printable and short, for an error message."""
    text = str(value)[:limit]
    return text if text.isprintable() else text.encode('unicode_escape').decode('ascii')


def image_to_rgb(msg: Image, *, max_pixels: int | None = None) -> np.ndarray:
    """A ``sensor_msgs/Image`` as a contiguous RGB uint8 ``(H, W, 3)`` array.

    Honours ``step`` (padded rows) and ``is_bigendian``; see
    :data:`IMAGE_ENCODINGS` for the encodings and how each is mapped to 8-bit
    RGB. An unpadded ``rgb8`` image is returned as a view of ``msg.data``.
    Raises :class:`ImageTooLargeError` when ``width * height`` is over
    ``max_pixels`` (checked first, before any data is read),
    :class:`UnsupportedEncodingError` for other encodings, and
    :class:`ImageError` when the size does not fit ``step`` and ``data``.
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if max_pixels is not None and height * width > max_pixels:
        raise ImageTooLargeError(f'image {width}x{height} has more than max_pixels '
                                 f'({max_pixels:,}) pixels')
    entry = IMAGE_ENCODINGS.get(msg.encoding)
    if entry is None:
        raise UnsupportedEncodingError(
            f'unsupported encoding {_text(msg.encoding)!r} (supported: '
            f'{", ".join(IMAGE_ENCODINGS)})')
    kind, channels, conversion = entry
    dtype = np.dtype(kind).newbyteorder('>' if msg.is_bigendian else '<')
    row_bytes = width * channels * dtype.itemsize
    size = len(msg.data)
    if height == 0 or width == 0 or step < row_bytes or size < step * height:
        raise ImageError(f'{_text(msg.encoding)} image {width}x{height} does not fit its step '
                         f'and data: needs step >= {row_bytes} and step x height data bytes, '
                         f'has step {step} and {size} bytes')
    if (channels == 2 and width % 2) or (msg.encoding.startswith('bayer_') and min(width, height) < 2):
        raise ImageError(f'{_text(msg.encoding)} image cannot be {width}x{height}')
    rows = np.frombuffer(msg.data, np.uint8, count=step * height).reshape(height, step)
    img = rows[:, :row_bytes].view(dtype).reshape(height, width, channels)
    if dtype.kind == 'f':
        img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif dtype.itemsize == 2:
        img = (img >> 8).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(img)
    if channels == 1:
        img = img.reshape(height, width)
    return cv2.cvtColor(np.ascontiguousarray(img), conversion)


def rgb_to_image(rgb: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """An RGB uint8 ``(H, W, 3)`` array as an ``rgb8`` ``sensor_msgs/Image``."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) array, got shape {rgb.shape}')
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding = 'rgb8'
    msg.is_bigendian = 0
    msg.step = rgb.shape[1] * 3
    msg.data = rgb.tobytes()
    return msg


def timings_to_msg(t: StageTimes, out: StageTimings | None = None) -> StageTimings:
    """Fill a ``StageTimings`` message from :class:`StageTimes`."""
    m = out if out is not None else StageTimings()
    m.preprocess_ms = float(t.preprocess_ms)
    m.head_ms = float(t.head_ms)
    m.encode_ms = float(t.encode_ms)
    m.decode_ms = float(t.decode_ms)
    m.tail_ms = float(t.tail_ms)
    return m


def timings_from_msg(m: StageTimings) -> StageTimes:
    """:class:`StageTimes` of a ``StageTimings`` message."""
    return StageTimes(m.preprocess_ms, m.head_ms, m.encode_ms, m.decode_ms, m.tail_ms)


def bottleneck_msg(enc: EncodedTensor, *, stamp: Time, frame_id: str, seq: int, model: str,
                   split: str, head_fingerprint: str, timings: StageTimes) -> Bottleneck:
    """The ``Bottleneck`` message for one encoded frame."""
    msg = Bottleneck()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.seq = int(seq)
    msg.model = model
    msg.split = split
    msg.head_fingerprint = head_fingerprint
    msg.codec = enc.codec
    msg.dtype = enc.dtype
    msg.shape = [int(s) for s in enc.shape]
    msg.scale = float(enc.scale)
    msg.zero_point = int(enc.zero_point)
    msg.raw_size = int(enc.raw_size)
    msg.payload = enc.payload
    timings_to_msg(timings, msg.timings)
    return msg


def encoded_from_msg(msg: Bottleneck) -> EncodedTensor:
    """The :class:`EncodedTensor` a ``Bottleneck`` message carries (not yet validated:
    the codec's ``decode`` checks every field before allocating). The payload is a
    view of the message's buffer, not a copy.

    Raises ``MalformedPayloadError`` for a shape of more than ``MAX_DIMS``
    dimensions (checked before the shape is read, so its cost is bounded)."""
    if len(msg.shape) > MAX_DIMS:
        raise MalformedPayloadError(f'shape must have 1..{MAX_DIMS} dimensions, got '
                                    f'{len(msg.shape)} dimensions')
    try:
        shape = tuple(int(s) for s in msg.shape)
    except (TypeError, ValueError) as exc:
        raise MalformedPayloadError(f'unreadable shape: {exc}') from None
    return EncodedTensor(codec=msg.codec, dtype=msg.dtype, shape=shape, scale=float(msg.scale),
                         zero_point=int(msg.zero_point), raw_size=int(msg.raw_size),
                         payload=memoryview(msg.payload))


def compressed_image_msg(jpeg: bytes, *, fmt: str, stamp: Time,
                         frame_id: str) -> CompressedImage:
    """The ``sensor_msgs/CompressedImage`` of one offload frame: the JPEG and its
    format (:data:`bottlefit_ros.runtime.JPEG_FORMAT`)."""
    msg = CompressedImage()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.format = fmt
    msg.data = jpeg
    return msg


def jpeg_from_msg(msg: CompressedImage) -> tuple[memoryview, str]:
    """``(data, format)`` of a ``sensor_msgs/CompressedImage``, not yet validated
    (:meth:`bottlefit_ros.runtime.EdgeRunner.process_jpeg` checks both); the data
    is a view of the message's buffer, not a copy."""
    return memoryview(msg.data), msg.format


def classification_msg(result: TopK, *, header, seq: int, mode: str, model: str,
                        payload_bytes: int, timings: StageTimes) -> Classification:
    """The ``Classification`` message for one frame; ``header`` is the source frame's."""
    msg = Classification()
    msg.header = header
    msg.seq = int(seq)
    msg.mode = mode
    msg.model = model
    msg.class_ids = list(result.class_ids)
    msg.labels = list(result.labels)
    msg.scores = [float(s) for s in result.scores]
    msg.payload_bytes = int(payload_bytes)
    timings_to_msg(timings, msg.timings)
    return msg


def _fill(msg, fields: dict) -> None:
    for key, value in fields.items():
        if isinstance(value, dict):
            _fill(getattr(msg, key), value)
        else:
            setattr(msg, key, value)


def frame_metrics_msg(record: FrameRecord) -> FrameMetrics:
    """The ``FrameMetrics`` message of a monitor record."""
    msg = FrameMetrics()
    _fill(msg, frame_metrics_fields(record))
    return msg
