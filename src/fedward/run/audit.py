"""The run's audit trail, assembled once for both ways to run: the public keys a verifier needs, the
ledger (RFC 9162 checkpoints signed by the coordinator), the package verifier over the roster, and the
releases folder, all under one work folder that the run-directory writer later moves into place.

A simulation passes the wall clock; a deployed coordinator passes its journaled clock, so a restart
replays the same ledger byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fedward.coordinator.audit import Audit
from fedward.ledger import LedgerWriter
from fedward.trust import FederationKeys, PackageVerifier

__all__ = ["AUDIT_DIRS", "open_audit"]

AUDIT_DIRS = ("keys", "ledger", "releases")  # the folders of `work` a run directory takes in


def open_audit(
    work: Path, keys: FederationKeys, federation: str, run_id: str, clock: Callable[[], str]
) -> Audit:
    """Write `work/keys`, make `work/releases`, open the ledger in `work`; the caller closes the ledger.

    `keys` must hold the coordinator's private key (it signs checkpoints and releases); `work` must not
    hold a previous run's keys or releases (FileExistsError: nothing is silently mixed)."""
    signer = keys.coordinator_key()
    keys.write_public(work / "keys")
    (work / "releases").mkdir()
    ledger = LedgerWriter(work, signer, run_id, clock)
    verifier = PackageVerifier(keys.roster, federation, run_id)
    return Audit(ledger, signer, verifier, work / "releases", clock)
