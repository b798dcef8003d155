"""Ed25519 verification is strict where RFC 8032 lets verifiers differ (attack catalogue): a signature
with S + L (the group order) in place of S, and a small-order public key, are refused by fedward's
`verify`; each with its power check."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedward.crypto import signatures
from fedward.crypto.signatures import SignatureError, SigningKey, verify
from fedward.crypto.small_order import has_small_order

L = 2**252 + 27742317777372353535851937790883648493  # the order of the Ed25519 base point
MESSAGE = b"fedward signed request"
IDENTITY = (1).to_bytes(32, "little")  # the neutral point (0, 1)
ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")


def _non_canonical(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:], "little")
    return signature[:32] + (s + L).to_bytes(32, "little")  # S + L < 2^256: the same scalar mod L


def test_a_signature_with_s_plus_l_is_refused() -> None:
    key = SigningKey.from_seed(bytes(range(32)))
    signature = key.sign(MESSAGE)
    verify(key.public, MESSAGE, signature)  # power check: the canonical signature verifies
    twin = _non_canonical(signature)
    assert twin != signature
    with pytest.raises(SignatureError, match="does not verify"):
        verify(key.public, MESSAGE, twin)


@pytest.mark.parametrize("public", [IDENTITY, ORDER_8, bytes(32)], ids=["identity", "order-8", "order-4"])
def test_a_small_order_public_key_is_refused(public: bytes) -> None:
    forged = IDENTITY + bytes(32)  # R = identity, S = 0: [S]B = R + [k]A for any message when [8]A = 0
    with pytest.raises(SignatureError, match="small-order"):
        verify(public, MESSAGE, forged)


def test_power_check_without_the_small_order_check_any_message_verifies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signatures, "has_small_order", lambda public: False)
    forged = IDENTITY + bytes(32)
    for message in (MESSAGE, b"another message", b""):
        verify(IDENTITY, message, forged)  # the attack: one "signature" of everything
    Ed25519PublicKey.from_public_bytes(IDENTITY).verify(forged, b"x")  # OpenSSL alone accepts it


def test_the_small_order_points_are_found_in_every_encoding_and_real_keys_are_not() -> None:
    p = 2**255 - 19
    small = [
        IDENTITY,
        bytes(32),  # y = 0: order 4
        (p - 1).to_bytes(32, "little"),  # y = -1: order 2
        ORDER_8,
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
        p.to_bytes(32, "little"),  # y = 0, non-canonical
        (p + 1).to_bytes(32, "little"),  # y = 1, non-canonical
        ORDER_8[:31] + bytes([ORDER_8[31] | 0x80]),  # the other x of the same y
    ]
    assert all(has_small_order(point) for point in small)
    assert not any(has_small_order(SigningKey.generate().public) for _ in range(20))
    assert not has_small_order(b"short")
