"""Durable files: making a file's creation or rename survive a crash (POSIX needs the folder fsynced).

Used wherever fedward writes something a crash must not lose or tear: the ledger, the coordinator's
blob store, the site's outbox, the provisioned kits.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "write_atomic"]


def fsync_dir(directory: Path) -> None:
    """Make the entries of `directory` (a file just created or renamed into it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the whole new one: a
    temporary file beside it, fsynced, renamed over `path`, then the folder fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
