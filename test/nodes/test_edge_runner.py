"""EdgeRunner (ROS-free): every field of a frame is checked against this edge's
head, or a JPEG's format string and header, before anything large is allocated;
nothing non-finite is ever classified."""
from __future__ import annotations

import array
import dataclasses
import math
import tracemalloc

import numpy as np
import pytest
import zstandard

from bottlefit_ros.codec import (EncodedTensor, JpegCodec, MalformedPayloadError,
                                 PayloadTooLargeError, TensorCodec, UnknownCodecError)
from bottlefit_ros.runtime import (MAX_FRAME_ID_CHARS, MAX_NAME_CHARS, EdgeRunner, MismatchError,
                                   ModelSpec, RobotOutput, RobotRunner, parse_jpeg_format)
from bottlefit_ros.sources import FolderSource

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def edge() -> EdgeRunner:
    return EdgeRunner(ModelSpec(), max_payload_bytes=16 * 2**20)


@pytest.fixture(scope='module')
def rgb() -> np.ndarray:
    return FolderSource(loop=False).read()


@pytest.fixture(scope='module')
def split_frame(rgb: np.ndarray) -> EncodedTensor:
    return RobotRunner(ModelSpec(), mode='split').process(rgb).encoded


@pytest.fixture(scope='module')
def jpeg_frame(rgb: np.ndarray) -> RobotOutput:
    return RobotRunner(ModelSpec(), mode='offload').process(rgb)


def _check(edge: EdgeRunner, **fields: str) -> None:
    args = dict(model=edge.spec.model, split=edge.info.split,
                head_fingerprint=edge.head_fingerprint, codec='q8+zstd', dtype='float32',
                frame_id='camera')
    edge.check(**{**args, **fields})


# -- tensor frames -------------------------------------------------------------

def test_valid_frames_served(edge: EdgeRunner, split_frame: EncodedTensor,
                             jpeg_frame: RobotOutput) -> None:
    for out in (edge.process(split_frame),
                edge.process_jpeg(jpeg_frame.jpeg, fmt=jpeg_frame.jpeg_format)):
        assert all(math.isfinite(s) and 0 <= s <= 1 for s in out.result.scores)


def test_jpeg_is_not_a_bottleneck_codec(edge: EdgeRunner, split_frame: EncodedTensor,
                                        jpeg_frame: RobotOutput) -> None:
    # Offload frames once travelled in Bottleneck with codec "jpeg": now unknown.
    old = dataclasses.replace(split_frame, codec='jpeg', dtype='uint8', shape=(240, 320, 3),
                              raw_size=240 * 320 * 3, payload=jpeg_frame.jpeg)
    with pytest.raises(UnknownCodecError, match="unknown codec 'jpeg'"):
        edge.process(old)


def test_hundred_thousand_dimensions_rejected_by_count(edge: EdgeRunner,
                                                       split_frame: EncodedTensor) -> None:
    # 400 KB of shape (what once stalled the edge 18 s in big-int arithmetic).
    shape = array.array('I', [2**32 - 1]) * 100_000
    with pytest.raises(MalformedPayloadError, match='1..8 dimensions, all > 0, got 100000'):
        edge.process(dataclasses.replace(split_frame, shape=shape))


