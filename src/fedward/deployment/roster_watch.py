"""Which sites the coordinator's API admits right now: the kit's roster, re-read when it changes.

`fedward revoke` rewrites the coordinator kit's roster.json; the next request from the revoked site is
refused (and its TLS handshake too, through the CRL). The round loop takes up the new roster after the
round in progress (roster_refresh.py, journaled, so a replay decides as the first run did) and selects
the site no more; until then a revoked site simply cannot deliver anything.

Every signed request asks for its site's key, so the watch does not stat roster.json and read the round
from the store on each one: it looks again at most every `RECHECK_S` seconds. A revocation therefore
takes effect within that time (the TLS handshake refuses the site through the CRL besides).

The round loop's transport asks `refused` while it waits for replies, so a site revoked in the middle of
a round stops holding that round within the same time (coordinator/service/transport.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fedward.coordinator.state import StateStore
from fedward.ledger import utc_clock
from fedward.trust import Roster, RosterError, SiteStatus, read_roster

__all__ = ["RECHECK_S", "RosterWatch"]

RECHECK_S = 0.5  # longest time a rewritten roster.json or a new round goes unnoticed

log = logging.getLogger("fedward.coordinator")


class RosterWatch:
    def __init__(
        self,
        path: Path,
        admin_public: bytes,
        store: StateStore,
        *,
        recheck_s: float = RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path, self._admin, self._store = path, admin_public, store
        self._recheck_s, self._clock = recheck_s, clock
        self._lock = threading.Lock()
        self._mtime = -1
        self._roster: Roster | None = None
        self._round = 0
        self._checked: float | None = None  # clock reading of the last look at the file and the round

    def roster(self) -> Roster:
        """The current roster, re-read if roster.json changed (looked at most every `recheck_s`)."""
        return self._current()[0]

    def _current(self) -> tuple[Roster, int]:
        """The roster and the round last completed, each at most `recheck_s` old."""
        with self._lock:
            now = self._clock()
            if self._roster is None or self._checked is None or now - self._checked >= self._recheck_s:
                self._reload()
                self._round = int(self._store.meta("round") or 0)
                self._checked = now
            assert self._roster is not None
            return self._roster, self._round

    def _reload(self) -> None:
        try:
            mtime = self._path.stat().st_mtime_ns
            if mtime != self._mtime:
                self._roster, self._mtime = read_roster(self._path, self._admin), mtime
        except (OSError, RosterError) as exc:
            if self._roster is None:
                raise
            log.warning("keeping the previous roster: %s", exc, extra={"event": "roster_reload_failed"})

    def refused(self, site: str, rnd: int) -> str | None:
        """Why the current roster no longer admits `site` for round `rnd` (revoked or expired), or None.
        A site the roster does not know (yet) is not refused here: the round loop's checks decide that."""
        try:
            roster = self.roster()
        except (OSError, RosterError):
            return None  # no roster to go by: keep waiting, as before
        status = roster.status(site, rnd, utc_clock())
        if status not in (SiteStatus.REVOKED, SiteStatus.EXPIRED):
            return None
        return f"{status.value} (roster version {roster.version})"

    def site_key(self, site: str) -> bytes | None:
        """The site's public key if the current roster admits it for the coming round, else None."""
        roster, completed = self._current()
        upcoming = completed + 1
        if roster.status(site, upcoming, utc_clock()) != SiteStatus.OK:
            return None
        return roster.public_key(site)
