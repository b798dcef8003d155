"""The narrow errors of the crypto layer.

Every primitive fails closed: a ciphertext that does not authenticate, a key agreement that lands on a
low-order point, or a set of secret shares that cannot determine the secret raises one of these, never
returns a wrong answer silently.
"""

from __future__ import annotations

__all__ = ["CryptoError", "DecryptionError", "KeyAgreementError", "SecretSharingError"]


class CryptoError(Exception):
    """Base class of the errors raised by `fedward.crypto`."""


class DecryptionError(CryptoError):
    """A sealed message failed authentication (tampered, truncated, wrong key or associated data)."""


class KeyAgreementError(CryptoError, ValueError):
    """A peer public key is malformed or yields an all-zero shared secret (a low-order point)."""


class SecretSharingError(CryptoError, ValueError):
    """Shares are malformed, too few, duplicated, or inconsistent with one polynomial."""
