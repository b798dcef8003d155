"""Authenticated encryption: AES-256-GCM with a random 96-bit nonce prepended to the ciphertext.

NIST SP 800-38D. Secure aggregation (Bonawitz et al., CCS 2017, section 4) sends each secret share to
its holder through the coordinator under such a cipher, with associated data that binds the session,
sender and receiver, so the coordinator can neither read, alter nor replay a share. Keys are used for a
handful of messages, far below the 2^32 random-nonce limit of SP 800-38D section 8.3.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fedward.crypto.errors import DecryptionError

__all__ = ["AEAD_KEY_BYTES", "AEAD_OVERHEAD", "NONCE_BYTES", "TAG_BYTES", "open_", "seal"]

AEAD_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
AEAD_OVERHEAD = NONCE_BYTES + TAG_BYTES
"""Bytes a sealed message adds to its plaintext."""


def seal(key: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
    """Encrypt and authenticate `plaintext`; returns nonce || ciphertext || tag."""
    if len(key) != AEAD_KEY_BYTES:
        raise ValueError(f"an AES-256-GCM key is {AEAD_KEY_BYTES} bytes, got {len(key)}")
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_(key: bytes, sealed: bytes, *, associated_data: bytes) -> bytes:
    """Decrypt the output of `seal`; raises `DecryptionError` on any failure, never returns forged data."""
    if len(key) != AEAD_KEY_BYTES:
        raise DecryptionError(f"an AES-256-GCM key is {AEAD_KEY_BYTES} bytes, got {len(key)}")
    if len(sealed) < AEAD_OVERHEAD:
        raise DecryptionError("the sealed message is shorter than a nonce and a tag")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except InvalidTag as exc:
        raise DecryptionError("the sealed message failed authentication") from exc
