"""Between rounds, a deployed coordinator's round loop takes up a roster `fedward revoke` rewrote.

The API refuses a revoked site at once (roster_watch.py, and the CRL at the TLS handshake), but the round
loop selects sites by its audit's roster. After each round this hook reads the kit's roster.json, journals
the bytes under the round (`StateStore.recorded`, so a replay takes up the same roster at the same point
and rebuilds the same ledger), and hands a newer, valid roster to the audit (`Audit.update_roster`): the
rounds after it no longer select a revoked site, so none waits for a site that can no longer answer.

A roster that cannot be read, does not verify against the administrator's key, is for another
federation or is older than the one in use is logged and ignored: the loop keeps the roster it has.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fedward.coordinator.audit import Audit
from fedward.coordinator.rounds import RoundRecord
from fedward.coordinator.state import StateStore
from fedward.trust import RosterError, SignedRoster, verify_roster

__all__ = ["RosterRefresh"]

STREAM = "roster_after_round"
log = logging.getLogger("fedward.coordinator")


class RosterRefresh:
    def __init__(self, path: Path, admin_public: bytes, store: StateStore, audit: Audit) -> None:
        self._path, self._admin, self._store, self._audit = path, admin_public, store, audit

    def __call__(self, record: RoundRecord) -> None:
        """After round `record.round`: take up the roster now in the kit if it is newer and valid."""
        raw = self._store.recorded(STREAM, record.round, self._read)
        if not raw:
            return
        try:
            roster = verify_roster(SignedRoster.from_bytes(raw.encode()), self._admin)
            if roster.version <= self._audit.roster.version:
                return
            revoked = self._audit.update_roster(roster)
        except RosterError as exc:
            extra = {"event": "roster_update_refused", "round": record.round}
            log.warning("keeping the run's roster: %s", exc, extra=extra)
            return
        log.info(
            "roster version %d taken up", roster.version,
            extra={"event": "roster_updated", "round": record.round, "revoked": revoked},
        )  # fmt: skip

    def _read(self) -> str:
        try:
            return self._path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""  # journaled as "no roster read": the loop keeps its roster
