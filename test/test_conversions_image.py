"""``image_to_rgb``: each supported encoding gives the RGB a driver meant,
honouring ``step`` and ``is_bigendian``; anything else is a ``ValueError``
whose class says why (unsupported encoding, malformed, too large)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('sensor_msgs.msg')
conversions = pytest.importorskip('bottlefit_ros.conversions')   # needs the colcon build
from sensor_msgs.msg import Image  # noqa: E402

from bottlefit_ros.conversions import (ImageError, ImageTooLargeError,  # noqa: E402
                                       UnsupportedEncodingError, image_to_rgb, rgb_to_image)

H, W = 6, 8
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def msg_of(encoding: str, arr: np.ndarray, *, pad: int = 0, bigendian: bool = False) -> Image:
    """``arr`` (H, W[, C]) as an Image whose rows carry ``pad`` extra bytes."""
    rows = np.ascontiguousarray(arr).reshape(arr.shape[0], -1).view(np.uint8)
    if pad:
        rows = np.hstack([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)])
    msg = Image()
    msg.height, msg.width = arr.shape[:2]
    msg.encoding, msg.is_bigendian = encoding, int(bigendian)
    msg.step = rows.shape[1]
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize('pad', [0, 5], ids=['packed', 'padded rows'])
@pytest.mark.parametrize('encoding,arr', [
    ('rgb8', RGB), ('bgr8', RGB[:, :, ::-1]), ('8UC3', RGB[:, :, ::-1]),
    ('rgba8', np.dstack([RGB, np.full((H, W), 7, np.uint8)])),
    ('bgra8', np.dstack([RGB[:, :, ::-1], np.full((H, W), 7, np.uint8)])),
    ('rgb16', RGB.astype(np.uint16) * 257), ('bgr16', RGB[:, :, ::-1].astype(np.uint16) * 257),
])
def test_colour_encodings(encoding, arr, pad):
    out = image_to_rgb(msg_of(encoding, arr, pad=pad))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize('encoding,arr', [
    ('mono8', RGB[:, :, 0]), ('8UC1', RGB[:, :, 0]),
    ('mono16', RGB[:, :, 0].astype(np.uint16) * 256 + 255),
    ('16UC1', RGB[:, :, 0].astype(np.uint16) * 256),
    ('32FC1', RGB[:, :, 0].astype(np.float32) / 255),
])
@pytest.mark.parametrize('bigendian', [False, True], ids=['little-endian', 'big-endian'])
def test_grey_encodings_scaled_to_8_bit(encoding, arr, bigendian):
    data = arr.astype(arr.dtype.newbyteorder('>' if bigendian else '<'))
    out = image_to_rgb(msg_of(encoding, data, pad=3, bigendian=bigendian))
    np.testing.assert_array_equal(out, np.repeat(RGB[:, :, :1], 3, axis=2))


def test_float_image_clipped_to_unit_range_and_nan_black():
    arr = np.array([[-1.0, 0.0, 0.5, 1.0, 7.0, np.nan, np.inf, -np.inf]], np.float32)
    out = image_to_rgb(msg_of('32FC1', arr))
    assert out[0, :, 0].tolist() == [0, 0, 128, 255, 255, 0, 255, 0]


def _flat(colour: tuple[int, int, int]) -> np.ndarray:
    return np.tile(np.array(colour, np.uint8), (H, W, 1))


@pytest.mark.parametrize('encoding,order', [('yuv422', 'UYVY'), ('uyvy', 'UYVY'),
                                            ('yuv422_yuy2', 'YUYV'), ('yuyv', 'YUYV')])
def test_yuv422_byte_orders(encoding, order):
    colour = (200, 40, 90)   # chroma far from grey: swapping Y and U/V would show
    r, g, b = colour         # BT.601 video range, as cameras (and OpenCV's decoder) use
    yuv = [16 + 0.257 * r + 0.504 * g + 0.098 * b, 128 - 0.148 * r - 0.291 * g + 0.439 * b,
           128 + 0.439 * r - 0.368 * g - 0.071 * b]
    y, u, v = (np.full((H, W // 2), round(c), np.uint8) for c in yuv)
    quad = [u, y, v, y] if order == 'UYVY' else [y, u, y, v]
    packed = np.stack(quad, axis=-1).reshape(H, W, 2)
    out = image_to_rgb(msg_of(encoding, packed, pad=4))
    assert np.abs(out.astype(int) - colour).max() <= 3


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
@pytest.mark.parametrize('bits', [8, 16])
def test_bayer_patterns(pattern, bits):
    colour = (220, 120, 30)
    index = {'r': 0, 'g': 1, 'b': 2}
    mosaic = np.empty((H, W), np.uint16 if bits == 16 else np.uint8)
    for dy in (0, 1):
        for dx in (0, 1):
            value = colour[index[pattern[2 * dy + dx]]]
            mosaic[dy::2, dx::2] = value * 257 if bits == 16 else value
    out = image_to_rgb(msg_of(f'bayer_{pattern}{bits}', mosaic))
    assert np.abs(out[2:-2, 2:-2].astype(int) - colour).max() <= 2


@pytest.mark.parametrize('encoding', ['foo', '', 'RGB8', '32FC3', 'jpeg'])
def test_unsupported_encodings(encoding):
    with pytest.raises(UnsupportedEncodingError, match='unsupported encoding'):
        image_to_rgb(msg_of(encoding, RGB))


def test_control_characters_in_encoding_are_escaped_in_the_error():
    with pytest.raises(UnsupportedEncodingError) as info:
        image_to_rgb(msg_of('rgb8\n[FATAL] forged', RGB))
    assert '\n' not in str(info.value)


@pytest.mark.parametrize('change', [
    {'step': W * 3 - 1}, {'data': bytes(H * W * 3 - 1)}, {'height': H + 1},
    {'width': 0}, {'height': 0}, {'encoding': 'yuv422', 'width': 3, 'step': 6},
    {'encoding': 'bayer_rggb8', 'height': 1, 'width': 3, 'step': 3},
], ids=str)
def test_sizes_that_do_not_fit_the_data(change):
    msg = msg_of('rgb8', RGB)
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageError) as info:
        image_to_rgb(msg)
    assert info.value.reason == 'malformed'


def test_too_large_is_checked_before_the_data():
    msg = msg_of('rgb8', RGB)
    msg.width, msg.height, msg.step = 20000, 20000, 60000   # data far too short
    with pytest.raises(ImageTooLargeError, match='max_pixels'):
        image_to_rgb(msg, max_pixels=4096 * 4096)
    assert image_to_rgb(msg_of('rgb8', RGB), max_pixels=H * W).shape == (H, W, 3)


def test_errors_are_value_errors_with_a_reason():
    assert issubclass(ImageError, ValueError)
    assert {UnsupportedEncodingError.reason, ImageTooLargeError.reason, ImageError.reason} == {
        'encoding', 'too_large', 'malformed'}


def test_rgb_to_image_round_trip():
    msg = rgb_to_image(RGB, Image().header.stamp, 'cam')
    assert (msg.encoding, msg.step, msg.header.frame_id) == ('rgb8', W * 3, 'cam')
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)
