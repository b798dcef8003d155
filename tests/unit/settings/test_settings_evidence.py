"""LedgerEvidence: the trust_* keys of a task's config, byte for byte what Audit.evidence wrote, read back
strictly; the proofs come back as bytes."""

import pytest

from fedward.core.canonical import canonical_bytes
from fedward.settings import LedgerEvidence

H1, H2 = "ab" * 32, "cd" * 32
BEFORE = {
    "trust_checkpoint": "fedward-ledger run-1\n3\nroot\n\u2014 coordinator sig\n",
    "trust_consistency": canonical_bytes({"2": [H1, H2]}).decode(),
    "trust_entry": '{"kind":"round_opened"}',
    "trust_entry_index": 2,
    "trust_inclusion": [H1, H2],
}


def _evidence() -> LedgerEvidence:
    return LedgerEvidence(
        checkpoint=BEFORE["trust_checkpoint"],
        consistency=BEFORE["trust_consistency"],
        entry=BEFORE["trust_entry"],
        entry_index=2,
        inclusion=(H1, H2),
    )


def test_to_config_reproduces_the_wire_format_exactly():
    config = _evidence().to_config()
    assert config == BEFORE
    assert [(k, type(v)) for k, v in config.items()] == [(k, type(v)) for k, v in BEFORE.items()]
    assert canonical_bytes(config) == canonical_bytes(BEFORE)


def test_round_trip():
    assert LedgerEvidence.from_config(_evidence().to_config()) == _evidence()
    assert LedgerEvidence.from_config({**BEFORE, "dp": "none", "seed": 1}) == _evidence()


@pytest.mark.parametrize("key", sorted(BEFORE))
def test_a_missing_key_is_named(key):
    config = {k: v for k, v in BEFORE.items() if k != key}
    with pytest.raises(ValueError, match=key):
        LedgerEvidence.from_config(config)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("trust_checkpoint", None),
        ("trust_consistency", {"2": []}),
        ("trust_entry", 3),
        ("trust_entry_index", "2"),
        ("trust_entry_index", True),
        ("trust_inclusion", H1),
        ("trust_inclusion", [H1, 2]),
    ],
)
def test_a_mistyped_key_is_named(key, value):
    with pytest.raises(ValueError, match=key):
        LedgerEvidence.from_config({**BEFORE, key: value})


def test_proofs_come_back_as_bytes():
    evidence = _evidence()
    assert evidence.inclusion_proof() == [bytes.fromhex(H1), bytes.fromhex(H2)]
    assert evidence.consistency_proof(2) == [bytes.fromhex(H1), bytes.fromhex(H2)]
    assert evidence.consistency_proof(1) is None  # no proof from a size the coordinator did not expect


@pytest.mark.parametrize(
    ("key", "value", "call"),
    [
        ("trust_inclusion", ["zz"], lambda e: e.inclusion_proof()),
        ("trust_consistency", '{"2":["zz"]}', lambda e: e.consistency_proof(2)),
        ("trust_consistency", '{ "2": [] }', lambda e: e.consistency_proof(2)),  # not canonical
    ],
)
def test_malformed_proofs_are_refused(key, value, call):
    with pytest.raises(ValueError, match=key):
        call(LedgerEvidence.from_config({**BEFORE, key: value}))
