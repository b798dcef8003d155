"""A deployed coordinator takes up a roster `fedward revoke` rewrote between rounds, journaled, so a
replay takes up the same roster at the same round; a roster that does not verify is ignored."""

from pathlib import Path

from fedward.coordinator.rounds import RoundRecord
from fedward.coordinator.state.memory import MemoryStateStore
from fedward.crypto import SigningKey
from fedward.deployment.roster_refresh import RosterRefresh
from fedward.ledger import utc_clock
from fedward.run.audit import open_audit
from fedward.trust import new_federation_keys, revoke, sign_roster


def _setup(tmp: Path, name: str):
    keys = new_federation_keys("oncology", ["a", "b"], utc_clock())
    (tmp / name).mkdir()
    audit = open_audit(tmp / name, keys, "oncology", "run-1", utc_clock)
    audit.run_started("run-1", "oncology", "0" * 64, "code")
    return keys, audit


def test_a_revoked_roster_is_taken_up_after_the_round_and_replayed_the_same(tmp_path):
    keys, audit = _setup(tmp_path, "first")
    path = tmp_path / "roster.json"
    path.write_bytes(sign_roster(revoke(keys.roster, "b", 1), keys.admin_key()).to_bytes())
    store = MemoryStateStore()
    RosterRefresh(path, keys.admin_public, store, audit)(RoundRecord(2, ["a", "b"]))
    assert not audit.admitted("b", 3) and audit.admitted("a", 3)
    audit.ledger.close()
    # the replay reads the journal, not the file (which an administrator may have changed since)
    path.write_bytes(b"garbage")
    replay = open_audit(tmp_path / "second", keys, "oncology", "run-1", utc_clock)
    replay.run_started("run-1", "oncology", "0" * 64, "code")
    RosterRefresh(path, keys.admin_public, store, replay)(RoundRecord(2, ["a", "b"]))
    assert not replay.admitted("b", 3)
    replay.ledger.close()


def test_a_roster_signed_by_another_key_is_ignored(tmp_path):
    keys, audit = _setup(tmp_path, "first")
    path = tmp_path / "roster.json"
    path.write_bytes(sign_roster(revoke(keys.roster, "b", 1), SigningKey.generate()).to_bytes())
    RosterRefresh(path, keys.admin_public, MemoryStateStore(), audit)(RoundRecord(1, ["a", "b"]))
    assert audit.admitted("b", 3)  # a forged revocation changes nothing
    # power: the same roster signed by the administrator is taken up
    path.write_bytes(sign_roster(revoke(keys.roster, "b", 1), keys.admin_key()).to_bytes())
    RosterRefresh(path, keys.admin_public, MemoryStateStore(), audit)(RoundRecord(1, ["a", "b"]))
    assert not audit.admitted("b", 3)
    audit.ledger.close()
