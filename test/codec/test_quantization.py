"""quantize_8bit / dequantize_8bit: error bound, edge cases, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from bottlefit_ros.codec import MAX_SCALE, CodecError, QuantizedTensor, dequantize_8bit, quantize_8bit

RNG_SEED = 20220201


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    normal = rng.standard_normal((1, 12, 29, 29), dtype=np.float32)
    return {
        "normal": normal,
        "relu": np.maximum(normal, 0),
        "constant": np.full((1, 12, 29, 29), 3.7, np.float32),
        "constant_negative": np.full((2, 3), -2.5e-3, np.float32),
        "zeros": np.zeros((1, 12, 29, 29), np.float32),
        "one_element": np.array([0.3], np.float32),
        "one_element_negative": np.array([[-7.25]], np.float32),
        "large_magnitude": (normal * 1e30).astype(np.float32),
        "negative_only": -np.abs(normal) - 5,
        "positive_away_from_zero": rng.uniform(10, 11, (3, 40)).astype(np.float32),
        "tiny": (normal * 1e-30).astype(np.float32),
        "float64": rng.standard_normal((4, 5)),
    }


CASES = _cases()


def _bound(x: np.ndarray, scale: float) -> float:
    return scale / 2 + 1e-6 * float(np.abs(x).max())


@pytest.mark.parametrize("name", CASES)
def test_round_trip_error_within_half_step(name: str) -> None:
    x = CASES[name]
    q = quantize_8bit(x)
    y = dequantize_8bit(q.data, q.scale, q.zero_point)
    assert y.dtype == np.float32
    assert y.shape == x.shape
    assert np.abs(y - x).max() <= _bound(x, q.scale)


@pytest.mark.parametrize("name", CASES)
def test_parameters_are_valid(name: str) -> None:
    q = quantize_8bit(CASES[name])
    assert isinstance(q, QuantizedTensor)
    assert q.data.dtype == np.uint8
    assert q.data.shape == CASES[name].shape
    assert q.data.flags.c_contiguous
    assert isinstance(q.scale, float)
    assert np.isfinite(q.scale)
    assert q.scale > 0
    assert float(np.float32(q.scale)) == q.scale  # survives the float32 message field
    assert isinstance(q.zero_point, int)
    assert 0 <= q.zero_point <= 255


@pytest.mark.parametrize(
    "name", ["constant", "constant_negative", "zeros", "one_element", "one_element_negative"]
)
def test_constant_tensor_round_trips_exactly(name: str) -> None:
    x = CASES[name]
    q = quantize_8bit(x)
    np.testing.assert_array_equal(dequantize_8bit(q.data, q.scale, q.zero_point), x)


def test_all_zeros_use_unit_scale() -> None:
    assert quantize_8bit(np.zeros(5, np.float32))[1:] == (1.0, 0)


def test_zero_is_exact_and_full_range_is_used() -> None:
    x = CASES["normal"].copy()
    x[0, 0, 0, 0] = 0.0
    q = quantize_8bit(x)
    assert dequantize_8bit(q.data, q.scale, q.zero_point)[0, 0, 0, 0] == 0.0
    assert q.data.min() == 0
    assert q.data.max() == 255


def test_range_includes_zero() -> None:
    # Values in [10, 11]: the steps cover [0, max], so the zero point is 0.
    x = CASES["positive_away_from_zero"]
    q = quantize_8bit(x)
    assert q.zero_point == 0
    assert q.scale * 255 >= x.max()
    q = quantize_8bit(CASES["negative_only"])
    assert q.zero_point == 255


def test_non_contiguous_input() -> None:
    x = CASES["normal"][0].transpose(2, 0, 1)
    q = quantize_8bit(x)
    assert q.data.flags.c_contiguous
    assert np.abs(dequantize_8bit(q.data, q.scale, q.zero_point) - x).max() <= _bound(x, q.scale)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rejected(bad: float) -> None:
    x = np.zeros(4, np.float32)
    x[2] = bad
    with pytest.raises(CodecError, match="NaN or infinity"):
        quantize_8bit(x)


def test_empty_rejected() -> None:
    with pytest.raises(CodecError, match=r"empty tensor of shape \(0, 3\)"):
        quantize_8bit(np.zeros((0, 3), np.float32))


@pytest.mark.parametrize("x", [np.arange(4), [0.5, 1.0]], ids=["int", "list"])
def test_quantize_wrong_type(x: object) -> None:
    with pytest.raises(TypeError, match="expected a"):
        quantize_8bit(x)  # type: ignore[arg-type]


def test_dequantize_wrong_type() -> None:
    with pytest.raises(TypeError, match="uint8"):
        dequantize_8bit(np.zeros(3, np.int8), 1.0, 0)


@pytest.mark.parametrize(
    "x",
    [np.array([-3e38, 3e38], np.float32), np.array([-1e38, 3.4e38], np.float32), np.array([-1e300, 1e300])],
    ids=["symmetric", "asymmetric", "float64"],
)
def test_range_beyond_what_a_finite_scale_can_dequantize_rejected(x: np.ndarray) -> None:
    with pytest.raises(CodecError, match="wider than 255 \\* the largest scale"):
        quantize_8bit(x)


@pytest.mark.parametrize("value", [3e38, -3e38])
def test_huge_constant_dequantizes_to_finite_values(value: float) -> None:
    x = np.full((2, 3), value, np.float32)
    q = quantize_8bit(x)
    assert q.scale <= MAX_SCALE
    y = dequantize_8bit(q.data, q.scale, q.zero_point)
    assert np.isfinite(y).all()
    assert np.abs(y - x).max() <= _bound(x, q.scale)
