"""Fixed-point encoding into the ring, and the capacity check that prevents a silent wrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedward.errors import ConfigError
from fedward.secagg import FixedPoint, SecAggConfigError


@given(
    values=hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(-4.0, 4.0)),
    frac_bits=st.integers(0, 20),
    ring_bits=st.sampled_from([32, 64]),
)
def test_roundtrip_error_is_at_most_half_a_step(values: np.ndarray, frac_bits: int, ring_bits: int) -> None:
    codec = FixedPoint(4.0, frac_bits, 32 if ring_bits == 32 else 64)
    encoded = codec.encode(values)
    assert encoded.dtype == codec.dtype
    assert np.all(np.abs(codec.decode(encoded) - values) <= codec.step / 2)


@given(
    rows=hnp.arrays(
        np.float64, st.tuples(st.integers(1, 8), st.integers(1, 20)), elements=st.floats(-2.0, 2.0)
    ),
    ring_bits=st.sampled_from([32, 64]),
)
def test_ring_sum_decodes_to_the_sum_of_rounded_values(rows: np.ndarray, ring_bits: int) -> None:
    codec = FixedPoint(2.0, 12, 32 if ring_bits == 32 else 64)
    total = np.zeros(rows.shape[1], dtype=codec.dtype)
    for row in rows:
        total += codec.encode(row)
    expected = np.rint(rows * 2.0**12).sum(axis=0) / 2.0**12
    np.testing.assert_array_equal(codec.decode(total), expected)


def test_clipping_two_complement_and_infinities() -> None:
    codec = FixedPoint(1.0, 8, 32)
    encoded = codec.encode([5.0, -5.0, -codec.step, np.inf, -np.inf, 0.0])
    assert encoded.tolist() == [256, 2**32 - 256, 2**32 - 1, 256, 2**32 - 256, 0]
    np.testing.assert_array_equal(codec.decode(encoded), [1.0, -1.0, -codec.step, 1.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        codec.encode([0.0, np.nan])
    with pytest.raises(ValueError, match="uint32 ring vector"):
        codec.decode(np.zeros(3, np.uint64))
    assert FixedPoint(1.0, 8, 64).dtype == np.uint64 and codec.step == 2.0**-8


@pytest.mark.parametrize(("ring_bits", "full_range"), [(32, (2**20 - 0.5) / 256), (64, (2**52 - 0.5) / 256)])
def test_capacity_boundary_and_power_check(ring_bits: int, full_range: float) -> None:
    """Each full-range value encodes to 2^20 (2^52): 2047 of them fit; 2048 reach 2^31 (2^63) and wrap."""
    codec = FixedPoint(full_range, 8, 32 if ring_bits == 32 else 64)
    assert codec.max_terms == 2047
    codec.check_capacity(2047)
    with pytest.raises(SecAggConfigError) as caught:
        codec.check_capacity(2048)
    message = str(caught.value)
    for key in ("clip_range", "fixed_point_bits", "ring_bits", "at most 2047 sites"):
        assert key in message
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)
    one = codec.encode([full_range])
    fits, wraps = one * codec.dtype.type(2047), one * codec.dtype.type(2048)
    assert codec.decode(fits)[0] == 2047 * int(one[0]) / 256
    assert codec.decode(wraps)[0] < 0  # the power check: 2048 sites of positive updates decode negative


@pytest.mark.parametrize(
    ("clip_range", "frac_bits", "ring_bits", "reason"),
    [
        (0.0, 8, 32, "clip_range"),
        (float("inf"), 8, 32, "clip_range"),
        (float("nan"), 8, 32, "clip_range"),
        (1.0, 32, 32, "fixed_point_bits"),
        (1.0, -1, 32, "fixed_point_bits"),
        (2.0**31, 1, 32, "does not fit one value"),
        (1.0, 8, 16, "ring_bits"),
    ],
)
def test_invalid_codecs_are_refused(clip_range: float, frac_bits: int, ring_bits: int, reason: str) -> None:
    with pytest.raises(SecAggConfigError, match=reason):
        FixedPoint(clip_range, frac_bits, ring_bits)  # type: ignore[arg-type]
