"""Fixed-point encoding of real vectors into the ring Z_{2^32} or Z_{2^64}, and back.

Secure aggregation sums integers modulo 2^r (Bonawitz et al., CCS 2017, section 3), so a model update
is clipped to [-clip_range, clip_range], scaled by 2^fixed_point_bits, rounded to the nearest integer
and stored in two's complement. The sum of n encodings decodes exactly to the sum of the rounded values
as long as it stays inside the signed range; `check_capacity` refuses a number of sites for which it
might not, because a wrapped sum decodes to a silently wrong model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fedward.secagg.errors import SecAggConfigError

__all__ = ["FixedPoint", "ring_dtype"]

_DTYPES: dict[int, np.dtype[Any]] = {32: np.dtype(np.uint32), 64: np.dtype(np.uint64)}
_SIGNED: dict[int, np.dtype[Any]] = {32: np.dtype(np.int32), 64: np.dtype(np.int64)}


def ring_dtype(ring_bits: int) -> np.dtype[Any]:
    """The numpy dtype of the ring Z_{2^ring_bits}: uint32 or uint64 (adds wrap modulo 2^ring_bits)."""
    if ring_bits not in _DTYPES:
        raise SecAggConfigError(f"ring_bits must be 32 or 64, got {ring_bits!r}")
    return _DTYPES[ring_bits]


@dataclass(frozen=True, slots=True)
class FixedPoint:
    """Signed fixed point with `frac_bits` fractional bits in a `ring_bits`-bit ring."""

    clip_range: float
    frac_bits: int
    ring_bits: Literal[32, 64]

    def __post_init__(self) -> None:
        ring_dtype(self.ring_bits)
        if not (math.isfinite(self.clip_range) and self.clip_range > 0):
            raise SecAggConfigError(f"clip_range must be a positive finite number, got {self.clip_range!r}")
        if isinstance(self.frac_bits, bool) or not 0 <= self.frac_bits < self.ring_bits:
            raise SecAggConfigError(
                f"fixed_point_bits must be in [0, {self.ring_bits}), got {self.frac_bits}"
            )
        if self.max_terms < 1:
            raise SecAggConfigError(
                f"clip_range {self.clip_range} at fixed_point_bits {self.frac_bits} does not fit one value "
                f"in ring_bits {self.ring_bits}; lower clip_range or fixed_point_bits"
            )

    @property
    def dtype(self) -> np.dtype[Any]:
        """The ring dtype of encoded vectors."""
        return ring_dtype(self.ring_bits)

    @property
    def step(self) -> float:
        """The resolution 2^-frac_bits: the largest rounding error of one value is step / 2."""
        return 2.0**-self.frac_bits

    @property
    def max_terms(self) -> int:
        """The largest n with n * (clip_range * 2^f + 1/2) < 2^(ring_bits - 1): sums of n values fit."""
        per_term = Fraction(self.clip_range) * 2**self.frac_bits + Fraction(1, 2)
        ratio = Fraction(2 ** (self.ring_bits - 1)) / per_term
        numerator: int = ratio.numerator
        denominator: int = ratio.denominator
        return -(-numerator // denominator) - 1  # ceil(ratio) - 1, in exact integers

    def check_capacity(self, n_terms: int) -> None:
        """Raise `SecAggConfigError` unless a sum of `n_terms` full-range values cannot overflow."""
        if n_terms > self.max_terms:
            raise SecAggConfigError(
                f"a secure sum over {n_terms} sites can overflow: clip_range={self.clip_range}, "
                f"fixed_point_bits={self.frac_bits}, ring_bits={self.ring_bits} fit at most "
                f"{self.max_terms} sites; lower clip_range or fixed_point_bits, or use ring_bits 64"
            )

    def encode(self, values: npt.ArrayLike) -> npt.NDArray[Any]:
        """Clip, scale, round half to even, and reduce modulo 2^ring_bits (two's complement)."""
        array = np.asarray(values, dtype=np.float64)
        if np.isnan(array).any():
            raise ValueError("cannot encode NaN values for secure aggregation")
        scaled = np.rint(np.clip(array, -self.clip_range, self.clip_range) * 2.0**self.frac_bits)
        return scaled.astype(np.int64).view(np.uint64).astype(self.dtype)

    def decode(self, ring_sum: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Read a ring vector (a sum of encodings) as signed integers and divide by 2^frac_bits."""
        if ring_sum.dtype != self.dtype:
            raise ValueError(f"expected a {self.dtype} ring vector, got {ring_sum.dtype}")
        signed = ring_sum.view(_SIGNED[self.ring_bits])
        return signed.astype(np.float64) / 2.0**self.frac_bits
