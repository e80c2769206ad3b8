"""TensorCodec: round trips per codec, sizes, and every malformed input."""

from __future__ import annotations

import array
import dataclasses
import re
import struct
import tracemalloc

import numpy as np
import pytest
import zstandard

from bottlefit_ros.codec import (
    CODECS,
    MAX_SCALE,
    CodecError,
    EncodedTensor,
    MalformedPayloadError,
    PayloadTooLargeError,
    TensorCodec,
    UnknownCodecError,
)

SHAPE = (1, 12, 29, 29)  # BottleFit bottleneck, 12 channels, 224x224 input
QUANTIZED = ("q8+zstd", "q8")
UNQUANTIZED = ("f32+zstd", "f32")
COMPRESSED = ("q8+zstd", "f32+zstd")
UNCOMPRESSED = ("q8", "f32")


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2201_02693)
    normal = rng.standard_normal(SHAPE, dtype=np.float32)
    return {
        "normal": normal,
        "relu": np.maximum(normal, 0),
        "constant": np.full(SHAPE, -1.25, np.float32),
        "zeros": np.zeros(SHAPE, np.float32),
        "one_element": np.array([0.7], np.float32),
        "large_magnitude": (normal * 3e37).astype(np.float32),
        "negative_only": -np.abs(normal) - 100,
    }


TENSORS = _tensors()


@pytest.fixture(scope="module")
def normal_encoded() -> dict[str, EncodedTensor]:
    return {codec: TensorCodec(codec).encode(TENSORS["normal"]) for codec in CODECS}


# -- round trips -------------------------------------------------------------


@pytest.mark.parametrize("name", TENSORS)
@pytest.mark.parametrize("codec", CODECS)
def test_round_trip(codec: str, name: str) -> None:
    x = TENSORS[name]
    tc = TensorCodec(codec)
    enc = tc.encode(x)
    y = tc.decode(enc)
    assert enc.codec == codec
    assert enc.dtype == "float32"
    assert enc.shape == x.shape
    assert all(type(d) is int for d in enc.shape)
    assert y.dtype == np.float32
    assert y.shape == x.shape
    assert y.flags.writeable
    assert y.flags.c_contiguous
    if codec in QUANTIZED:
        assert enc.raw_size == x.size
        assert np.abs(y - x).max() <= enc.scale / 2 + 1e-6 * np.abs(x).max()
    else:
        assert enc.raw_size == 4 * x.size
        assert (enc.scale, enc.zero_point) == (0.0, 0)
        np.testing.assert_array_equal(y, x)
    if codec in UNCOMPRESSED:
        assert len(enc.payload) == enc.raw_size


@pytest.mark.parametrize("codec", QUANTIZED)
@pytest.mark.parametrize("name", ["constant", "zeros", "one_element"])
def test_constant_round_trip_is_exact(codec: str, name: str) -> None:
    tc = TensorCodec(codec)
    np.testing.assert_array_equal(tc.decode(tc.encode(TENSORS[name])), TENSORS[name])


@pytest.mark.parametrize("codec", CODECS)
def test_non_contiguous_input_is_sent_in_c_order(codec: str) -> None:
    x = TENSORS["normal"][0].transpose(1, 2, 0)[::2]
    tc = TensorCodec(codec)
    y = tc.decode(tc.encode(x))
    assert y.shape == x.shape
    tol = 0.0 if codec in UNQUANTIZED else tc.encode(x).scale / 2 + 1e-6 * np.abs(x).max()
    assert np.abs(y - x).max() <= tol


@pytest.mark.parametrize("codec", UNQUANTIZED)
def test_unquantized_keeps_non_finite_values(codec: str) -> None:
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], np.float32)
    tc = TensorCodec(codec)
    np.testing.assert_array_equal(tc.decode(tc.encode(x)).view(np.uint32), x.view(np.uint32))


def test_decode_accepts_every_codec_whatever_the_instance_encodes(
    normal_encoded: dict[str, EncodedTensor],
) -> None:
    tc = TensorCodec("f32")
    for enc in normal_encoded.values():
        assert tc.decode(enc).shape == SHAPE


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "wrap", [bytes, bytearray, memoryview, lambda b: array.array("B", b)],
    ids=["bytes", "bytearray", "memoryview", "array"],
)
def test_payload_may_be_any_bytes_like(
    codec: str, wrap, normal_encoded: dict[str, EncodedTensor]
) -> None:
    enc = normal_encoded[codec]
    payload = bytearray(enc.payload)
    y = TensorCodec().decode(dataclasses.replace(enc, payload=wrap(payload)))
    expected = TensorCodec().decode(enc)
    payload[:] = bytes(len(payload))  # the result must not alias the payload
    np.testing.assert_array_equal(y, expected)


