"""The narrow errors of the round ledger.

Every check of the ledger fails closed: a Merkle proof that does not verify (RFC 9162 section 2.1), a
checkpoint (signed tree head, RFC 9162 section 4.10) whose signature fails, a log that was edited,
truncated or forked raises one of these, never returns a quiet False. They are `UserError`s, so the CLI
prints them in one or two lines that name the file and line (`where=`) and exits with code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fedward.errors import UserError

if TYPE_CHECKING:
    from fedward.ledger.checkpoint import SignedCheckpoint

__all__ = ["CheckpointError", "ForkError", "LedgerError", "ProofError"]


class LedgerError(UserError):
    """The ledger on disk (or a record from it) is malformed, tampered with or inconsistent.

    `where` names the file and line (`.../entries.jsonl:12`); `line` is that 1-based line number, when
    the error is about one line, for programs that want it without parsing `where`.
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | Path | None = None,
        hint: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.line = line


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof does not verify (RFC 9162 sections 2.1.3.2, 2.1.4.2)."""


class CheckpointError(LedgerError):
    """A signed checkpoint is malformed, or its signature or key does not verify."""


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
