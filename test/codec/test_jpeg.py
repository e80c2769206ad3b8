"""JpegCodec: round trip, colour order, header limits, bad input, sample photos."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from bottlefit_ros.codec import CodecError, JpegCodec, MalformedPayloadError, PayloadTooLargeError
from bottlefit_ros.codec import jpeg as jpeg_module

SAMPLES = Path(__file__).resolve().parents[2] / "bottlefit_ros" / "data" / "samples"


def _smooth_image(height: int = 96, width: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 127.5 + 127.5 * np.sin(x / width * 2 * np.pi)
    g = 255 * y / (height - 1)
    b = 127.5 + 100 * np.cos((x + y) / (height + width) * 3 * np.pi)
    return np.stack([r, g, b], axis=-1).round().astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def _sof_offset(data: bytes) -> int:
    """Offset of the height field in the (first) SOF0 segment of a baseline JPEG."""
    return data.index(b"\xff\xc0") + 5


def _with_size(data: bytes, height: int, width: int) -> bytes:
    i = _sof_offset(data)
    return data[:i] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[i + 4 :]


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any call to cv2.imdecode from the codec fail the test."""

    def fail(*args: object) -> None:
        pytest.fail("cv2.imdecode was called")

    monkeypatch.setattr(jpeg_module.cv2, "imdecode", fail)


# -- round trip --------------------------------------------------------------


def test_round_trip_psnr() -> None:
    image = _smooth_image()
    codec = JpegCodec(90)
    data = codec.encode(image)
    assert isinstance(data, bytes)
    assert data[:2] == b"\xff\xd8"
    decoded = codec.decode(data)
    assert decoded.dtype == np.uint8
    assert decoded.shape == image.shape
    assert decoded.flags.writeable
    assert _psnr(decoded, image) > 30


def test_quality_changes_size() -> None:
    image = _smooth_image()
    assert len(JpegCodec(30).encode(image)) < len(JpegCodec(95).encode(image))


@pytest.mark.parametrize(
    "rgb", [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 128, 0)], ids=["red", "green", "blue", "orange"]
)
def test_rgb_order_preserved(rgb: tuple[int, int, int]) -> None:
    image = np.empty((32, 48, 3), np.uint8)
    image[:] = rgb
    codec = JpegCodec()
    decoded = codec.decode(codec.encode(image))
    assert np.abs(decoded.reshape(-1, 3).mean(axis=0) - rgb).max() < 8


def test_red_is_red_for_opencv_too() -> None:
    # The bytes hold a red image for any other decoder as well (not a blue one).
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    bgr = cv2.imdecode(np.frombuffer(JpegCodec().encode(red), np.uint8), cv2.IMREAD_COLOR)
    assert bgr[..., 2].min() > 240
    assert bgr[..., :2].max() < 15


@pytest.mark.parametrize("shape", [(40, 30), (40, 30, 1)])
def test_grey_input_decodes_to_rgb(shape: tuple[int, ...]) -> None:
    grey = np.full(shape, 77, np.uint8)
    codec = JpegCodec()
    decoded = codec.decode(codec.encode(grey))
    assert decoded.shape == (40, 30, 3)
    assert np.abs(decoded.astype(int) - 77).max() <= 2


def test_non_contiguous_input() -> None:
    image = _smooth_image()[::2, ::-1]
    codec = JpegCodec()
    assert _psnr(codec.decode(codec.encode(image)), image) > 30


@pytest.mark.parametrize("wrap", [bytearray, memoryview], ids=["bytearray", "memoryview"])
def test_decode_accepts_bytes_like(wrap) -> None:
    codec = JpegCodec()
    data = codec.encode(_smooth_image())
    np.testing.assert_array_equal(codec.decode(wrap(data)), codec.decode(data))


# -- constructor and encode errors -------------------------------------------


@pytest.mark.parametrize("quality", [0, 101, -5, 90.0, True, "90", None])
def test_quality_validated(quality: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"JPEG quality must be an int in 1..100, got {quality!r}")):
        JpegCodec(quality)  # type: ignore[arg-type]


@pytest.mark.parametrize("quality", [1, 100])
def test_quality_bounds_accepted(quality: int) -> None:
    assert JpegCodec(quality).quality == quality


@pytest.mark.parametrize("max_pixels", [0, -1, 1.5, True])
def test_max_pixels_validated(max_pixels: object) -> None:
    with pytest.raises(ValueError, match="max_pixels must be an int >= 1"):
        JpegCodec(max_pixels=max_pixels)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "image", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint16), [[0]]],
    ids=["float32", "uint16", "list"],
)
def test_encode_wrong_type(image: object) -> None:
    with pytest.raises(TypeError, match="expected a uint8 numpy.ndarray"):
        JpegCodec().encode(image)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(4, 4, 4), (4, 4, 2), (4,), (2, 4, 4, 3), (0, 4, 3), (4, 0)])
def test_encode_wrong_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(CodecError, match=re.escape(f"got shape {shape}")):
        JpegCodec().encode(np.zeros(shape, np.uint8))


def test_encode_too_wide_for_jpeg() -> None:
    with pytest.raises(CodecError, match="JPEG encoding of a .* image failed"):
        JpegCodec().encode(np.zeros((1, 70_000), np.uint8))


# -- decode limits and bad input ---------------------------------------------


def test_oversized_header_rejected_before_decoding(no_decoding: None) -> None:
    data = _with_size(JpegCodec().encode(_smooth_image(16, 16)), 5000, 5000)
    with pytest.raises(
        PayloadTooLargeError, match=r"declares 5000x5000 = 25000000 pixels > max_pixels 16777216"
    ):
        JpegCodec().decode(data)


