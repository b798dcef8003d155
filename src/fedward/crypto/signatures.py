"""Ed25519 identities (RFC 8032): key generation, PEM files, signing and verification.

Private keys are written as unencrypted PKCS#8 PEM with mode 0600 (created that way, never widened);
public keys as SubjectPublicKeyInfo PEM. `verify` raises `SignatureError` on any failure and returns None
otherwise, so a caller cannot mistake a failed check for a pass.

`verify` is strict where RFC 8032 lets verifiers differ: a signature whose S is not below the group
order L (S + L, the malleable twin of a valid signature) is refused (OpenSSL checks this; a test pins
it), and so is a small-order public key, which OpenSSL accepts and for which a signature of any message
is trivial to make (small_order.py).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedward.crypto.errors import CryptoError
from fedward.crypto.small_order import has_small_order

__all__ = [
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "SignatureError",
    "SigningKey",
    "key_id",
    "load_public_key",
    "load_signing_key",
    "public_key_from_pem",
    "public_key_pem",
    "verify",
]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class SignatureError(CryptoError, ValueError):
    """A signature does not verify, or a key is malformed."""


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key and its raw 32-byte public key."""

    _private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key of a 32-byte RFC 8032 seed (for known-answer tests; real keys come from `generate`)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public(self) -> bytes:
        return self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, private_path: Path, public_path: Path) -> None:
        """Write the private key (0600) and the public key (0644); refuses to overwrite either."""
        for path in (private_path, public_path):
            if path.exists():
                raise FileExistsError(f"{path} exists; a key file is never overwritten")
        for path, content, mode in (
            (private_path, self.private_pem(), 0o600),
            (public_path, public_key_pem(self.public), 0o644),
        ):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)


def public_key_pem(public: bytes) -> bytes:
    key = Ed25519PublicKey.from_public_bytes(public)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_from_pem(data: bytes) -> bytes:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(path: Path) -> bytes:
    return public_key_from_pem(path.read_bytes())


def load_signing_key(path: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 private key")
    return SigningKey(key)


def verify(public: bytes, message: bytes, signature: bytes) -> None:
    """Return None when `signature` is `public`'s signature of `message`; raise `SignatureError` otherwise."""
    if len(public) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise SignatureError("malformed public key or signature length")
    if has_small_order(public):
        raise SignatureError("a small-order public key proves nothing: any signature verifies under it")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise SignatureError("signature does not verify") from None


def key_id(public: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public).hexdigest()[:16]
