"""X25519 + HKDF-SHA256 key agreement: RFC 7748 known answer, symmetry, and low-order points refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedward.crypto import KEY_BYTES, KeyAgreementError, KeyPair, agree

# RFC 7748, section 6.1.
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PRIVATE = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

# Points of small order on Curve25519 (and non-canonical encodings of them); X25519 maps them to zero.
LOW_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


def test_rfc7748_vector_then_hkdf() -> None:
    alice = KeyPair.from_private_bytes(ALICE_PRIVATE)
    assert alice.public == ALICE_PUBLIC
    assert KeyPair.from_private_bytes(BOB_PRIVATE).public == BOB_PUBLIC
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ctx").derive(SHARED)
    assert agree(alice, BOB_PUBLIC, info=b"ctx") == expected
    assert agree(BOB_PRIVATE, ALICE_PUBLIC, info=b"ctx") == expected


def test_symmetric_and_bound_to_info_and_peer() -> None:
    a, b, c = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    key = agree(a, b.public, info=b"one")
    assert len(key) == KEY_BYTES
    assert key == agree(b, a.public, info=b"one") == agree(a.private_bytes(), b.public, info=b"one")
    assert key != agree(a, b.public, info=b"two")
    assert key != agree(a, c.public, info=b"one")
    assert KeyPair.from_private_bytes(a.private_bytes()).public == a.public
    assert len(a.public) == len(a.private_bytes()) == KEY_BYTES


@pytest.mark.parametrize("point", LOW_ORDER, ids=lambda p: p.hex()[:8])
def test_low_order_points_are_refused(point: bytes) -> None:
    with pytest.raises(KeyAgreementError, match="all-zero"):
        agree(KeyPair.generate(), point, info=b"x")


@pytest.mark.parametrize("length", [0, 31, 33])
def test_wrong_lengths_are_refused(length: int) -> None:
    with pytest.raises(KeyAgreementError, match="32 bytes"):
        agree(KeyPair.generate(), bytes(length), info=b"x")
    with pytest.raises(KeyAgreementError, match="32 bytes"):
        KeyPair.from_private_bytes(bytes(length))
