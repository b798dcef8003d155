"""t-of-n Shamir secret sharing of short byte strings over the prime field GF(2^521 - 1).

Shamir, "How to share a secret", CACM 1979. A secret of at most 64 bytes becomes the constant term of a
random polynomial of degree t - 1 (coefficients from `secrets`); share i is the point (i, f(i)) for
i = 1..n. Any t shares determine f(0) by Lagrange interpolation, and t - 1 shares reveal nothing.

The secret is encoded as the integer of the bytes `0x01 || secret` (big-endian), so leading zero bytes
survive and a reconstruction from the wrong shares almost never decodes. The threshold is an argument of
`combine`, never read from a share, so a share holder cannot lower it; shares beyond the first t are
checked to lie on the same polynomial, so one corrupted share among more than t is detected.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from fedward.crypto.errors import SecretSharingError

__all__ = ["MAX_SECRET_BYTES", "MAX_SHARES", "PRIME", "SHARE_BYTES", "Share", "combine", "split"]

PRIME = (1 << 521) - 1
"""The Mersenne prime 2^521 - 1: the field holds any 65-byte encoded secret."""

MAX_SECRET_BYTES = 64
MAX_SHARES = (1 << 16) - 1
SHARE_BYTES = 66
"""Length of the big-endian encoding of a share's y coordinate."""


@dataclass(frozen=True, slots=True)
class Share:
    """One point (x, y) of the sharing polynomial; x in 1..MAX_SHARES, y in the field."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if not (isinstance(self.x, int) and 1 <= self.x <= MAX_SHARES):
            raise SecretSharingError(f"share x must be an integer in 1..{MAX_SHARES}, got {self.x!r}")
        if not (isinstance(self.y, int) and 0 <= self.y < PRIME):
            raise SecretSharingError("share y is outside the field GF(2^521 - 1)")

    def y_bytes(self) -> bytes:
        """The y coordinate as exactly `SHARE_BYTES` big-endian bytes."""
        return self.y.to_bytes(SHARE_BYTES, "big")

    @classmethod
    def from_y_bytes(cls, x: int, data: bytes) -> Share:
        """Parse `y_bytes()` output; rejects a wrong length or a value outside the field."""
        if len(data) != SHARE_BYTES:
            raise SecretSharingError(f"a share is {SHARE_BYTES} bytes, got {len(data)}")
        return cls(x=x, y=int.from_bytes(data, "big"))


def split(secret: bytes, n: int, t: int) -> list[Share]:
    """Split `secret` into `n` shares at x = 1..n, any `t` of which reconstruct it."""
    if len(secret) > MAX_SECRET_BYTES:
        raise SecretSharingError(f"a secret is at most {MAX_SECRET_BYTES} bytes, got {len(secret)}")
    if not 1 <= t <= n <= MAX_SHARES:
        raise SecretSharingError(f"need 1 <= t <= n <= {MAX_SHARES}, got t={t}, n={n}")
    coefficients = [_encode(secret)] + [secrets.randbelow(PRIME) for _ in range(t - 1)]
    return [Share(x=x, y=_evaluate(coefficients, x)) for x in range(1, n + 1)]


def combine(shares: Sequence[Share], threshold: int) -> bytes:
    """Reconstruct the secret from at least `threshold` shares with distinct x.

    Raises `SecretSharingError` for fewer than `threshold` shares, a duplicated x, extra shares that do
    not lie on the polynomial through the first `threshold`, or a result that is not a valid encoding.
    """
    if threshold < 1:
        raise SecretSharingError(f"the threshold must be at least 1, got {threshold}")
    xs = [share.x for share in shares]
    if len(set(xs)) != len(xs):
        raise SecretSharingError("two shares have the same x coordinate")
    if len(shares) < threshold:
        raise SecretSharingError(f"need {threshold} shares to reconstruct, got {len(shares)}")
    basis = list(shares[:threshold])
    for extra in shares[threshold:]:
        if _interpolate(basis, extra.x) != extra.y:
            raise SecretSharingError(f"share x={extra.x} is inconsistent with the others")
    return _decode(_interpolate(basis, 0))


def _encode(secret: bytes) -> int:
    return int.from_bytes(b"\x01" + secret, "big")


def _decode(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if not raw or raw[0] != 1 or len(raw) - 1 > MAX_SECRET_BYTES:
        raise SecretSharingError("the shares do not reconstruct a valid secret")
    return raw[1:]


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    """Horner's rule for f(x) mod PRIME, coefficients from the constant term up."""
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % PRIME
    return result


def _interpolate(points: Sequence[Share], at: int) -> int:
    """Lagrange interpolation of the polynomial through `points`, evaluated at `at`."""
    total = 0
    for i, point in enumerate(points):
        numerator, denominator = 1, 1
        for j, other in enumerate(points):
            if i != j:
                numerator = numerator * (at - other.x) % PRIME
                denominator = denominator * (point.x - other.x) % PRIME
        total = (total + point.y * numerator * pow(denominator, -1, PRIME)) % PRIME
    return total
