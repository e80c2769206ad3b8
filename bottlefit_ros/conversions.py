"""Message <-> core object conversions, in one place.

The nodes call these and nothing else touches message fields, so the
message definitions in ``msg/`` and the core types change together here.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from cv_bridge import CvBridge, CvBridgeError
from sensor_msgs.msg import Image

from bottlefit_ros.codec import EncodedTensor, MalformedPayloadError
from bottlefit_ros.framelog import frame_metrics_fields
from bottlefit_ros.metrics import FrameRecord
from bottlefit_ros.msg import Bottleneck, Classification, FrameMetrics, StageTimings
from bottlefit_ros.runtime import StageTimes, TopK

_BRIDGE = CvBridge()


def image_to_rgb(msg: Image) -> np.ndarray:
    """A ``sensor_msgs/Image`` (any encoding cv_bridge converts) as RGB uint8.

    Raises ``ValueError`` for encodings cv_bridge cannot convert or data that
    does not fit the declared size, so the caller can log, count and drop it.
    """
    expected = int(msg.step) * int(msg.height)
    if msg.height == 0 or msg.width == 0 or len(msg.data) < expected:
        raise ValueError(f'image {msg.width}x{msg.height} (step {msg.step}) does not fit '
                         f'{len(msg.data)} data bytes')
    try:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding='rgb8')
    except (CvBridgeError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f'cannot convert {msg.encoding!r} image to rgb8: {exc}') from None


def rgb_to_image(rgb: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """An RGB uint8 array as an ``rgb8`` ``sensor_msgs/Image``."""
    msg = _BRIDGE.cv2_to_imgmsg(np.ascontiguousarray(rgb, dtype=np.uint8), encoding='rgb8')
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
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
    view of the message's buffer, not a copy."""
    try:
        shape = tuple(int(s) for s in msg.shape)
    except (TypeError, ValueError) as exc:
        raise MalformedPayloadError(f'unreadable shape: {exc}') from None
    return EncodedTensor(codec=msg.codec, dtype=msg.dtype, shape=shape, scale=float(msg.scale),
                         zero_point=int(msg.zero_point), raw_size=int(msg.raw_size),
                         payload=memoryview(msg.payload))


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
