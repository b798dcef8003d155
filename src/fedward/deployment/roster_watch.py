"""Which sites the coordinator's API admits right now: the kit's roster, re-read when it changes.

`fedward revoke` rewrites the coordinator kit's roster.json; the next request from the revoked site is
refused (and its TLS handshake too, through the CRL). The round loop keeps verifying packages against the
roster the run started with, which is journaled, so a replay decides as the first run did; a revoked
site simply cannot deliver anything any more.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from fedward.coordinator.state import StateStore
from fedward.ledger import utc_clock
from fedward.trust import Roster, RosterError, SiteStatus, read_roster

__all__ = ["RosterWatch"]

log = logging.getLogger("fedward.coordinator")


class RosterWatch:
    def __init__(self, path: Path, admin_public: bytes, store: StateStore) -> None:
        self._path, self._admin, self._store = path, admin_public, store
        self._lock = threading.Lock()
        self._mtime = -1
        self._roster: Roster | None = None

    def roster(self) -> Roster:
        with self._lock:
            try:
                mtime = self._path.stat().st_mtime_ns
                if mtime != self._mtime:
                    self._roster, self._mtime = read_roster(self._path, self._admin), mtime
            except (OSError, RosterError) as exc:
                if self._roster is None:
                    raise
                log.warning("keeping the previous roster: %s", exc, extra={"event": "roster_reload_failed"})
            assert self._roster is not None
            return self._roster

    def site_key(self, site: str) -> bytes | None:
        """The site's public key if the current roster admits it for the coming round, else None."""
        roster = self.roster()
        upcoming = int(self._store.meta("round") or 0) + 1
        if roster.status(site, upcoming, utc_clock()) != SiteStatus.OK:
            return None
        return roster.public_key(site)
