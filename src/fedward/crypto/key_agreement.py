"""X25519 key pairs and the key agreement `HKDF-SHA256(X25519(private, peer), info)`.

X25519 is RFC 7748 and HKDF is RFC 5869. Secure aggregation (Bonawitz et al., CCS 2017, section 4) uses
two such agreements per pair of sites: one for the key that encrypts secret shares, one for the seed of
the pairwise mask. The raw 32-byte private key is exposed so that it can itself be secret-shared and,
when a site drops, reconstructed by the coordinator.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from fedward.crypto.errors import KeyAgreementError

__all__ = ["KEY_BYTES", "KeyPair", "agree"]

KEY_BYTES = 32
"""Length of an X25519 public key, an X25519 private key, and of the derived key."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An X25519 key pair; `public` is the 32 raw bytes to advertise."""

    private_key: X25519PrivateKey
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh key pair from the operating system's CSPRNG (via OpenSSL)."""
        return cls._wrap(X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> KeyPair:
        """Rebuild a key pair from the 32 raw private bytes of `private_bytes()`."""
        if len(raw) != KEY_BYTES:
            raise KeyAgreementError(f"an X25519 private key is {KEY_BYTES} bytes, got {len(raw)}")
        return cls._wrap(X25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def _wrap(cls, key: X25519PrivateKey) -> KeyPair:
        return cls(private_key=key, public=key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def private_bytes(self) -> bytes:
        """The 32 raw private bytes (secret: share them, never send them in the clear)."""
        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def agree(private: KeyPair | bytes, peer_public: bytes, *, info: bytes) -> bytes:
    """Derive a 32-byte key shared with the owner of `peer_public`.

    `info` binds the key to its purpose and context (RFC 5869, section 3.2); both parties must pass the
    same bytes. Raises `KeyAgreementError` for a malformed peer key or an all-zero shared secret, which
    is what a low-order peer point yields (RFC 7748, section 6.1).
    """
    pair = private if isinstance(private, KeyPair) else KeyPair.from_private_bytes(private)
    if len(peer_public) != KEY_BYTES:
        raise KeyAgreementError(f"an X25519 public key is {KEY_BYTES} bytes, got {len(peer_public)}")
    try:
        shared = pair.private_key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as exc:  # OpenSSL refuses the all-zero output itself
        raise KeyAgreementError("X25519 produced an all-zero shared secret (low-order public key)") from exc
    if shared == bytes(KEY_BYTES):
        raise KeyAgreementError("X25519 produced an all-zero shared secret (low-order public key)")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(shared)