def test_encoded_tensor_is_frozen_and_repr_omits_payload(
    normal_encoded: dict[str, EncodedTensor],
) -> None:
    enc = normal_encoded["q8+zstd"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        enc.scale = 1.0  # type: ignore[misc]
    assert "payload" not in repr(enc)
    assert "q8+zstd" in repr(enc)


# -- sizes -------------------------------------------------------------------


def test_zstd_shrinks_a_low_entropy_tensor() -> None:
    x = TENSORS["relu"]  # half zeros
    assert len(TensorCodec("q8+zstd").encode(x).payload) < len(TensorCodec("q8").encode(x).payload)
    assert len(TensorCodec("f32+zstd").encode(x).payload) < len(TensorCodec("f32").encode(x).payload)


def test_quantization_shrinks_the_payload_fourfold(
    normal_encoded: dict[str, EncodedTensor],
) -> None:
    assert len(normal_encoded["q8"].payload) * 4 == len(normal_encoded["f32"].payload)


def test_higher_level_is_not_larger() -> None:
    x = TENSORS["relu"]
    assert len(TensorCodec(level=19).encode(x).payload) <= len(TensorCodec(level=1).encode(x).payload)


# -- constructor -------------------------------------------------------------


def test_defaults() -> None:
    tc = TensorCodec()
    assert (tc.codec, tc.level, tc.max_raw_bytes) == ("q8+zstd", 3, 64 * 2**20)
    assert CODECS == ("q8+zstd", "q8", "f32+zstd", "f32")


@pytest.mark.parametrize("codec", ["jpeg", "Q8", "zstd", ""])
def test_unknown_codec_in_constructor(codec: str) -> None:
    with pytest.raises(UnknownCodecError, match=re.escape(f"unknown codec '{codec}'")):
        TensorCodec(codec)


@pytest.mark.parametrize("level", [23, 100, -(2**17) - 1, 3.0, True, "3", None])
def test_level_validated(level: object) -> None:
    with pytest.raises(ValueError, match="zstd level must be an int in -131072..22"):
        TensorCodec(level=level)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [-(2**17), -5, 0, 1, 22])
def test_level_accepted(level: int) -> None:
    tc = TensorCodec(level=level)
    x = TENSORS["relu"]
    np.testing.assert_allclose(tc.decode(tc.encode(x)), x, atol=tc.encode(x).scale)


@pytest.mark.parametrize("max_raw_bytes", [0, -1, 2**32, 1.5, True])
def test_max_raw_bytes_validated(max_raw_bytes: object) -> None:
    with pytest.raises(ValueError, match="max_raw_bytes must be an int"):
        TensorCodec(max_raw_bytes=max_raw_bytes)  # type: ignore[arg-type]


# -- encode errors -----------------------------------------------------------


@pytest.mark.parametrize(
    "x", [np.zeros(3, np.float64), np.zeros(3, np.float16), np.zeros(3, np.int32), [1.0]],
    ids=["float64", "float16", "int32", "list"],
)
def test_encode_wrong_type(x: object) -> None:
    with pytest.raises(TypeError, match="expected"):
        TensorCodec().encode(x)  # type: ignore[arg-type]


@pytest.mark.parametrize("x", [np.array(1.0, np.float32), np.zeros((2, 0), np.float32)])
def test_encode_empty_or_0d(x: np.ndarray) -> None:
    with pytest.raises(CodecError, match="cannot encode a tensor of shape"):
        TensorCodec().encode(x)


@pytest.mark.parametrize("codec", QUANTIZED)
def test_encode_non_finite_quantized(codec: str) -> None:
    with pytest.raises(CodecError, match="NaN or infinity"):
        TensorCodec(codec).encode(np.array([1.0, np.nan], np.float32))


