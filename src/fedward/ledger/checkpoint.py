"""Signed checkpoints: the coordinator's Ed25519 signature (RFC 8032) over a ledger's size and root.

A checkpoint is the "signed tree head" of RFC 6962 section 3.5 / RFC 9162 section 4.10: it commits the
coordinator to the first `tree_size` entries of ledger `ledger` (the run id) having Merkle root
`root_hash`. What is signed is a fixed context string followed by the checkpoint's canonical JSON, so a
checkpoint signature can never be replayed as the signature of an update manifest or a release, which
the same key may sign. Each line of `checkpoints.jsonl` is
`{"checkpoint": {...}, "key_id": ..., "signature": hex}`; `verify_checkpoint` fails closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.crypto import SignatureError, SigningKey, key_id, verify
from fedward.ledger.entries import EntryError, check_time
from fedward.ledger.errors import CheckpointError

__all__ = [
    "CHECKPOINT_CONTEXT",
    "Checkpoint",
    "SignedCheckpoint",
    "parse_signed_checkpoint",
    "sign_checkpoint",
    "verify_checkpoint",
]

CHECKPOINT_CONTEXT = b"fedward ledger checkpoint v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_FIELDS = frozenset({"ledger", "tree_size", "root_hash", "time"})


@dataclass(frozen=True)
class Checkpoint:
    """The claim "ledger `ledger` has `tree_size` entries with Merkle root `root_hash` (hex)"."""

    ledger: str
    tree_size: int
    root_hash: str
    time: str

    def __post_init__(self) -> None:
        if not isinstance(self.ledger, str) or not self.ledger:
            raise CheckpointError(f"checkpoint ledger must be a non-empty string, got {self.ledger!r}")
        size = self.tree_size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 2**53:
            raise CheckpointError(f"checkpoint tree_size must be an integer >= 0, got {size!r}")
        if not isinstance(self.root_hash, str) or _HEX64.fullmatch(self.root_hash) is None:
            raise CheckpointError(f"checkpoint root_hash must be 64 lowercase hex digits: {self.root_hash!r}")
        try:
            check_time(self.time)
        except EntryError as exc:
            raise CheckpointError(f"checkpoint {exc}") from None

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "time": self.time,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict) or set(data) != _FIELDS:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise CheckpointError(f"a checkpoint has exactly the fields {sorted(_FIELDS)}, got {got}")
        return cls(data["ledger"], data["tree_size"], data["root_hash"], data["time"])

    def signed_message(self) -> bytes:
        """The bytes the coordinator signs: the context string, then the canonical JSON."""
        return CHECKPOINT_CONTEXT + canonical_bytes(self.to_dict())


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with the coordinator's signature and the id of the key that made it."""

    checkpoint: Checkpoint
    signature: bytes
    key_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint.to_dict(),
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @property
    def line(self) -> bytes:
        """The canonical JSON line of `checkpoints.jsonl` (without the newline)."""
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> SignedCheckpoint:
        if not isinstance(data, dict) or set(data) != {"checkpoint", "key_id", "signature"}:
            raise CheckpointError("a signed checkpoint has exactly the fields checkpoint, key_id, signature")
        signature, kid = data["signature"], data["key_id"]
        if not isinstance(signature, str) or _HEX128.fullmatch(signature) is None:
            raise CheckpointError("checkpoint signature must be 128 lowercase hex digits")
        if not isinstance(kid, str) or _KEY_ID.fullmatch(kid) is None:
            raise CheckpointError(f"checkpoint key_id must be 16 lowercase hex digits, got {kid!r}")
        return cls(Checkpoint.from_dict(data["checkpoint"]), bytes.fromhex(signature), kid)


def parse_signed_checkpoint(line: bytes) -> SignedCheckpoint:
    """Strictly parse one line of `checkpoints.jsonl` (canonical JSON); does not check the signature."""
    try:
        return SignedCheckpoint.from_dict(parse_canonical(line, max_bytes=4096))
    except CanonicalError as exc:
        raise CheckpointError(f"not canonical JSON: {exc}") from None


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> SignedCheckpoint:
    return SignedCheckpoint(checkpoint, key.sign(checkpoint.signed_message()), key_id(key.public))


def verify_checkpoint(signed: SignedCheckpoint, public: bytes) -> Checkpoint:
    """Return the checkpoint when `public` (raw Ed25519) signed it; raise `CheckpointError` otherwise."""
    expected = key_id(public)
    if signed.key_id != expected:
        raise CheckpointError(
            f"checkpoint names key {signed.key_id}, not the coordinator key {expected}",
            hint="check that you verify with the coordinator public key of this run",
        )
    try:
        verify(public, signed.checkpoint.signed_message(), signed.signature)
    except SignatureError:
        raise CheckpointError("checkpoint signature does not verify (forged or altered)") from None
    return signed.checkpoint
