"""Verify a ledger on disk: every entry, every signed checkpoint, and the Merkle roots that bind them.

The checks, in the order a reader meets the problems (the first one found is the error, naming its file
and line):

1. entries.jsonl: each complete line is a valid canonical entry whose `seq` is its line index (an entry
   deleted, inserted or moved breaks the count); the first entry is `run_started`, and nothing follows
   `run_finished`. A torn tail (bytes after the last newline, left by a crash) is ignored and reported.
2. checkpoints.jsonl: each line is a signed checkpoint of the coordinator's key for one ledger id, sizes
   never shrink, one size has one root, no checkpoint covers more entries than exist (truncated log),
   and the Merkle root (RFC 9162 section 2.1) of the first `tree_size` entries is the signed root. A root
   mismatch is how an edited value inside an entry is caught.

Entries after the last checkpoint are "uncommitted" (a crash came before the next checkpoint): allowed,
and counted in the report. What the ledger files alone cannot show is a rollback of the newest checkpoints
with their entries, which looks like a crash. Three things outside them catch it: a checkpoint a site
witnessed (`read_checkpoint_file` + `check_extends`: the ledger must extend it, by an RFC 9162 section
2.1.4 consistency proof), the run directory's releases and summary (`fedward.release.trail`), and the
signed run manifest (`fedward.release.manifest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fedward.ledger.checkpoint import Checkpoint, SignedCheckpoint, parse_signed_checkpoint, verify_checkpoint
from fedward.ledger.entries import Entry, EntryError, parse_entry
from fedward.ledger.errors import CheckpointError, LedgerError, ProofError
from fedward.ledger.merkle import MerkleAccumulator, consistency_proof, leaf_hash, verify_consistency
from fedward.ledger.store import CHECKPOINTS_FILE, LEDGER_DIR, checkpoints_path, entries_path, read_lines

__all__ = [
    "LedgerReport",
    "VerifiedLedger",
    "check_extends",
    "read_checkpoint_file",
    "read_entries",
    "read_verified_ledger",
    "verify_ledger",
]

MAX_CHECKPOINT_FILE = 4096


@dataclass(frozen=True)
class LedgerReport:
    """What a verified ledger holds. `uncommitted` entries follow the last checkpoint (after a crash);
    `torn_bytes` were ignored after the last newline of either file."""

    ledger_id: str | None
    entries: int
    checkpoints: int
    rounds: int
    committed: int
    uncommitted: int
    root_hash: str | None
    finished: bool
    torn_bytes: int


@dataclass(frozen=True)
class VerifiedLedger:
    """The parsed contents of a verified ledger, for the writer to resume from."""

    entries: list[Entry]
    lines: list[bytes]
    leaf_hashes: list[bytes]
    checkpoints: list[SignedCheckpoint]
    report: LedgerReport


def _require_files(directory: Path) -> None:
    for path in (entries_path(directory), checkpoints_path(directory)):
        if not path.is_file():
            raise LedgerError(
                f"no ledger file {path.name}",
                where=path,
                hint=f"give the run directory that holds {LEDGER_DIR}/ (the coordinator writes it)",
            )


def _check_order(entry: Entry, index: int, previous: Entry | None) -> str | None:
    if entry.seq != index:
        return f"entry has seq {entry.seq} where {index} belongs: entries were deleted, inserted or moved"
    if (index == 0) != (entry.kind == "run_started"):
        return "the first entry, and only the first, must be run_started"
    if previous is not None and previous.kind == "run_finished":
        return f"a {entry.kind} entry follows run_finished, which must be the last entry"
    return None


def _parse_entries(path: Path, lines: Sequence[bytes]) -> list[Entry]:
    entries: list[Entry] = []
    for index, line in enumerate(lines):
        try:
            entry = parse_entry(line)
        except EntryError as exc:
            raise LedgerError(f"bad entry: {exc}", where=f"{path}:{index + 1}", line=index + 1) from None
        problem = _check_order(entry, index, entries[-1] if entries else None)
        if problem is not None:
            raise LedgerError(problem, where=f"{path}:{index + 1}", line=index + 1)
        entries.append(entry)
    return entries


def _consistency_problem(checkpoint: Checkpoint, last: Checkpoint | None) -> str | None:
    """Why `checkpoint` cannot follow `last` in one append-only log, or None."""
    if last is None:
        return None
    if checkpoint.ledger != last.ledger:
        return f"checkpoint is for ledger {checkpoint.ledger!r}, earlier ones for {last.ledger!r}"
    if checkpoint.tree_size < last.tree_size:
        return f"checkpoint of {checkpoint.tree_size} entries follows one of {last.tree_size}"
    if checkpoint.tree_size == last.tree_size and checkpoint.root_hash != last.root_hash:
        return f"checkpoint gives another root than the one before it for {last.tree_size} entries"
    return None


def _check_root(
    entries_file: Path, number: int, checkpoint: Checkpoint, tree: MerkleAccumulator, leaves: Sequence[bytes]
) -> None:
    """Grow `tree` to the checkpoint's size; its root must be the signed one (RFC 9162 section 2.1.1)."""
    size, start = checkpoint.tree_size, tree.size
    if size > len(leaves):
        raise LedgerError(
            f"the log was truncated: {CHECKPOINTS_FILE}:{number} covers {size} entries, "
            f"only {len(leaves)} are present",
            where=f"{entries_file}:{len(leaves) + 1}",
            line=len(leaves) + 1,
        )
    while tree.size < size:
        tree.append(leaves[tree.size])
    if tree.root() != checkpoint.root:
        raise LedgerError(
            f"an entry among lines {start + 1}..{size} was changed: the Merkle root of the first {size} "
            f"entries is not the one signed in {CHECKPOINTS_FILE}:{number}",
            where=f"{entries_file}:{start + 1}",
            line=start + 1,
        )


