"""The narrow errors of the round ledger.

Every check of the ledger fails closed: a Merkle proof that does not verify (RFC 9162 section 2.1), a
checkpoint (signed tree head, RFC 9162 section 4.10) whose signature fails, a log that was edited,
truncated or forked raises one of these, never returns a quiet False. They are `UserError`s, so the CLI
prints them in one or two lines that name the file and line (`where=`) and exits with code 2.

`ForkError` carries two signed checkpoints as evidence, so it lives with the witness that raises it
(`witness.py`); this module imports nothing of the ledger, so no import cycle runs through it.
"""

from __future__ import annotations

from pathlib import Path

from fedward.errors import UserError

__all__ = ["CheckpointError", "LedgerError", "ProofError"]


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
