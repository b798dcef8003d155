"""The coordinator's side of the ledger: append entries, sign checkpoints, serve Merkle proofs.

A `LedgerWriter` owns `DIR/ledger/` for one run. Appends are crash-atomic (see `fedward.ledger.store`):
one O_APPEND write of the whole line and its newline, then fsync, before `append` returns. A new ledger is
built in a temporary directory and renamed into place, so `DIR/ledger/` always holds both files. Opening
an existing ledger resumes it: a torn last line is cut away, the rest is verified with the coordinator's
key (a writer never extends a ledger it cannot verify), and complete entries after the last checkpoint
are kept, to be committed by the next `checkpoint()`. An exclusive lock keeps a second writer out.

Proofs are RFC 9162 section 2.1 inclusion and consistency proofs over the entries' line bytes.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from fedward.crypto import SigningKey
from fedward.ledger.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from fedward.ledger.entries import EntryError, make_entry
from fedward.ledger.errors import LedgerError
from fedward.ledger.merkle import MerkleAccumulator, consistency_proof, inclusion_proof, leaf_hash
from fedward.ledger.store import (
    CHECKPOINTS_FILE,
    ENTRIES_FILE,
    LEDGER_DIR,
    append_line,
    checkpoints_path,
    entries_path,
    fsync_dir,
    open_append,
    truncate_torn_tail,
)
from fedward.ledger.verify import read_verified_ledger

__all__ = ["LedgerWriter"]


def _create_ledger_dir(directory: Path) -> None:
    """Create `DIR/ledger/` with both files atomically: build `DIR/.ledger.tmp`, then rename it."""
    if not directory.exists():
        directory.mkdir(parents=True)
        fsync_dir(directory.parent)
    tmp = directory / f".{LEDGER_DIR}.tmp"
    if tmp.exists():  # a creation that a crash interrupted: remove only what we would have written
        for name in (ENTRIES_FILE, CHECKPOINTS_FILE):
            (tmp / name).unlink(missing_ok=True)
        tmp.rmdir()
    tmp.mkdir()
    for name in (ENTRIES_FILE, CHECKPOINTS_FILE):
        os.close(open_append(tmp / name, create=True))
    fsync_dir(tmp)
    os.rename(tmp, directory / LEDGER_DIR)
    fsync_dir(directory)


class LedgerWriter:
    """Append-only writer of one run's ledger under `directory/ledger/`, signing with `key`.

    `clock` returns the ISO 8601 UTC time of each entry and checkpoint (e.g. `fedward.ledger.utc_clock`).
    Use as a context manager, or call `close()`.
    """

    def __init__(self, directory: Path, key: SigningKey, ledger_id: str, clock: Callable[[], str]) -> None:
        if not (directory / LEDGER_DIR).exists():
            _create_ledger_dir(directory)
        self._key, self._ledger_id, self._clock = key, ledger_id, clock
        try:
            self._entries_fd = open_append(entries_path(directory))
        except FileNotFoundError:
            raise LedgerError("no ledger file entries.jsonl", where=entries_path(directory)) from None
        self._checkpoints_fd = -1
        self._broken = False
        try:
            fcntl.flock(self._entries_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._entries_fd)
            raise LedgerError("the ledger is open in another writer", where=entries_path(directory)) from None
        try:
            self._resume(directory)
        except BaseException:
            os.close(self._entries_fd)
            raise
        self._checkpoints_fd = open_append(checkpoints_path(directory))

    def _resume(self, directory: Path) -> None:
        """Verify what is on disk (torn tails are ignored by verification), then cut the torn tails."""
        ledger = read_verified_ledger(directory, self._key.public)
        if ledger.report.ledger_id not in (None, self._ledger_id):
            raise LedgerError(
                f"this ledger belongs to {ledger.report.ledger_id!r}, not {self._ledger_id!r}",
                where=checkpoints_path(directory),
            )
        truncate_torn_tail(entries_path(directory))
        truncate_torn_tail(checkpoints_path(directory))
        self._lines = ledger.lines
        self._leaves = ledger.leaf_hashes
        self._last_kind = ledger.entries[-1].kind if ledger.entries else None
        self._tree = MerkleAccumulator()
        for leaf in self._leaves:
            self._tree.append(leaf)
        self._latest = ledger.checkpoints[-1] if ledger.checkpoints else None

    @property
    def ledger_id(self) -> str:
        return self._ledger_id

    @property
    def size(self) -> int:
        """How many entries the ledger holds (committed or not)."""
        return len(self._leaves)

    @property
    def root(self) -> bytes:
        """The Merkle root of all entries (RFC 9162 section 2.1.1)."""
        return self._tree.root()

    @property
    def latest_checkpoint(self) -> SignedCheckpoint | None:
        return self._latest

    def line(self, index: int) -> bytes:
        """The exact bytes of entry `index` (its Merkle leaf data), e.g. to send a site with a proof."""
        return self._lines[index]

    def append(self, kind: str, /, *, time: str | None = None, **fields: Any) -> int:
        """Validate, write and fsync one entry; return its index. `time` overrides the clock."""
        self._check_usable()
        if self._last_kind == "run_finished":
            raise LedgerError("the run is finished: no entry may follow run_finished")
        if (self.size == 0) != (kind == "run_started"):
            raise EntryError("the first entry, and only the first, must be run_started")
        entry = make_entry(self.size, kind, self._clock() if time is None else time, fields)
        line = entry.line
        self._write(self._entries_fd, line)
        self._lines.append(line)
        self._leaves.append(leaf_hash(line))
        self._tree.append(self._leaves[-1])
        self._last_kind = kind
        return entry.seq

    def _check_usable(self) -> None:
        if self._broken or self._entries_fd < 0:
            raise LedgerError("the ledger writer is closed or a write failed: open the ledger again")

    def _write(self, fd: int, line: bytes) -> None:
        """Append a line; after a failed write the file may end torn, so refuse more until reopened."""
        try:
            append_line(fd, line)
        except OSError:
            self._broken = True
            raise

    def checkpoint(self) -> SignedCheckpoint:
        """Sign the current size and root, append it to checkpoints.jsonl (fsynced), and return it."""
        self._check_usable()
        checkpoint = Checkpoint(self._ledger_id, self.size, self.root.hex(), self._clock())
        signed = sign_checkpoint(checkpoint, self._key)
        self._write(self._checkpoints_fd, signed.line)
        self._latest = signed
        return signed

    def inclusion_proof_at(self, index: int, tree_size: int) -> list[bytes]:
        """RFC 9162 2.1.3.1 proof that entry `index` is in the tree of the first `tree_size` entries (the
        tree of a checkpoint, which may be older than the newest entries)."""
        if not 0 <= tree_size <= self.size:
            raise ValueError(f"tree size {tree_size} is outside 0..{self.size}")
        return inclusion_proof(self._leaves[:tree_size], index)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 2.1.4.1 proof that the first `old_size` entries are a prefix of the first `new_size`
        (default: all current entries)."""
        new = self.size if new_size is None else new_size
        if not 0 <= new <= self.size:
            raise ValueError(f"new size {new} is outside 0..{self.size}")
        return consistency_proof(self._leaves[:new], old_size)

    def close(self) -> None:
        for fd in (self._checkpoints_fd, self._entries_fd):
            if fd >= 0:
                os.close(fd)
        self._checkpoints_fd = self._entries_fd = -1

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