@pytest.mark.parametrize("codec", CODECS)
def test_encode_too_large(codec: str) -> None:
    with pytest.raises(PayloadTooLargeError, match="> max_raw_bytes 1000 B"):
        TensorCodec(codec, max_raw_bytes=1000).encode(TENSORS["normal"])


# -- decode: metadata --------------------------------------------------------


def _with(enc: EncodedTensor, **changes: object) -> EncodedTensor:
    return dataclasses.replace(enc, **changes)


@pytest.mark.parametrize("codec", ["jpeg", "q4+zstd", "", "Q8"])
def test_decode_unknown_codec(codec: str, normal_encoded: dict[str, EncodedTensor]) -> None:
    with pytest.raises(UnknownCodecError, match=re.escape(f"unknown codec '{codec}'; expected one of q8")):
        TensorCodec().decode(_with(normal_encoded["q8"], codec=codec))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("dtype", ["float64", "float16", "uint8", "", "Float32"])
def test_decode_wrong_dtype(
    codec: str, dtype: str, normal_encoded: dict[str, EncodedTensor]
) -> None:
    with pytest.raises(MalformedPayloadError, match=f"unsupported dtype '{dtype}'"):
        TensorCodec().decode(_with(normal_encoded[codec], dtype=dtype))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "shape",
    [(), (1, 0, 29, 29), (1, -12, 29, 29), (0,), (-1,)],
)
def test_decode_bad_shape(codec: str, shape: tuple, normal_encoded: dict[str, EncodedTensor]) -> None:
    with pytest.raises(MalformedPayloadError, match=r"shape must have 1\.\.8 dimensions, all > 0"):
        TensorCodec().decode(_with(normal_encoded[codec], shape=shape))


@pytest.mark.parametrize("ndim", [9, 100_000])
def test_decode_too_many_dimensions(ndim: int, normal_encoded: dict[str, EncodedTensor]) -> None:
    # 100 000 dimensions of 2**32 - 1 (400 KB as a uint32 array) once cost
    # quadratic big-int arithmetic (18 s); the count is checked first.
    shape = array.array("I", [2**32 - 1]) * ndim
    with pytest.raises(MalformedPayloadError, match=rf"1\.\.8 dimensions, all > 0, got {ndim} dimensions"):
        TensorCodec().decode(_with(normal_encoded["q8+zstd"], shape=shape))


def test_decode_eight_huge_dimensions_is_too_large(normal_encoded: dict[str, EncodedTensor]) -> None:
    shape = (2**32 - 1,) * 8
    with pytest.raises(PayloadTooLargeError, match="the shape needs > max_raw_bytes 67108864 B"):
        TensorCodec().decode(_with(normal_encoded["q8+zstd"], shape=shape, raw_size=2**32 - 1))


@pytest.mark.parametrize("codec", CODECS)
def test_decode_expected_shape(codec: str, normal_encoded: dict[str, EncodedTensor]) -> None:
    y = TensorCodec().decode(normal_encoded[codec], expect_shape=SHAPE)
    assert y.shape == SHAPE
    with pytest.raises(MalformedPayloadError, match=r"shape \(1, 12, 29, 29\) is not the expected \(1, 12, 29, 30\)"):
        TensorCodec().decode(normal_encoded[codec], expect_shape=(1, 12, 29, 30))


