"""The coordinator's persistent state: the journal (`StateStore`, in memory or SQL) and the blob store.

`open_state_store(url)` picks the implementation from the URL: `memory://` keeps nothing across a
restart (tests, in-process runs); `sqlite:///PATH` and `postgresql://...` are durable (`SqlStateStore`).
"""

from fedward.coordinator.state.base import (
    ReplayDivergedError,
    ReplyRecord,
    RoundRow,
    StateStore,
    TaskRecord,
)
from fedward.coordinator.state.blobs import (
    BlobCorruptError,
    BlobStore,
    PartialUpload,
    UploadError,
    UploadStatus,
)
from fedward.coordinator.state.memory import MemoryStateStore
from fedward.coordinator.state.sql import SqlStateStore, sql_url_for

__all__ = [
    "BlobCorruptError",
    "BlobStore",
    "MemoryStateStore",
    "PartialUpload",
    "ReplayDivergedError",
    "ReplyRecord",
    "RoundRow",
    "SqlStateStore",
    "StateStore",
    "TaskRecord",
    "UploadError",
    "UploadStatus",
    "open_state_store",
    "sql_url_for",
]

MEMORY_URL = "memory://"


def open_state_store(url: str) -> StateStore:
    """The state store `url` names: `memory://` in memory, anything else through SQLAlchemy."""
    if url == MEMORY_URL:
        return MemoryStateStore()
    return SqlStateStore(url)
