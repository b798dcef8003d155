"""Journaled readings: the clock and the noise seeds a deployed coordinator's round loop draws.

The round loop is deterministic given the sites' replies, the times it reads (ledger entries, signed
checkpoints, roster expiry checks) and the seeds of its own privacy noise. Each reading goes into the
state store under its position in the run, so a coordinator restarted after a crash reads back exactly
what it read before, rebuilds the same ledger bytes and draws the same noise, and the sites, which
witnessed the earlier checkpoints, see one consistent history.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fedward.coordinator.state.base import StateStore

__all__ = ["JournalClock", "JournalEntropy"]


class JournalClock:
    """A clock whose n-th reading is journaled: the first run reads `source`, a replay the journal."""

    def __init__(self, store: StateStore, source: Callable[[], str]) -> None:
        self._store, self._source, self._next = store, source, 0

    def __call__(self) -> str:
        value = self._store.recorded("clock", self._next, self._source)
        self._next += 1
        return value


class JournalEntropy:
    """256-bit noise seeds from `secrets`, journaled like the clock."""

    def __init__(self, store: StateStore) -> None:
        self._store, self._next = store, 0

    def __call__(self) -> int:
        value = self._store.recorded("noise_seed", self._next, lambda: str(secrets.randbits(256)))
        self._next += 1
        return int(value)