def test_small_bomb_of_another_shape_rejected_before_decompressing(
        edge: EdgeRunner, split_frame: EncodedTensor) -> None:
    # 16 MiB of zeros in a few hundred bytes, with a shape and raw_size that
    # agree with it and fit max_payload_bytes, but are not this head's output.
    raw = 16 * 2**20
    bomb = zstandard.ZstdCompressor().compress(bytes(raw))
    assert len(bomb) < 1000
    frame = dataclasses.replace(split_frame, shape=(1, 16, 1024, 1024), raw_size=raw,
                                payload=bomb)
    tracemalloc.start()
    try:
        with pytest.raises(MalformedPayloadError, match='is not the expected'):
            edge.process(frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.parametrize('scale', [3.4e38, 1.4e36])
def test_scale_that_overflows_rejected(edge: EdgeRunner, split_frame: EncodedTensor,
                                       scale: float) -> None:
    with pytest.raises(MalformedPayloadError, match='overflows float32'):
        edge.process(dataclasses.replace(split_frame, scale=scale))


@pytest.mark.parametrize('bad', [math.nan, math.inf, 3e38])
def test_non_finite_values_or_scores_rejected(edge: EdgeRunner, split_frame: EncodedTensor,
                                              bad: float) -> None:
    shape = split_frame.shape
    x = np.zeros(shape, np.float32)
    x.flat[::7] = bad
    frame = TensorCodec('f32+zstd').encode(x)
    with pytest.raises(MalformedPayloadError, match='NaN or infinity|not finite'):
        edge.process(frame)


# -- string fields and identity -----------------------------------------------

@pytest.mark.parametrize(('field', 'limit'), [('model', MAX_NAME_CHARS), ('split', MAX_NAME_CHARS),
                                              ('codec', MAX_NAME_CHARS),
                                              ('head_fingerprint', 64),
                                              ('frame_id', MAX_FRAME_ID_CHARS)])
def test_over_long_strings_are_malformed(edge: EdgeRunner, field: str, limit: int) -> None:
    with pytest.raises(MalformedPayloadError, match=f'{field} of {4 * 2**20} characters'):
        _check(edge, **{field: 'x' * (4 * 2**20)})
    try:                            # at the limit: not malformed (maybe another model)
        _check(edge, **{field: 'x' * limit})
    except MismatchError:
        pass


def test_tensor_frames_must_name_their_head(edge: EdgeRunner) -> None:
    with pytest.raises(MismatchError, match='fingerprint'):
        _check(edge, head_fingerprint='')
    with pytest.raises(MismatchError, match='split at'):
        _check(edge, split='')


# -- offload: JPEG images (sensor_msgs/CompressedImage) ------------------------

@pytest.mark.parametrize(('fmt', 'swapped'), [
    ('rgb8; jpeg compressed bgr8', False), ('bgr8; jpeg compressed bgr8', False),
    ('mono8; jpeg compressed mono8', False), ('rgb8; jpeg compressed rgb8', True),
    ('jpeg', False), (' JPG ', False), ('bgr8; jpeg compressed', False)])
def test_jpeg_formats_accepted(fmt: str, swapped: bool) -> None:
    assert parse_jpeg_format(fmt) is swapped


@pytest.mark.parametrize(('fmt', 'match'), [
    ('png', 'PNG is not served'), ('rgb8; png compressed bgr8', 'PNG is not served'),
    ('16UC1; compressedDepth png', 'expected'), ('', 'expected'), ('h264', 'expected'),
    ('rgb8; jpeg compressed bgr16', 'expected'), ('rgb8; jpeg', 'expected'),
    ('jpeg\n[FATAL] forged', r"'jpeg\\n\[FATAL\] forged'")])
def test_other_formats_refused(fmt: str, match: str) -> None:
    with pytest.raises(UnknownCodecError, match=match):
        parse_jpeg_format(fmt)


def test_rgb_ordered_jpeg_is_swapped_back(edge: EdgeRunner, rgb: np.ndarray,
                                          jpeg_frame: RobotOutput) -> None:
    # A JPEG whose encoder was handed RGB as if BGR ("compressed rgb8"): decoded
    # as usual its colours are swapped; the edge swaps them back and answers alike.
    swapped = JpegCodec(90).encode(np.ascontiguousarray(rgb[:, :, ::-1]))
    want = edge.process_jpeg(jpeg_frame.jpeg, fmt=jpeg_frame.jpeg_format).result
    got = edge.process_jpeg(swapped, fmt='rgb8; jpeg compressed rgb8').result
    assert got.class_ids[0] == want.class_ids[0]
    assert abs(got.scores[0] - want.scores[0]) < 0.05


def _bad_jpegs(jpeg: bytes) -> list[tuple[str, bytes, str, type, str]]:
    body = JpegCodec().encode(np.random.default_rng(1).integers(0, 256, (240, 320, 3), np.uint8))
    i = body.index(b'\xff\xc0') + 5
    big_header = body[:i] + (2360).to_bytes(2, 'big') * 2 + body[i + 4:]
    fmt = 'rgb8; jpeg compressed bgr8'
    return [
        ('empty', b'', fmt, MalformedPayloadError, 'not a JPEG'),
        ('not a JPEG', b'\x89PNG' + bytes(100), fmt, MalformedPayloadError, 'not a JPEG'),
        ('header over a small body', big_header, fmt, MalformedPayloadError,
         'libjpeg: Corrupt JPEG data'),
        ('truncated body + EOI', jpeg[:len(jpeg) // 2] + b'\xff\xd9', fmt,
         MalformedPayloadError, 'libjpeg: Corrupt JPEG data'),
        ('truncated, no EOI', jpeg[:len(jpeg) // 2], fmt, MalformedPayloadError,
         'truncated|Premature end'),
        ('png format', jpeg, 'png', UnknownCodecError, 'PNG'),
        ('long format', jpeg, 'jpeg' + ' ' * 2**20, MalformedPayloadError, 'format of'),
    ]


def test_bad_jpegs_refused_and_libjpeg_kept_off_stderr(edge: EdgeRunner,
                                                       jpeg_frame: RobotOutput,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    for name, data, fmt, error, match in _bad_jpegs(jpeg_frame.jpeg):
        with pytest.raises(error, match=match):
            edge.process_jpeg(data, fmt=fmt)
        assert edge.process_jpeg(jpeg_frame.jpeg, fmt=jpeg_frame.jpeg_format).result.labels, name
    with pytest.raises(MalformedPayloadError, match='frame_id of'):
        edge.process_jpeg(jpeg_frame.jpeg, fmt='jpeg', frame_id='f' * (MAX_FRAME_ID_CHARS + 1))
    assert 'JPEG' not in capfd.readouterr().err     # libjpeg's warnings kept off stderr


def test_jpeg_over_byte_or_pixel_limit_rejected_before_decoding(
        jpeg_frame: RobotOutput) -> None:
    small = EdgeRunner(ModelSpec(), max_payload_bytes=3 * 1000)
    with pytest.raises(PayloadTooLargeError, match='exceeds the limit of 3000 bytes'):
        small.process_jpeg(jpeg_frame.jpeg, fmt='jpeg')
    # 65000 x 65000 declared in 300 bytes: refused from the header, nothing decoded.
    head = bytearray(JpegCodec().encode(np.zeros((8, 8, 3), np.uint8)))
    i = head.index(b'\xff\xc0') + 5
    head[i:i + 4] = (65000).to_bytes(2, 'big') * 2
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLargeError, match='65000x65000'):
            small.process_jpeg(bytes(head), fmt='jpeg')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_offload_disabled_is_a_mismatch(jpeg_frame: RobotOutput) -> None:
    split_only = EdgeRunner(ModelSpec(), accept_offload=False)
    with pytest.raises(MismatchError, match='accept_offload'):
        split_only.process_jpeg(jpeg_frame.jpeg, fmt=jpeg_frame.jpeg_format)


def test_warm_up_serves_each_accepted_kind_once_warm(rgb: np.ndarray,
                                                     split_frame: EncodedTensor) -> None:
    """A fresh edge serves a blank frame of each kind it accepts before any real
    one: times for the tail (bottleneck path) and, with offload, the whole model
    (JPEG path); real frames are served as before, and the robot's warm-up reports
    its parts too."""
    for offload, parts in ((True, {'tail', 'whole'}), (False, {'tail'})):
        edge = EdgeRunner(ModelSpec(), accept_offload=offload, threads=1)
        took = edge.warm_up()
        assert set(took) == parts and all(0 < ms < 60_000 for ms in took.values()), took
        assert edge.process(split_frame).result.labels
    robot = RobotRunner(ModelSpec(), mode='split', modes=('local',), threads=1)
    assert set(robot.warm_up()) == {'head', 'whole'}
