"""Small-order Ed25519 public keys: the eight points P with [8]P = identity, in any encoding.

OpenSSL's Ed25519 verification (what `cryptography` calls) is cofactorless and accepts such a key: with
the identity as the public key, R = identity and S = 0 is a valid signature of every message. A key like
that proves nothing about who signed, so `fedward.crypto.signatures.verify` refuses it before verifying.

The test is the definition, in pure Python with the RFC 8032 formulas: decode the point (the
y-coordinate reduced mod p, so non-canonical encodings are caught too) and double it three times.
"""

from __future__ import annotations

__all__ = ["has_small_order"]

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _recover_x(y: int, sign: int) -> int | None:
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    return _P - x if (x & 1) != sign else x


def _double(p: _Point) -> _Point:
    a = (p[1] - p[0]) * (p[1] - p[0]) % _P
    b = (p[1] + p[0]) * (p[1] + p[0]) % _P
    c = 2 * p[3] * p[3] * _D % _P
    d = 2 * p[2] * p[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def has_small_order(public: bytes) -> bool:
    """Whether the 32-byte encoded point `public` has order 1, 2, 4 or 8 (False if it is no point)."""
    if len(public) != 32:
        return False
    encoded = int.from_bytes(public, "little")
    y, sign = (encoded & ((1 << 255) - 1)) % _P, encoded >> 255
    x = _recover_x(y, sign)
    if x is None:
        return False
    point: _Point = (x, y, 1, x * y % _P)
    for _ in range(3):
        point = _double(point)
    return point[0] % _P == 0 and (point[1] - point[2]) % _P == 0  # the identity: x = 0, y = 1
