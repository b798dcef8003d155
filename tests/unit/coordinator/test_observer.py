"""The two round observers: the audit trail writes the ledger entries the round's calls name, in their
order; the no-op observer adds nothing to any task and refuses nothing."""

import hashlib
import json

import pytest
from round_stubs import fit_reply

from fedward.coordinator.audit import Audit
from fedward.coordinator.observer import AuditObserver, NoObserver
from fedward.coordinator.plan import FederationPlan
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.crypto import SigningKey
from fedward.ledger import LedgerWriter
from fedward.settings import TrainSettings
from fedward.trust import PackageVerifier, Roster, SiteEntry

PLAN = FederationPlan("run", "logistic", 1, 1, TrainSettings(), federation="fed", config_sha256="c" * 64)


def _clock() -> str:
    return "2030-01-01T00:00:00Z"


@pytest.fixture
def audited(tmp_path):
    coordinator = SigningKey.from_seed(b"\x01" * 32)
    sites = {s: SiteEntry(SigningKey.from_seed(bytes([i + 2]) * 32).public) for i, s in enumerate("ab")}
    roster = Roster("fed", 1, "2025-01-01T00:00:00Z", coordinator.public, sites)
    ledger = LedgerWriter(tmp_path, coordinator, "run", _clock)
    (tmp_path / "releases").mkdir()
    audit = Audit(ledger, coordinator, PackageVerifier(roster, "fed", "run"), tmp_path / "releases", _clock)
    yield AuditObserver(audit), tmp_path
    ledger.close()


def _entries(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "ledger" / "entries.jsonl").read_text().splitlines()]


def test_the_audit_observer_writes_the_rounds_entries_in_call_order(audited):
    observer, folder = audited
    observer.run_started(PLAN, "d" * 64)
    observer.open_round(1, ["a", "b"], b"model one")
    evidence = observer.evidence("a")
    assert set(evidence) >= {"trust_checkpoint", "trust_entry", "trust_inclusion"}
    task = Task("run", 1, "b", TaskKind.FIT)
    observer.record_failure(Reply.failure(task, ReplyStatus.TIMEOUT, "late"), 1)
    rejected = observer.check_update(fit_reply(Task("run", 1, "a", TaskKind.FIT)), b"payload", 1, 10)
    assert rejected is not None and "rejected" in rejected  # an unsigned update is refused
    observer.close_round(1, {}, lambda: b"model two", ["a"])
    observer.open_round(2, ["a"], b"model two")
    observer.close_round(2, {"federation": 0.5}, None, [])
    kinds = [(e["kind"], e.get("site")) for e in _entries(folder)]
    assert kinds == [
        ("run_started", None),
        ("site_admitted", "a"),
        ("site_admitted", "b"),
        ("round_opened", None),
        ("update_rejected", "b"),
        ("update_rejected", "a"),
        ("aggregate_computed", None),
        ("round_opened", None),
        ("privacy_spent", None),
    ]
    entries = _entries(folder)
    assert entries[3]["model_hash"] == hashlib.sha256(b"model one").hexdigest()
    assert entries[6]["model_hash"] == hashlib.sha256(b"model two").hexdigest()
    assert entries[4]["reason"] == "timeout: late"


def test_the_audit_observer_checks_updates_against_the_open_rounds_model(audited):
    observer, _ = audited
    observer.run_started(PLAN, "d" * 64)
    observer.open_round(1, ["a"], b"model one")
    assert observer.audit.round_model_sha256 == hashlib.sha256(b"model one").hexdigest()
    observer.open_round(2, ["a"], b"model two")
    assert observer.audit.round_model_sha256 == hashlib.sha256(b"model two").hexdigest()


def test_the_audit_observer_admits_only_roster_sites(audited):
    observer, _ = audited
    assert observer.admitted("a", 1) and not observer.admitted("stranger", 1)


def test_the_no_op_observer_adds_nothing_and_refuses_nothing():
    observer = NoObserver()
    reply = fit_reply(Task("run", 1, "a", TaskKind.FIT))
    observer.run_started(PLAN, "d" * 64)
    observer.open_round(1, ["a"], b"model")
    assert observer.evidence("a") == {}
    assert observer.check_update(reply, reply.parameters, 1, 10) is None
    assert observer.admitted("anyone", 1)

    def never() -> bytes:
        raise AssertionError("the no-op observer must not serialize the model")

    observer.close_round(1, {}, never, ["a"])
