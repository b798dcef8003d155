"""The errors fedward raises on purpose.

`UserError` and its subclasses are mistakes a person can fix (a bad config key, a missing file, a label
column that does not exist). The CLI prints them in one or two lines, naming the file, key or site, and
exits with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "DataError", "FederationError", "UserError"]


class UserError(Exception):
    """A problem in what the user gave fedward; the message says where and what to do."""

    def __init__(self, message: str, *, where: str | Path | None = None, hint: str | None = None) -> None:
        self.where = str(where) if where is not None else None
        self.hint = hint
        super().__init__(message)

    def render(self) -> str:
        """One or two lines for a person: `where: message` and, when known, what to do."""
        head = f"{self.where}: {self}" if self.where else str(self)
        return f"{head}\n  hint: {self.hint}" if self.hint else head


class ConfigError(UserError):
    """The federation config file is invalid (unknown key, wrong type, missing value)."""


class DataError(UserError):
    """A site's data cannot be used (missing file, bad header, non-numeric feature, too few rows)."""


class FederationError(UserError):
    """The federation cannot go on (too few sites replied, every round failed)."""