def _check_checkpoints(
    directory: Path, lines: Sequence[bytes], public_key: bytes, leaves: Sequence[bytes]
) -> list[SignedCheckpoint]:
    """In order, each checkpoint: well-formed, signed by `public_key`, consistent with the one before,
    and (the Merkle root) true of the entries. The first failure is the error."""
    path, tree = checkpoints_path(directory), MerkleAccumulator()
    out: list[SignedCheckpoint] = []
    for number, line in enumerate(lines, start=1):
        try:
            signed = parse_signed_checkpoint(line)
            checkpoint = verify_checkpoint(signed, public_key)
        except CheckpointError as exc:
            raise LedgerError(
                f"bad checkpoint: {exc}", where=f"{path}:{number}", line=number, hint=exc.hint
            ) from None
        problem = _consistency_problem(checkpoint, out[-1].checkpoint if out else None)
        if problem is not None:
            raise LedgerError(f"inconsistent checkpoint: {problem}", where=f"{path}:{number}", line=number)
        _check_root(entries_path(directory), number, checkpoint, tree, leaves)
        out.append(signed)
    return out


def read_entries(directory: Path) -> list[Entry]:
    """The entries of a ledger, strictly parsed and in order, WITHOUT checking checkpoints or roots
    (for display; `verify_ledger` is the check)."""
    _require_files(directory)
    path = entries_path(directory)
    return _parse_entries(path, read_lines(path).lines)


def read_verified_ledger(directory: Path, public_key: bytes) -> VerifiedLedger:
    """Verify the ledger under `directory` (see the module docstring) and return its contents."""
    _require_files(directory)
    e_path, c_path = entries_path(directory), checkpoints_path(directory)
    e_lines, c_lines = read_lines(e_path), read_lines(c_path)
    entries = _parse_entries(e_path, e_lines.lines)
    leaves = [leaf_hash(line) for line in e_lines.lines]
    checkpoints = _check_checkpoints(directory, c_lines.lines, public_key, leaves)
    last = checkpoints[-1].checkpoint if checkpoints else None
    committed = last.tree_size if last else 0
    report = LedgerReport(
        ledger_id=last.ledger if last else None,
        entries=len(entries),
        checkpoints=len(checkpoints),
        rounds=len({e.fields["round"] for e in entries if e.kind == "round_opened"}),
        committed=committed,
        uncommitted=len(entries) - committed,
        root_hash=last.root_hash if last else None,
        finished=committed > 0 and entries[committed - 1].kind == "run_finished",
        torn_bytes=e_lines.torn_bytes + c_lines.torn_bytes,
    )
    return VerifiedLedger(entries, e_lines.lines, leaves, checkpoints, report)


