"""The coordinator's persistent state: the seam, and the records that cross it.

A deployed coordinator keeps a journal of everything the round loop could not compute by itself: the
run's identity, every task it sent, the first reply to each task (or the timeout it decided instead),
every clock reading and every secret seed it drew. The round loop is deterministic given those, so a
coordinator killed at any point and started again replays the journal through the same code and arrives
at the same state: the same strategy and optimizer state, the same privacy events, the same ledger bytes
and the same model (docs/deployment.md). Derived state (one row per finished round, the privacy events
per site) is also written, for `fedward coordinator status` and as a check that a replay did not diverge.

Parameter bytes are not in the database: they live in a content-addressed `BlobStore` on disk next to
it, named by their SHA-256, and rows refer to them by hash.

Every method is atomic and safe to call from several threads. Implementations: `MemoryStateStore`
(tests) and `SqlStateStore` (SQLAlchemy: SQLite by default, PostgreSQL); one contract suite runs against
all of them (tests/contract/test_state_store.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ReplayDivergedError",
    "ReplyRecord",
    "RoundRow",
    "StateStore",
    "TaskRecord",
]


class ReplayDivergedError(Exception):
    """A replayed run asked for a task whose content differs from the journal's: the state is not the
    state this code and configuration produce, and going on would count things twice."""


@dataclass(frozen=True)
class TaskRecord:
    task_id: str  # fedward.transport.wire.task_id
    site: str
    round: int
    kind: str
    body: str  # the TaskMessage as JSON (blob references included)
    body_sha256: str  # of `body`; a replay must reproduce it exactly


@dataclass(frozen=True)
class ReplyRecord:
    task_id: str
    site: str
    status: str  # "ok" | "failed" | "timeout" | "revoked" (closed: the roster revoked the site meanwhile)
    body: str  # the ReplyMessage as JSON; for a timeout or a revocation, {"error": "..."}
    received: str  # ISO 8601 UTC time the coordinator stored it


@dataclass(frozen=True)
class RoundRow:
    round: int
    body: str  # RoundRecord.to_json() as JSON


class StateStore(Protocol):
    # --- the run -----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """A run-level value (e.g. 'run_id', 'state', 'round'), or None if never set."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Set (insert or overwrite) a run-level value."""
        ...

    def meta_once(self, key: str, make: Callable[[], str]) -> str:
        """The stored value of `key`; if there is none, store `make()` and return it. Exactly one
        value ever wins, even when two callers race."""
        ...

    # --- recorded nondeterminism ---------------------------------------------------------------------
    def recorded(self, stream: str, index: int, make: Callable[[], str]) -> str:
        """The value at (`stream`, `index`) of a journal of readings (clock, secret seeds); if absent,
        store `make()` there and return it. Replays read back exactly what the first run saw."""
        ...

    # --- tasks and replies ---------------------------------------------------------------------------
    def put_task(self, task: TaskRecord) -> bool:
        """Journal a task. True if new; False if the same task is already there. A task with this id
        but another `body_sha256` raises ReplayDivergedError."""
        ...

    def task(self, task_id: str) -> TaskRecord | None: ...

    def open_tasks(self, site: str) -> list[TaskRecord]:
        """The site's tasks that have no reply yet, oldest first."""
        ...

    def put_reply(self, reply: ReplyRecord) -> bool:
        """Store the first reply to a task (a timeout counts as one). True if stored; False if the task
        already has a reply, which is kept unchanged. A reply to an unknown task raises KeyError."""
        ...

    def reply(self, task_id: str) -> ReplyRecord | None: ...

    # --- what happened, for people -------------------------------------------------------------------
    def put_round(self, row: RoundRow) -> None:
        """Store (or replace, on replay) the record of a finished round."""
        ...

    def rounds(self) -> list[RoundRow]:
        """Finished rounds in order."""
        ...

    def put_privacy_event(self, site: str, round: int, event: str) -> bool:
        """Store a site's privacy event (JSON) for a round; False if that site's event for that round is
        already stored (a replay never counts spend twice)."""
        ...

    def privacy_events(self, site: str) -> list[str]:
        """The site's events in round order."""
        ...

    def record_rejection(self, site: str, reason: str, detail: str, at: str) -> None:
        """Something a site sent was refused (bad signature, garbage, oversize, replay, wrong site)."""
        ...

    def rejections(self) -> list[tuple[str, str, str, str]]:
        """(site, reason, detail, at) of every refusal, oldest first."""
        ...

    def use_nonce(self, site: str, nonce: str, at: float) -> bool:
        """Remember a signed request's nonce; False if this site used it before (a replayed request).
        Nonces older than the signature window may be forgotten by `forget_nonces`."""
        ...

    def forget_nonces(self, before: float) -> None: ...

    def seen(self, site: str, at: str) -> None:
        """The site's latest request time, for status."""
        ...

    def last_seen(self) -> dict[str, str]: ...

    def close(self) -> None: ...
