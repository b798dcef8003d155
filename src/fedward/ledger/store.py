"""The ledger's files on disk and crash-atomic line appends.

Layout, under a run directory DIR:

    DIR/ledger/entries.jsonl       one canonical JSON entry per line (the Merkle leaves, RFC 9162 2.1)
    DIR/ledger/checkpoints.jsonl   one signed checkpoint (tree size + root) per line

Both files only grow. A line is written with one `write` of the whole line and its newline on a file
opened with O_APPEND, then fsynced, so a process killed at any moment leaves either the whole line or a
torn last line without its newline. Readers ignore (and report) such a torn tail; the writer truncates it
when it reopens the ledger. A newline is the commit mark, so a line without one was never acknowledged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fedward.core.durable import fsync_dir

__all__ = [
    "CHECKPOINTS_FILE",
    "ENTRIES_FILE",
    "LEDGER_DIR",
    "Lines",
    "append_line",
    "checkpoints_path",
    "entries_path",
    "fsync_dir",
    "open_append",
    "read_lines",
    "truncate_torn_tail",
]

LEDGER_DIR = "ledger"
ENTRIES_FILE = "entries.jsonl"
CHECKPOINTS_FILE = "checkpoints.jsonl"


def entries_path(directory: Path) -> Path:
    return directory / LEDGER_DIR / ENTRIES_FILE


def checkpoints_path(directory: Path) -> Path:
    return directory / LEDGER_DIR / CHECKPOINTS_FILE


@dataclass(frozen=True)
class Lines:
    """The complete lines of a ledger file (without newlines) and the length of a torn tail, if any."""

    lines: list[bytes]
    torn_bytes: int


def read_lines(path: Path) -> Lines:
    """Split a file into its newline-terminated lines; bytes after the last newline are a torn tail."""
    data = path.read_bytes()
    body, _, tail = data.rpartition(b"\n")
    lines = body.split(b"\n") if body or data.startswith(b"\n") else []
    return Lines(lines, len(tail))


def open_append(path: Path, *, create: bool = False) -> int:
    """Open for appending; with `create`, make the file if needed and fsync its directory when new."""
    flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
    created = create and not path.exists()
    fd = os.open(path, flags, 0o644)
    if created:
        os.fsync(fd)
        fsync_dir(path.parent)
    return fd


def append_line(fd: int, line: bytes) -> None:
    """Append `line` and its newline in one write, then fsync: the line is durable when this returns."""
    if b"\n" in line:
        raise ValueError("a ledger line cannot contain a newline")
    data = memoryview(line + b"\n")
    while data:  # a regular file takes the whole write; the loop only guards against a short one
        written = os.write(fd, data)
        data = data[written:]
    os.fsync(fd)


def truncate_torn_tail(path: Path) -> int:
    """Cut bytes after the last newline (a write a crash interrupted); return how many were cut."""
    torn = read_lines(path).torn_bytes
    if torn:
        size = path.stat().st_size
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size - torn)
            os.fsync(fd)
        finally:
            os.close(fd)
    return torn
