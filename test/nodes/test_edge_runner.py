"""EdgeRunner (ROS-free): every field of a frame is checked against this edge's
head, or against the JPEG header, before anything large is allocated; nothing
non-finite is ever classified."""
from __future__ import annotations

import array
import dataclasses
import math
import tracemalloc

import numpy as np
import pytest
import zstandard

from bottlefit_ros.codec import (EncodedTensor, JpegCodec, MalformedPayloadError,
                                 PayloadTooLargeError, TensorCodec)
from bottlefit_ros.runtime import (JPEG_CODEC, MAX_FRAME_ID_CHARS, MAX_NAME_CHARS, EdgeRunner,
                                   MismatchError, ModelSpec, RobotRunner)
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
def jpeg_frame(rgb: np.ndarray) -> EncodedTensor:
    return RobotRunner(ModelSpec(), mode='offload').process(rgb).encoded


def _check(edge: EdgeRunner, **fields: str) -> None:
    args = dict(model=edge.spec.model, split=edge.info.split,
                head_fingerprint=edge.head_fingerprint, codec='q8+zstd', dtype='float32',
                frame_id='camera')
    edge.check(**{**args, **fields})


# -- tensor frames -------------------------------------------------------------

def test_valid_frames_served(edge: EdgeRunner, split_frame: EncodedTensor,
                             jpeg_frame: EncodedTensor) -> None:
    for frame in (split_frame, jpeg_frame):
        scores = edge.process(frame).result.scores
        assert all(math.isfinite(s) and 0 <= s <= 1 for s in scores)


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


def test_offload_may_omit_split_and_fingerprint_but_not_lie(edge: EdgeRunner) -> None:
    _check(edge, codec=JPEG_CODEC, dtype='uint8', split='', head_fingerprint='')
    _check(edge, codec=JPEG_CODEC, dtype='uint8')
    with pytest.raises(MismatchError, match='split at'):
        _check(edge, codec=JPEG_CODEC, split='blocks.2')
    with pytest.raises(MismatchError, match='fingerprint'):
        _check(edge, codec=JPEG_CODEC, head_fingerprint='0' * 16)
    with pytest.raises(MismatchError, match='fingerprint'):
        _check(edge, head_fingerprint='')     # tensor frames must name their head


# -- offload (JPEG) frames ----------------------------------------------------

def _bad_offload(frame: EncodedTensor) -> list[tuple[str, EncodedTensor, str]]:
    h, w, _ = frame.shape
    body = JpegCodec().encode(np.random.default_rng(1).integers(0, 256, (240, 320, 3), np.uint8))
    i = body.index(b'\xff\xc0') + 5
    big_header = body[:i] + (2360).to_bytes(2, 'big') * 2 + body[i + 4:]
    replace = dataclasses.replace
    return [
        ('dtype float32', replace(frame, dtype='float32'), "dtype 'float32'"),
        ('two dimensions', replace(frame, shape=(h, w)), r'expected \[H, W, 3\]'),
        ('grey shape', replace(frame, shape=(h, w, 1)), r'expected \[H, W, 3\]'),
        ('shape not the header', replace(frame, shape=(h + 1, w, 3), raw_size=(h + 1) * w * 3),
         'JPEG header declares'),
        ('raw_size', replace(frame, raw_size=frame.raw_size + 1), 'raw_size'),
        ('scale', replace(frame, scale=0.5), 'scale'),
        ('zero_point', replace(frame, zero_point=3), 'zero_point'),
        ('header over a small body', replace(frame, shape=(2360, 2360, 3),
                                             raw_size=2360 * 2360 * 3, payload=big_header),
         'libjpeg: Corrupt JPEG data'),
        ('truncated body + EOI', replace(frame, payload=frame.payload[:len(frame.payload) // 2]
                                         + b'\xff\xd9'), 'libjpeg: Corrupt JPEG data'),
    ]


def test_offload_fields_checked(edge: EdgeRunner, jpeg_frame: EncodedTensor,
                                capfd: pytest.CaptureFixture[str]) -> None:
    for name, frame, match in _bad_offload(jpeg_frame):
        with pytest.raises(MalformedPayloadError, match=match):
            edge.process(frame)
        assert edge.process(jpeg_frame).result.labels, name
    assert 'JPEG' not in capfd.readouterr().err     # libjpeg's warnings kept off stderr


def test_offload_over_pixel_limit_rejected_before_decoding(jpeg_frame: EncodedTensor) -> None:
    small = EdgeRunner(ModelSpec(), max_payload_bytes=3 * 1000)
    with pytest.raises(PayloadTooLargeError, match='exceeds the limit of 1000'):
        small.process(dataclasses.replace(jpeg_frame, payload=b'\xff\xd8'))