def test_max_pixels_limit(no_decoding: None) -> None:
    data = JpegCodec().encode(_smooth_image(96, 128))
    with pytest.raises(PayloadTooLargeError, match="declares 128x96 = 12288 pixels > max_pixels 12287"):
        JpegCodec(max_pixels=12287).decode(data)


def test_max_pixels_limit_is_inclusive() -> None:
    data = JpegCodec().encode(_smooth_image(96, 128))
    assert JpegCodec(max_pixels=12288).decode(data).shape == (96, 128, 3)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not a JPEG: payload of 0 B"),
        (b"garbage garbage garbage", "not a JPEG: payload of 23 B starts with '67617262'"),
        (b"\xff\xd8", "not a JPEG"),
        (b"\xff\xd8\xff\xd9", "marker 0xd9 at offset 3 before any frame header"),
        (b"\xff\xd8\xff\xe0\x00", "truncated JPEG: segment 0xe0 at offset 3 has no length"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated JPEG: no frame header"),
        (b"\xff\xd8\xff\xe0\x00\x01abcd", "segment 0xe0 at offset 3 has length 1"),
        (b"\xff\xd8\x00\x00\x00\x00", "expected a marker at offset 2, found 0x00"),
        (b"\xff\xd8\xff\xc0\x00\x11\x08\x00", "truncated JPEG: frame header"),
    ],
    ids=["empty", "text", "soi-only", "eoi", "no-length", "no-sof", "bad-length", "no-marker", "short-sof"],
)
def test_garbage_rejected(data: bytes, match: str, no_decoding: None) -> None:
    with pytest.raises(MalformedPayloadError, match=match):
        JpegCodec().decode(data)


def test_png_rejected() -> None:
    ok, png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    assert ok
    with pytest.raises(MalformedPayloadError, match="not a JPEG: .* starts with '89504e47'"):
        JpegCodec().decode(png.tobytes())


def test_zero_height_rejected(no_decoding: None) -> None:
    data = _with_size(JpegCodec().encode(_smooth_image(16, 16)), 0, 16)
    with pytest.raises(MalformedPayloadError, match=r"declares 16x0 \(DNL or empty\)"):
        JpegCodec().decode(data)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, -2])
def test_truncated_rejected(keep: float) -> None:
    data = JpegCodec().encode(_smooth_image())
    cut = data[: int(len(data) * keep)] if keep > 0 else data[:keep]
    with pytest.raises(MalformedPayloadError, match=r"corrupt or truncated JPEG of \d+ B \(128x96\)"):
        JpegCodec().decode(cut)


def _noisy_image(height: int = 240, width: int = 320) -> np.ndarray:
    return np.random.default_rng(9).integers(0, 256, (height, width, 3), np.uint8)


def test_header_larger_than_body_rejected_and_kept_off_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    # A 320x240 body under a header claiming 2360x2360: libjpeg decodes it,
    # fills 99 % of the image in and prints a warning; the codec refuses it.
    data = _with_size(JpegCodec().encode(_noisy_image()), 2360, 2360)
    with pytest.raises(MalformedPayloadError, match=r"\(2360x2360\): libjpeg: Corrupt JPEG data"):
        JpegCodec().decode(data)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("damage", ["truncated+eoi", "flipped byte"])
def test_damaged_body_rejected_and_kept_off_stderr(damage: str, capfd: pytest.CaptureFixture[str]) -> None:
    data = JpegCodec().encode(_noisy_image())
    if damage == "truncated+eoi":
        data = data[: len(data) // 2] + b"\xff\xd9"
    else:
        data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
    with pytest.raises(MalformedPayloadError, match=r"corrupt JPEG of \d+ B \(320x240\): libjpeg: Corrupt"):
        JpegCodec().decode(data)
    assert capfd.readouterr().err == ""
    # The codec keeps working, and its stderr is the process's again.
    assert JpegCodec().decode(JpegCodec().encode(_noisy_image())).shape == (240, 320, 3)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_other_stderr_output_during_decode_is_passed_through(capfd: pytest.CaptureFixture[str]) -> None:
    with jpeg_module._STDERR as warnings:
        os.write(2, b"another thread's log line\n")
        os.write(2, b"Premature end of JPEG file\n")
    assert warnings == [b"Premature end of JPEG file"]
    assert capfd.readouterr().err == "another thread's log line\n"


def test_expected_size_checked_before_decoding(no_decoding: None) -> None:
    data = JpegCodec().encode(_smooth_image(96, 128))
    with pytest.raises(MalformedPayloadError, match="JPEG header declares 128x96, expected 128x95"):
        JpegCodec().decode(data, expect_size=(95, 128))


def test_expected_size_accepted() -> None:
    data = JpegCodec().encode(_smooth_image(96, 128))
    assert JpegCodec().decode(data, expect_size=(96, 128)).shape == (96, 128, 3)


def test_decode_not_bytes_like() -> None:
    with pytest.raises(MalformedPayloadError, match="JPEG payload must be bytes-like, got list"):
        JpegCodec().decode([1, 2, 3])  # type: ignore[arg-type]


# -- the sample photos -------------------------------------------------------

SAMPLE_FILES = sorted(SAMPLES.glob("*.jpg"))


def test_sample_photos_present() -> None:
    names = {p.name for p in SAMPLE_FILES}
    assert {"chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"} <= names


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_photo_decodes_and_is_documented(path: Path) -> None:
    image = JpegCodec().decode(path.read_bytes())
    assert image.shape[2] == 3
    assert max(image.shape[:2]) == 320
    assert f"`{path.name}`" in (SAMPLES / "README.md").read_text(encoding="utf-8")
