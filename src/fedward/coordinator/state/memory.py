"""`MemoryStateStore`: the coordinator state seam held in memory, for tests and in-process use.

It keeps nothing across a restart; the contract suite holds it to the same behaviour as `SqlStateStore`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fedward.coordinator.state.base import ReplayDivergedError, ReplyRecord, RoundRow, TaskRecord

__all__ = ["MemoryStateStore"]


class MemoryStateStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._meta: dict[str, str] = {}
        self._recorded: dict[tuple[str, int], str] = {}
        self._tasks: dict[str, TaskRecord] = {}  # insertion order is the order tasks were sent
        self._replies: dict[str, ReplyRecord] = {}
        self._rounds: dict[int, RoundRow] = {}
        self._events: dict[tuple[str, int], str] = {}
        self._rejections: list[tuple[str, str, str, str]] = []
        self._nonces: dict[tuple[str, str], float] = {}
        self._seen: dict[str, str] = {}

    def meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._meta[key] = value

    def meta_once(self, key: str, make: Callable[[], str]) -> str:
        with self._lock:
            if key not in self._meta:
                self._meta[key] = make()
            return self._meta[key]

    def recorded(self, stream: str, index: int, make: Callable[[], str]) -> str:
        with self._lock:
            key = (stream, index)
            if key not in self._recorded:
                self._recorded[key] = make()
            return self._recorded[key]

    def put_task(self, task: TaskRecord) -> bool:
        with self._lock:
            old = self._tasks.get(task.task_id)
            if old is None:
                self._tasks[task.task_id] = task
                return True
            if old.body_sha256 != task.body_sha256:
                raise ReplayDivergedError(
                    f"task {task.task_id[:12]} for site {task.site}, round {task.round} ({task.kind}) "
                    "differs from the one in the journal"
                )
            return False

    def task(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            return self._tasks.get(task_id)

    def open_tasks(self, site: str) -> list[TaskRecord]:
        with self._lock:
            return [t for t in self._tasks.values() if t.site == site and t.task_id not in self._replies]

    def put_reply(self, reply: ReplyRecord) -> bool:
        with self._lock:
            if reply.task_id not in self._tasks:
                raise KeyError(f"no task {reply.task_id}")
            if reply.task_id in self._replies:
                return False
            self._replies[reply.task_id] = reply
            return True

    def reply(self, task_id: str) -> ReplyRecord | None:
        with self._lock:
            return self._replies.get(task_id)

    def put_round(self, row: RoundRow) -> None:
        with self._lock:
            self._rounds[row.round] = row

    def rounds(self) -> list[RoundRow]:
        with self._lock:
            return [self._rounds[r] for r in sorted(self._rounds)]

    def put_privacy_event(self, site: str, round: int, event: str) -> bool:
        with self._lock:
            if (site, round) in self._events:
                return False
            self._events[(site, round)] = event
            return True

    def privacy_events(self, site: str) -> list[str]:
        with self._lock:
            return [e for (s, r), e in sorted(self._events.items()) if s == site]

    def record_rejection(self, site: str, reason: str, detail: str, at: str) -> None:
        with self._lock:
            self._rejections.append((site, reason, detail, at))

    def rejections(self) -> list[tuple[str, str, str, str]]:
        with self._lock:
            return list(self._rejections)

    def use_nonce(self, site: str, nonce: str, at: float) -> bool:
        with self._lock:
            if (site, nonce) in self._nonces:
                return False
            self._nonces[(site, nonce)] = at
            return True

    def forget_nonces(self, before: float) -> None:
        with self._lock:
            self._nonces = {k: t for k, t in self._nonces.items() if t >= before}

    def seen(self, site: str, at: str) -> None:
        with self._lock:
            self._seen[site] = at

    def last_seen(self) -> dict[str, str]:
        with self._lock:
            return dict(self._seen)

    def close(self) -> None:
        pass
