"""AES-256-GCM seal/open: any tampered byte is refused; the power check shows CTR alone would not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fedward.crypto import AEAD_OVERHEAD, DecryptionError, open_, seal
from fedward.crypto.aead import NONCE_BYTES, TAG_BYTES

KEY = bytes(range(32))
AD = b"session|sender|receiver"
PLAIN = b"share bytes that matter to somebody"


def test_roundtrip_and_fresh_nonces() -> None:
    first, second = seal(KEY, PLAIN, associated_data=AD), seal(KEY, PLAIN, associated_data=AD)
    assert len(first) == len(PLAIN) + AEAD_OVERHEAD
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES] and first != second
    assert open_(KEY, first, associated_data=AD) == PLAIN == open_(KEY, second, associated_data=AD)
    assert open_(KEY, seal(KEY, b"", associated_data=b""), associated_data=b"") == b""


def test_every_tampered_byte_is_refused() -> None:
    sealed = seal(KEY, PLAIN, associated_data=AD)
    for position in range(len(sealed)):
        for flip in (0x01, 0x80):
            tampered = bytearray(sealed)
            tampered[position] ^= flip
            with pytest.raises(DecryptionError):
                open_(KEY, bytes(tampered), associated_data=AD)


@pytest.mark.parametrize(
    ("key", "sealed_change", "ad"),
    [
        (bytes(32), lambda s: s, AD),
        (KEY, lambda s: s, AD + b"x"),
        (KEY, lambda s: s, b""),
        (KEY, lambda s: s[:-1], AD),
        (KEY, lambda s: s + b"\x00", AD),
        (KEY, lambda s: s[: AEAD_OVERHEAD - 1], AD),
        (KEY, lambda s: b"", AD),
        (bytes(16), lambda s: s, AD),
    ],
)
def test_wrong_key_ad_or_length_is_refused(
    key: bytes, sealed_change: Callable[[bytes], bytes], ad: bytes
) -> None:
    with pytest.raises(DecryptionError):
        open_(key, sealed_change(seal(KEY, PLAIN, associated_data=AD)), associated_data=ad)


def test_seal_refuses_a_wrong_key_size() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(bytes(16), PLAIN, associated_data=AD)


def test_power_check_without_the_tag_a_flipped_bit_passes_silently() -> None:
    sealed = bytearray(seal(KEY, PLAIN, associated_data=AD))
    sealed[NONCE_BYTES] ^= 0x01
    counter = bytes(sealed[:NONCE_BYTES]) + (2).to_bytes(4, "big")  # GCM's first data counter block
    decryptor = Cipher(algorithms.AES(KEY), modes.CTR(counter)).decryptor()
    forged = decryptor.update(bytes(sealed[NONCE_BYTES:-TAG_BYTES])) + decryptor.finalize()
    assert forged == bytes([PLAIN[0] ^ 0x01]) + PLAIN[1:]
    with pytest.raises(DecryptionError):
        open_(KEY, bytes(sealed), associated_data=AD)
