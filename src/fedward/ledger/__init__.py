"""The tamper-evident round ledger: an append-only log of what a run did, bound by signed Merkle roots.

Each event of a run (run started, sites admitted, rounds opened, updates accepted or rejected, privacy
spent, aggregates, releases, run finished) is one canonical JSON line of `DIR/ledger/entries.jsonl`. The
lines are the leaves of an RFC 9162 / RFC 6962 Merkle tree; after each round the coordinator signs a
checkpoint (tree size and root, Ed25519) into `DIR/ledger/checkpoints.jsonl`. Anyone with the coordinator's
public key can then detect an edited, deleted, inserted, reordered or truncated entry (`verify_ledger`),
and a site that remembers checkpoints detects a coordinator that shows two histories (`CheckpointWitness`).

Modules: `merkle` (RFC 9162 section 2.1 hashes and proofs), `entries` (kinds and encoding), `store` (files
and crash-atomic appends), `checkpoint` (signed tree heads), `writer` (the coordinator's side), `verify`,
`witness` (the site's side), `show` (readable lines).
"""

from fedward.ledger.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    parse_signed_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from fedward.ledger.entries import ENTRY_FIELDS, KINDS, Entry, EntryError, make_entry, parse_entry, utc_clock
from fedward.ledger.errors import CheckpointError, LedgerError, ProofError
from fedward.ledger.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from fedward.ledger.show import describe_entries, describe_ledger
from fedward.ledger.store import checkpoints_path, entries_path
from fedward.ledger.verify import LedgerReport, read_entries, verify_ledger
from fedward.ledger.witness import CheckpointWitness, ForkError
from fedward.ledger.writer import LedgerWriter

__all__ = [
    "EMPTY_ROOT",
    "ENTRY_FIELDS",
    "KINDS",
    "Checkpoint",
    "CheckpointError",
    "CheckpointWitness",
    "Entry",
    "EntryError",
    "ForkError",
    "LedgerError",
    "LedgerReport",
    "LedgerWriter",
    "MerkleAccumulator",
    "ProofError",
    "SignedCheckpoint",
    "checkpoints_path",
    "consistency_proof",
    "describe_entries",
    "describe_ledger",
    "entries_path",
    "inclusion_proof",
    "leaf_hash",
    "make_entry",
    "node_hash",
    "parse_entry",
    "parse_signed_checkpoint",
    "read_entries",
    "root_hash",
    "sign_checkpoint",
    "utc_clock",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_ledger",
]
