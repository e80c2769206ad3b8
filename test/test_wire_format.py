"""msg/Bottleneck.msg is a wire-format specification: a decoder written from its
text alone, with numpy and zstandard (no project code), decodes real messages
made by the project's encoder to what the project decodes; the head fingerprint
is computed as the text says."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import zstandard

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage

from bottlefit_ros.codec import CODECS, TensorCodec
from bottlefit_ros.conversions import bottleneck_msg, compressed_image_msg, encoded_from_msg
from bottlefit_ros.msg import Bottleneck
from bottlefit_ros.runtime import ModelSpec, RobotRunner, StageTimes
from bottlefit_ros.sources import FolderSource

pytestmark = pytest.mark.slow

MSG_TEXT = (Path(__file__).resolve().parents[1] / 'msg' / 'Bottleneck.msg').read_text()


def _constants() -> dict[str, str]:
    """The string and number constants declared in the .msg text."""
    return {m[2]: m[3].strip('"') for m in
            re.finditer(r'^(string|uint8|uint32|float32) ([A-Z0-9_]+)=(\S+)', MSG_TEXT, re.M)}


C = _constants()


def independent_decode(msg: Bottleneck) -> np.ndarray:
    """A decoder following msg/Bottleneck.msg, step by step, numpy + zstandard only."""
    shape = [int(d) for d in msg.shape]
    assert 1 <= len(shape) <= int(C['MAX_DIMS']) and min(shape) >= 1
    quantized = msg.codec in (C['CODEC_Q8_ZSTD'], C['CODEC_Q8'])
    assert msg.codec in (C['CODEC_Q8_ZSTD'], C['CODEC_Q8'], C['CODEC_F32_ZSTD'], C['CODEC_F32'])
    assert msg.dtype == C['DTYPE_FLOAT32']
    n = int(np.prod(shape))
    assert msg.raw_size == n * (1 if quantized else 4)                       # step 1
    payload = bytes(msg.payload)
    if msg.codec.endswith('+zstd'):                                         # step 2
        params = zstandard.get_frame_parameters(payload)
        assert params.content_size == msg.raw_size and params.has_checksum
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=msg.raw_size)
    else:
        raw = payload
    assert len(raw) == msg.raw_size
    if quantized:                                                           # step 3
        assert 0 < msg.scale <= float(C['MAX_SCALE']) and 0 <= msg.zero_point <= 255
        q = np.frombuffer(raw, np.uint8)
        x = (q.astype(np.float32) - np.float32(msg.zero_point)) * np.float32(msg.scale)
    else:
        assert msg.scale == 0 and msg.zero_point == 0
        x = np.frombuffer(raw, '<f4').astype(np.float32)
    assert np.isfinite(x).all()
    return x.reshape(shape, order='C')                                      # step 4


@pytest.fixture(scope='module')
def robot() -> RobotRunner:
    return RobotRunner(ModelSpec(), mode='split')


@pytest.fixture(scope='module')
def head_output(robot: RobotRunner) -> np.ndarray:
    rgb = FolderSource(loop=False).read()
    return robot.engine.run('head', robot.preprocess(rgb))


def test_constants_name_every_codec() -> None:
    assert {v for k, v in C.items() if k.startswith('CODEC_')} == set(CODECS)
    assert {v for k, v in C.items() if k.startswith('DTYPE_')} == {'float32'}
    assert (Bottleneck.CODEC_Q8_ZSTD, Bottleneck.DTYPE_FLOAT32) == ('q8+zstd', 'float32')
    assert 'uint32[<=8] shape' in MSG_TEXT


@pytest.mark.parametrize('codec', CODECS)
def test_independent_decoder_reads_real_messages(codec: str, robot: RobotRunner,
                                                 head_output: np.ndarray) -> None:
    enc = TensorCodec(codec).encode(head_output)
    msg = bottleneck_msg(enc, stamp=Time(sec=1, nanosec=2), frame_id='cam', seq=3, model=robot.info.model,
                         split=robot.info.split, head_fingerprint=robot.head_fingerprint,
                         timings=StageTimes())
    # What a subscriber in another language gets: the serialized message.
    wire = deserialize_message(serialize_message(msg), Bottleneck)
    ours = independent_decode(wire)
    np.testing.assert_array_equal(ours, TensorCodec().decode(encoded_from_msg(wire)))
    tolerance = enc.scale / 2 * 1.001 if enc.scale else 0
    np.testing.assert_allclose(ours, head_output, rtol=0, atol=tolerance)


def test_default_robot_sends_q8_zstd_with_content_size_and_checksum(robot: RobotRunner) -> None:
    enc = robot.process(FolderSource(loop=False).read()).encoded
    assert enc.codec == C['CODEC_Q8_ZSTD']
    params = zstandard.get_frame_parameters(enc.payload)
    assert params.content_size == enc.raw_size and params.has_checksum


def test_offload_message_carries_what_the_text_says() -> None:
    # Offload is a sensor_msgs/CompressedImage: the JPEG of the frame, format
    # "jpeg" (image_transport and Foxglove read it), header = the frame's.
    rgb = FolderSource(loop=False).read()
    out = RobotRunner(ModelSpec(), mode='offload').process(rgb)
    msg = compressed_image_msg(out.jpeg, fmt=out.jpeg_format, stamp=Time(sec=1, nanosec=2),
                               frame_id='cam')
    wire = deserialize_message(serialize_message(msg), CompressedImage)
    assert wire.format == 'jpeg'
    assert (wire.header.frame_id, wire.header.stamp.sec, wire.header.stamp.nanosec) == ('cam', 1, 2)
    data = bytes(wire.data)
    h, w = rgb.shape[:2]
    i = data.index(b'\xff\xc0') + 5                             # baseline SOF0: height, width
    assert (int.from_bytes(data[i:i + 2], 'big'), int.from_bytes(data[i + 2:i + 4], 'big')) == (h, w)
    assert data[:2] == b'\xff\xd8' and data[-2:] == b'\xff\xd9'
    # An independent decoder (OpenCV alone, as image_transport's compressed
    # subscriber does for a format without ";": a bgr8 JPEG) gets the frame back.
    import cv2
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(bgr[:, :, ::-1].astype(int) - rgb).mean() < 6


def test_head_fingerprint_computed_as_documented(robot: RobotRunner) -> None:
    head = ModelSpec().build().head
    digest = hashlib.sha256()
    for name, tensor in head.state_dict().items():
        dims = [int(d) for d in tensor.shape]
        shape = f'({dims[0]},)' if len(dims) == 1 else '(' + ', '.join(map(str, dims)) + ')'
        digest.update(f'{name}\0{tensor.dtype}\0{shape}\0'.encode())
        values = tensor.numpy()
        digest.update(values.astype(values.dtype.newbyteorder('<')).tobytes(order='C'))
    assert digest.hexdigest()[:16] == robot.head_fingerprint
    assert re.fullmatch(r'[0-9a-f]{16}', robot.head_fingerprint)


def test_documented_limits_are_the_enforced_ones() -> None:
    from bottlefit_ros.codec import MAX_DIMS, MAX_SCALE
    from bottlefit_ros.runtime import (MAX_FINGERPRINT_CHARS, MAX_FRAME_ID_CHARS,
                                       MAX_NAME_CHARS, SeqGaps)
    assert Bottleneck.MAX_DIMS == MAX_DIMS
    assert np.float32(Bottleneck.MAX_SCALE) == np.float32(MAX_SCALE)
    assert (Bottleneck.MAX_NAME_LENGTH, Bottleneck.MAX_FINGERPRINT_LENGTH,
            Bottleneck.MAX_FRAME_ID_LENGTH) == (MAX_NAME_CHARS, MAX_FINGERPRINT_CHARS,
                                                MAX_FRAME_ID_CHARS)
    assert not hasattr(Bottleneck, 'DTYPE_UINT8') and not hasattr(Bottleneck, 'CODEC_JPEG')
    assert f'1 < d <= {SeqGaps().max_gap}' in MSG_TEXT