def test_small_bomb_of_another_shape_rejected_before_allocating() -> None:
    # 16 MiB of zeros in a few hundred bytes, consistent in itself (shape,
    # raw_size, frame header) and within max_raw_bytes, but not the shape this
    # decoder expects: rejected before anything is decompressed or dequantized.
    big = 16 * 2**20
    bomb = zstandard.ZstdCompressor(write_content_size=True).compress(bytes(big))
    assert len(bomb) < 1000
    enc = EncodedTensor("q8+zstd", "float32", (1, 16, 1024, 1024), 1.0, 0, big, bomb)
    tracemalloc.start()
    try:
        with pytest.raises(MalformedPayloadError, match="is not the expected"):
            TensorCodec(max_raw_bytes=big).decode(enc, expect_shape=SHAPE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**16


@pytest.mark.parametrize("scale", [3.4e38, float(np.nextafter(np.float32(MAX_SCALE), np.float32(np.inf)))])
def test_decode_scale_that_overflows_float32_rejected(scale: float, normal_encoded: dict[str, EncodedTensor]) -> None:
    with pytest.raises(MalformedPayloadError, match="255 \\* scale overflows float32"):
        TensorCodec().decode(_with(normal_encoded["q8+zstd"], scale=scale))


@pytest.mark.parametrize("zero_point", [0, 255])
def test_decode_largest_scale_gives_finite_values(zero_point: int) -> None:
    raw = np.array([0, 1, 128, 254, 255], np.uint8)
    enc = EncodedTensor("q8", "float32", (5,), MAX_SCALE, zero_point, 5, raw.tobytes())
    y = TensorCodec().decode(enc)
    assert np.isfinite(y).all()
    assert abs(float(y[0 if zero_point else -1])) == pytest.approx(255 * MAX_SCALE, rel=1e-6)


@pytest.mark.parametrize("shape", [(1.0, 12, 29, 29), ("1", "12"), None, 10092])
def test_decode_shape_not_ints(shape: object, normal_encoded: dict[str, EncodedTensor]) -> None:
    with pytest.raises(MalformedPayloadError, match="shape must be a sequence of ints"):
        TensorCodec().decode(_with(normal_encoded["q8"], shape=shape))


def test_decode_shape_as_numpy_uint32(normal_encoded: dict[str, EncodedTensor]) -> None:
    # What a uint32[] message field may hold.
    enc = _with(normal_encoded["q8+zstd"], shape=np.array(SHAPE, np.uint32))
    assert TensorCodec().decode(enc).shape == SHAPE


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("delta", [-1, 1])
def test_decode_raw_size_does_not_match_shape(
    codec: str, delta: int, normal_encoded: dict[str, EncodedTensor]
) -> None:
    enc = normal_encoded[codec]
    itemsize = 1 if codec in QUANTIZED else 4
    with pytest.raises(
        MalformedPayloadError,
        match=rf"raw_size {enc.raw_size + delta} B does not match shape \(1, 12, 29, 29\): "
        rf"10092 elements x {itemsize} B = {10092 * itemsize} B",
    ):
        TensorCodec().decode(_with(enc, raw_size=enc.raw_size + delta))


def test_decode_shape_of_other_codec(normal_encoded: dict[str, EncodedTensor]) -> None:
    # An f32 raw_size under a q8 codec name: 4x too large for the shape.
    with pytest.raises(MalformedPayloadError, match="raw_size 40368 B does not match"):
        TensorCodec().decode(_with(normal_encoded["f32"], codec="q8"))


@pytest.mark.parametrize("raw_size", [1.5, "10092", None])
def test_decode_raw_size_not_int(raw_size: object, normal_encoded: dict[str, EncodedTensor]) -> None:
    with pytest.raises(MalformedPayloadError, match="raw_size must be an int"):
        TensorCodec().decode(_with(normal_encoded["q8"], raw_size=raw_size))


@pytest.mark.parametrize("codec", CODECS)
def test_decode_too_large(codec: str, normal_encoded: dict[str, EncodedTensor]) -> None:
    enc = normal_encoded[codec]
    with pytest.raises(
        PayloadTooLargeError, match=rf"raw_size {enc.raw_size} B of shape .* > max_raw_bytes 10000 B"
    ):
        TensorCodec(max_raw_bytes=10_000).decode(enc)


def test_decode_huge_declared_shape_rejected_before_allocating() -> None:
    shape = (1, 2**16, 2**16, 2**16)  # 2**48 elements, consistent raw_size
    enc = EncodedTensor("q8+zstd", "float32", shape, 1.0, 0, 2**48, b"\x28\xb5\x2f\xfd")
    with pytest.raises(PayloadTooLargeError, match="raw_size 281474976710656 B"):
        TensorCodec().decode(enc)


@pytest.mark.parametrize("codec", QUANTIZED)
@pytest.mark.parametrize("scale", [0.0, -0.1, float("nan"), float("inf"), -float("inf"), None, "0.1"])
def test_decode_bad_scale(codec: str, scale: object, normal_encoded: dict[str, EncodedTensor]) -> None:
    with pytest.raises(MalformedPayloadError, match="scale must be finite and > 0, got"):
        TensorCodec().decode(_with(normal_encoded[codec], scale=scale))


@pytest.mark.parametrize("codec", QUANTIZED)
@pytest.mark.parametrize("zero_point", [-1, 256, 2**31, 1.0, None])
def test_decode_bad_zero_point(
    codec: str, zero_point: object, normal_encoded: dict[str, EncodedTensor]
) -> None:
    with pytest.raises(MalformedPayloadError, match=r"zero_point must be an int in 0..255, got"):
        TensorCodec().decode(_with(normal_encoded[codec], zero_point=zero_point))


@pytest.mark.parametrize("zero_point", [0, 255, np.int32(7)])
def test_decode_zero_point_bounds_accepted(
    zero_point: int, normal_encoded: dict[str, EncodedTensor]
) -> None:
    TensorCodec().decode(_with(normal_encoded["q8"], zero_point=zero_point))


@pytest.mark.parametrize("codec", UNQUANTIZED)
@pytest.mark.parametrize("params", [{"scale": 0.5}, {"zero_point": 3}, {"scale": float("nan")}])
def test_decode_unquantized_with_quantization_parameters(
    codec: str, params: dict, normal_encoded: dict[str, EncodedTensor]
) -> None:
    with pytest.raises(MalformedPayloadError, match=re.escape(f"codec '{codec}' is not quantized")):
        TensorCodec().decode(_with(normal_encoded[codec], **params))


# -- decode: payload ---------------------------------------------------------


@pytest.mark.parametrize("codec", UNCOMPRESSED)
@pytest.mark.parametrize("change", [-1, 1, None])
def test_decode_uncompressed_length_mismatch(
    codec: str, change: int | None, normal_encoded: dict[str, EncodedTensor]
) -> None:
    enc = normal_encoded[codec]
    payload = b"" if change is None else (enc.payload[:-1] if change < 0 else enc.payload + b"\0")
    with pytest.raises(
        MalformedPayloadError, match=rf"{re.escape(codec)} payload is {len(payload)} B, raw_size says {enc.raw_size} B"
    ):
        TensorCodec().decode(_with(enc, payload=payload))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("payload", [None, 12, "text", [1, 2]])
def test_decode_payload_not_bytes_like(
    codec: str, payload: object, normal_encoded: dict[str, EncodedTensor]
) -> None:
    with pytest.raises(MalformedPayloadError, match="payload must be bytes-like"):
        TensorCodec().decode(_with(normal_encoded[codec], payload=payload))


@pytest.mark.parametrize("codec", COMPRESSED)
@pytest.mark.parametrize("keep", [0, 3, 5, 8, -1, -4, -100])
def test_decode_truncated(codec: str, keep: int, normal_encoded: dict[str, EncodedTensor]) -> None:
    enc = normal_encoded[codec]
    with pytest.raises(MalformedPayloadError, match="not a zstd frame|corrupt or truncated"):
        TensorCodec().decode(_with(enc, payload=enc.payload[:keep]))


@pytest.mark.parametrize("codec", COMPRESSED)
@pytest.mark.parametrize("where", [0.25, 0.5, 0.9])
def test_decode_corrupt(codec: str, where: float, normal_encoded: dict[str, EncodedTensor]) -> None:
    enc = normal_encoded[codec]
    payload = bytearray(enc.payload)
    payload[int(len(payload) * where)] ^= 0x5A
    with pytest.raises(MalformedPayloadError, match="corrupt or truncated zstd payload"):
        TensorCodec().decode(_with(enc, payload=bytes(payload)))


@pytest.mark.parametrize("codec", COMPRESSED)
def test_decode_not_zstd(codec: str, normal_encoded: dict[str, EncodedTensor]) -> None:
    enc = normal_encoded[codec]
    with pytest.raises(MalformedPayloadError, match=r"payload of \d+ B is not a zstd frame"):
        TensorCodec().decode(_with(enc, payload=b"\x00" * len(enc.payload)))


@pytest.mark.parametrize("codec", COMPRESSED)
@pytest.mark.parametrize("extra", [b"\0", b"garbage", None])
def test_decode_trailing_data(codec: str, extra: bytes | None, normal_encoded: dict[str, EncodedTensor]) -> None:
    enc = normal_encoded[codec]
    extra = enc.payload if extra is None else extra  # None: a second, valid frame
    with pytest.raises(MalformedPayloadError, match="unused data"):
        TensorCodec().decode(_with(enc, payload=enc.payload + extra))


# -- decode: crafted zstd frames ---------------------------------------------

_MAGIC = struct.pack("<I", 0xFD2FB528)


def _frame(content_size: int | None, *blocks: bytes) -> bytes:
    """A zstd frame: 8-byte content size (single segment) or none (128 KiB window)."""
    if content_size is None:
        header = bytes([0x00, 0x38])  # no content size; window 2**(10+7)
    else:
        header = bytes([0xE0]) + struct.pack("<Q", content_size)  # FCS 8 B, single segment
    return _MAGIC + header + b"".join(blocks)


def _rle_block(size: int, byte: int, *, last: bool) -> bytes:
    """A block of ``size`` copies of ``byte`` (4 bytes on the wire, size <= 128 KiB)."""
    return (int(last) | 1 << 1 | size << 3).to_bytes(3, "little") + bytes([byte])


def _q8(n: int, payload: bytes) -> EncodedTensor:
    return EncodedTensor("q8+zstd", "float32", (n,), 1.0, 0, n, payload)


@pytest.mark.parametrize("content_size", [48, None])
def test_crafted_frames_are_valid_zstd(content_size: int | None) -> None:
    # The malformed frames below differ from these only by the lie they tell.
    y = TensorCodec().decode(_q8(48, _frame(content_size, _rle_block(48, 7, last=True))))
    np.testing.assert_array_equal(y, np.full(48, 7.0, np.float32))


def test_python_zstandard_ignores_max_output_size_when_the_header_declares_a_size() -> None:
    # Why decode checks the declared size itself: decompress() allocates what the
    # header says (here 64 MiB, never touched) although max_output_size is 48.
    bomb = _frame(64 * 2**20, _rle_block(48, 0, last=True))
    tracemalloc.start()
    try:
        with pytest.raises(zstandard.ZstdError):
            zstandard.ZstdDecompressor().decompress(bomb, max_output_size=48)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak >= 64 * 2**20


@pytest.mark.parametrize("declared", [2**40, 2**63, 64 * 2**20 + 1, 49, 47, 0])
def test_bomb_header_rejected_before_allocating(declared: int) -> None:
    bomb = _frame(declared, _rle_block(48, 0, last=True))
    tracemalloc.start()
    try:
        with pytest.raises(
            MalformedPayloadError, match=f"zstd frame header declares {declared} B of content, raw_size says 48 B"
        ):
            TensorCodec().decode(_q8(48, bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_bomb_without_content_size_stops_at_raw_size() -> None:
    # 128 MiB of zeros in 4 KiB of payload, no declared size.
    blocks = [_rle_block(2**17, 0, last=i == 1023) for i in range(1024)]
    bomb = _frame(None, *blocks)
    assert len(bomb) < 5000
    tracemalloc.start()
    try:
        with pytest.raises(MalformedPayloadError, match="corrupt or truncated zstd payload"):
            TensorCodec().decode(_q8(48, bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.parametrize("real", [49, 1000, 2**17])
def test_content_larger_than_declared(real: int) -> None:
    frame = _frame(48, _rle_block(real, 1, last=True))
    with pytest.raises(MalformedPayloadError, match="corrupt or truncated zstd payload"):
        TensorCodec().decode(_q8(48, frame))


def test_content_larger_than_declared_over_several_blocks() -> None:
    frame = _frame(48, _rle_block(48, 1, last=False), _rle_block(48, 2, last=True))
    with pytest.raises(MalformedPayloadError, match="corrupt or truncated zstd payload"):
        TensorCodec().decode(_q8(48, frame))


def test_content_smaller_than_declared() -> None:
    frame = _frame(48, _rle_block(40, 1, last=True))
    with pytest.raises(MalformedPayloadError, match="corrupt or truncated zstd payload"):
        TensorCodec().decode(_q8(48, frame))


@pytest.mark.parametrize("real", [1, 47])
def test_undeclared_content_shorter_than_raw_size(real: int) -> None:
    frame = _frame(None, _rle_block(real, 1, last=True))
    with pytest.raises(MalformedPayloadError, match=f"zstd payload decompressed to {real} B, raw_size says 48 B"):
        TensorCodec().decode(_q8(48, frame))


def test_skippable_frame_rejected() -> None:
    skippable = struct.pack("<II", 0x184D2A50, 48) + bytes(48)
    with pytest.raises(MalformedPayloadError, match="zstd"):
        TensorCodec().decode(_q8(48, skippable))
