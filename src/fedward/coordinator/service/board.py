"""`Board`: wakes whoever waits for the coordinator's state to change.

The round loop waits for replies and sites long-poll for tasks; both wait on one condition variable
that every write to the journal (a task sent, a reply stored, the run finished) notifies. Waiters always
re-read the store after waking, so a missed or spurious wake-up costs at most one timeout, never a
wrong answer.
"""

from __future__ import annotations

import threading

__all__ = ["Board"]


class Board:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 0

    @property
    def version(self) -> int:
        with self._cond:
            return self._version

    def notify(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def wait(self, since: int, timeout: float) -> int:
        """Wait until something changed after version `since`, or `timeout` seconds; the new version."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != since, timeout=max(0.0, timeout))
            return self._version
