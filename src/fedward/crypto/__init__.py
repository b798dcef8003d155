"""Fenced cryptographic primitives: thin wrappers over `cryptography`, plus Shamir secret sharing.

The only layer that touches key material directly. It imports nothing else of fedward. The packages
that build on it are listed, and enforced, in pyproject.toml's import-linter contract "key material":
cli, coordinator, deployment, ledger, release, secagg, simulation, site, transport and trust.
Key agreement is X25519 + HKDF (RFC 7748, RFC 5869), the PRG is AES-256-CTR, authenticated encryption
is AES-256-GCM, and secret sharing is Shamir (1979) over GF(2^521 - 1): the building blocks of secure
aggregation (Bonawitz et al., CCS 2017). Signatures are Ed25519 (RFC 8032), for identities, update
packages, releases and ledger checkpoints.
"""

from fedward.crypto.aead import AEAD_KEY_BYTES, AEAD_OVERHEAD, open_, seal
from fedward.crypto.errors import CryptoError, DecryptionError, KeyAgreementError, SecretSharingError
from fedward.crypto.key_agreement import KEY_BYTES, KeyPair, agree
from fedward.crypto.prg import SEED_BYTES, expand, expand_into
from fedward.crypto.shamir import SHARE_BYTES, Share, combine, split
from fedward.crypto.signatures import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    SignatureError,
    SigningKey,
    key_id,
    load_public_key,
    load_signing_key,
    public_key_from_pem,
    public_key_pem,
    verify,
)

__all__ = [
    "AEAD_KEY_BYTES",
    "AEAD_OVERHEAD",
    "KEY_BYTES",
    "PUBLIC_KEY_BYTES",
    "SEED_BYTES",
    "SHARE_BYTES",
    "SIGNATURE_BYTES",
    "CryptoError",
    "DecryptionError",
    "KeyAgreementError",
    "KeyPair",
    "SecretSharingError",
    "Share",
    "SignatureError",
    "SigningKey",
    "agree",
    "combine",
    "expand",
    "expand_into",
    "key_id",
    "load_public_key",
    "load_signing_key",
    "open_",
    "public_key_from_pem",
    "public_key_pem",
    "seal",
    "split",
    "verify",
]
