"""Durable files: making a file's creation or rename survive a crash (POSIX needs the folder fsynced).

Used wherever fedward writes something a crash must not lose or tear: the ledger, the coordinator's
blob store, the site's outbox, the provisioned kits.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir"]


def fsync_dir(directory: Path) -> None:
    """Make the entries of `directory` (a file just created or renamed into it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