def verify_ledger(directory: Path, public_key: bytes) -> LedgerReport:
    """Return a report when the ledger under `directory` (the run directory holding `ledger/`) verifies
    against the coordinator's raw Ed25519 `public_key`; raise `LedgerError` naming the first bad line."""
    return read_verified_ledger(directory, public_key).report


def read_checkpoint_file(path: Path) -> SignedCheckpoint:
    """A signed checkpoint kept outside the ledger (a site's `witness/RUN_ID.json`, or a line copied from
    `checkpoints.jsonl`): one canonical JSON object, a trailing newline allowed. Does not check the
    signature (`check_extends` does); raises `LedgerError` naming `path`."""
    if not path.is_file():
        raise LedgerError("witnessed checkpoint file not found", where=path)
    with path.open("rb") as fh:
        data = fh.read(MAX_CHECKPOINT_FILE + 1)
    if len(data) > MAX_CHECKPOINT_FILE:
        raise LedgerError(
            f"a signed checkpoint is under {MAX_CHECKPOINT_FILE} bytes; this file is not one", where=path
        )
    try:
        return parse_signed_checkpoint(data.rstrip(b"\n"))
    except CheckpointError as exc:
        raise LedgerError(f"not a signed checkpoint: {exc}", where=path) from None


def check_extends(
    verified: VerifiedLedger, signed: SignedCheckpoint, public_key: bytes, *, where: Path
) -> Checkpoint:
    """Return the witnessed checkpoint `signed` when `public_key` signed it and the verified ledger's last
    signed checkpoint extends it: same ledger id, at least as many entries, and an RFC 9162 section
    2.1.4 consistency proof from its size to the ledger's committed size that verifies. Raise
    `LedgerError` (naming `where`, the checkpoint's file) when the ledger was cut back or forked."""
    try:
        checkpoint = verify_checkpoint(signed, public_key)
    except CheckpointError as exc:
        raise LedgerError(f"witnessed checkpoint: {exc}", where=where, hint=exc.hint) from None
    report = verified.report
    if checkpoint.ledger != report.ledger_id:
        raise LedgerError(
            f"the witnessed checkpoint is for ledger {checkpoint.ledger!r}, "
            f"this ledger is {report.ledger_id!r}",
            where=where,
        )
    size = report.committed
    if checkpoint.tree_size > size:
        raise LedgerError(
            f"the ledger was cut back: the witnessed checkpoint covers {checkpoint.tree_size} entries, the "
            f"ledger's last signed checkpoint only {size}",
            where=where,
            hint="the coordinator signed a longer history than this ledger holds; keep the checkpoint",
        )
    if report.root_hash is None:
        raise LedgerError(
            "the ledger has no signed checkpoint to compare the witnessed one with", where=where
        )
    proof = consistency_proof(verified.leaf_hashes[:size], checkpoint.tree_size)
    try:
        verify_consistency(
            checkpoint.tree_size, size, checkpoint.root, bytes.fromhex(report.root_hash), proof
        )
    except ProofError as exc:
        raise LedgerError(
            f"the ledger does not extend the witnessed checkpoint of {checkpoint.tree_size} entries (root "
            f"{checkpoint.root_hash[:16]}): another history was written in its place: {exc}",
            where=where,
            hint="keep this checkpoint and the ledger as evidence of the fork",
        ) from None
    return checkpoint
