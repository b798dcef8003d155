"""A site's witness of the coordinator's ledger: remember signed checkpoints and refuse forks.

A signature alone does not stop a coordinator from showing two sites (or one site at two times) two
different histories, each validly signed. The witness keeps the newest checkpoint it has seen and accepts
another only with a Merkle consistency proof (RFC 9162 section 2.1.4; RFC 6962 section 2.1.2) between
them: same size must mean same root, and the smaller tree must be a prefix of the larger. Anything else
raises `ForkError`, carrying both signed checkpoints as evidence anyone can check. This is the
"gossip"/witness defence of Certificate Transparency (RFC 9162 section 8.1.4), for one site.

State can persist to a JSON file (written atomically), so a restarted site still remembers what it saw;
the witness pins the coordinator key of the first checkpoint it accepts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.ledger.checkpoint import SignedCheckpoint, verify_checkpoint
from fedward.ledger.entries import Entry, EntryError, parse_entry
from fedward.ledger.errors import CheckpointError, LedgerError, ProofError
from fedward.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from fedward.ledger.store import fsync_dir

__all__ = ["CheckpointWitness", "ForkError"]


class ForkError(LedgerError):
    """Two checkpoints signed by the coordinator cannot both describe one append-only log.

    `earlier` and `later` are the two signed checkpoints as seen: together they are
    evidence, verifiable by anyone with the coordinator's public key, that the coordinator showed
    different histories.
    """

    def __init__(
        self, message: str, *, earlier: SignedCheckpoint, later: SignedCheckpoint, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.earlier = earlier
        self.later = later


class CheckpointWitness:
    """The checkpoints of ledger `ledger_id` one site has seen; `path` (optional) persists them."""

    def __init__(self, ledger_id: str, *, path: Path | None = None) -> None:
        self.ledger_id = ledger_id
        self._path = path
        self._public: bytes | None = None
        self._seen: list[SignedCheckpoint] = []
        if path is not None and path.exists():
            self._load(path)

    @property
    def latest(self) -> SignedCheckpoint | None:
        """The largest checkpoint seen (the first of that size), or None before the first."""
        return max(self._seen, key=lambda s: s.checkpoint.tree_size, default=None)

    @property
    def seen(self) -> list[SignedCheckpoint]:
        return list(self._seen)

    def observe(
        self, signed: SignedCheckpoint, public_key: bytes, consistency_proof: Sequence[bytes] = ()
    ) -> None:
        """Accept `signed` or raise: `CheckpointError` (bad signature, other key), `LedgerError` (other
        ledger), `ForkError` (not consistent with the latest checkpoint seen). `consistency_proof` is
        the RFC 9162 proof between the smaller and the larger of the two trees (empty for equal sizes)."""
        self._check_signed(signed, public_key)
        latest = self.latest
        if latest is not None:
            self._check_consistent(latest, signed, consistency_proof)
        if signed in self._seen:
            return
        self._public = public_key
        self._seen.append(signed)
        if self._path is not None:
            self._save(self._path)

    def _check_signed(self, signed: SignedCheckpoint, public_key: bytes) -> None:
        if self._public is not None and public_key != self._public:
            raise CheckpointError(
                "checkpoint verified with another key than the coordinator key this witness pinned",
                hint="a coordinator key change needs a new witness (and a reason)",
            )
        checkpoint = verify_checkpoint(signed, public_key)
        if checkpoint.ledger != self.ledger_id:
            raise LedgerError(f"checkpoint is for ledger {checkpoint.ledger!r}, not {self.ledger_id!r}")

    @staticmethod
    def _check_consistent(latest: SignedCheckpoint, new: SignedCheckpoint, proof: Sequence[bytes]) -> None:
        old_cp, new_cp = latest.checkpoint, new.checkpoint
        small, large = (new_cp, old_cp) if new_cp.tree_size < old_cp.tree_size else (old_cp, new_cp)
        try:
            verify_consistency(small.tree_size, large.tree_size, small.root, large.root, proof)
        except ProofError as exc:
            raise ForkError(
                f"the coordinator showed two histories: checkpoint of {new_cp.tree_size} entries "
                f"(root {new_cp.root_hash[:16]}) is not consistent with the one of {old_cp.tree_size} "
                f"seen before (root {old_cp.root_hash[:16]}): {exc}",
                earlier=latest,
                later=new,
                hint="keep both signed checkpoints as evidence and stop trusting this coordinator",
            ) from None

    def check_inclusion(self, entry_line: bytes, index: int, proof: Sequence[bytes]) -> Entry:
        """Return the entry on `entry_line` when `proof` shows it at `index` in the latest checkpoint seen;
        raise `ProofError` (not in that tree) or `LedgerError` (no checkpoint yet, not an entry)."""
        latest = self.latest
        if latest is None:
            raise LedgerError("no checkpoint seen yet: observe one before checking entries")
        cp = latest.checkpoint
        verify_inclusion(leaf_hash(entry_line), index, cp.tree_size, proof, cp.root)
        try:
            entry = parse_entry(entry_line)
        except EntryError as exc:  # a signed leaf that is no entry: the coordinator wrote garbage
            raise LedgerError(f"entry {index} is in the ledger but is not a valid entry: {exc}") from None
        if entry.seq != index:
            raise LedgerError(f"entry at index {index} says seq {entry.seq}")
        return entry

    def _to_dict(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger_id,
            "public_key": self._public.hex() if self._public is not None else None,
            "checkpoints": [s.to_dict() for s in self._seen],
        }

    def _save(self, path: Path) -> None:
        """Write atomically: a temporary file, fsync, rename over the old one, fsync the directory."""
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(canonical_bytes(self._to_dict()))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def _load(self, path: Path) -> None:
        """Read persisted state strictly and re-check every stored signature, key and ledger id."""
        try:
            data = parse_canonical(path.read_bytes(), max_bytes=64 << 20)
        except CanonicalError as exc:
            raise LedgerError(f"witness state is not canonical JSON: {exc}", where=path) from None
        if not isinstance(data, dict) or set(data) != {"ledger", "public_key", "checkpoints"}:
            raise LedgerError("witness state must hold ledger, public_key, checkpoints", where=path)
        if data["ledger"] != self.ledger_id:
            raise LedgerError(f"witness state is for ledger {data['ledger']!r}", where=path)
        raw = data["checkpoints"]
        if not isinstance(raw, list) or (raw and not isinstance(data["public_key"], str)):
            raise LedgerError("witness state has malformed checkpoints or key", where=path)
        try:
            public = bytes.fromhex(data["public_key"]) if raw else None
            for item in raw:
                signed = SignedCheckpoint.from_dict(item)
                self._check_signed(signed, public or b"")
                self._public = public
                self._seen.append(signed)
        except (CheckpointError, ValueError) as exc:
            raise LedgerError(f"witness state does not verify: {exc}", where=path) from None
