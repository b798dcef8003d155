"""Entries and checkpoints: one encoding each, strict parsing, validated kinds and fields, and signatures
that fail closed (with power checks: the forgeries are well-formed, only the signature check stops them)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from ledger_harness import KEY, LEDGER_ID, OTHER_KEY, digest

from fedward.core.canonical import canonical_bytes
from fedward.ledger import (
    ENTRY_FIELDS,
    KINDS,
    Checkpoint,
    CheckpointError,
    EntryError,
    make_entry,
    parse_entry,
    parse_signed_checkpoint,
    sign_checkpoint,
    utc_clock,
    verify_checkpoint,
)
from fedward.ledger.entries import check_time

NOW = "2025-01-31T12:00:00Z"
EXAMPLES: dict[str, dict[str, Any]] = {
    "run_started": {"run_id": "r1", "federation": "demo", "config_hash": digest("c"), "code_hash": "0.1.0"},
    "site_admitted": {"site": "a", "key_id": None},
    "site_revoked": {"site": "a", "reason": "key compromised"},
    "round_opened": {"round": 1, "sites": ["a", "b"], "model_hash": digest("m0")},
    "update_accepted": {"round": 1, "site": "a", "manifest_hash": digest("a1")},
    "update_rejected": {"round": 1, "site": "b", "reason": "bad signature", "manifest_hash": None},
    "privacy_spent": {"round": 1, "epsilons": {"a": 0.5, "federation": 1}},
    "aggregate_computed": {"round": 1, "model_hash": digest("m1"), "contributors": ["a"]},
    "release_signed": {"version": "v1", "round": 1, "model_hash": digest("m1")},
    "release_refused": {
        "version": "final",
        "round": 1,
        "model_hash": digest("m1"),
        "gates": [
            {"name": "min_site_accuracy", "threshold": 0.9, "value": 0.8, "passed": False, "site": "a"}
        ],
    },
    "run_finished": {"rounds_completed": 1, "final_model_hash": digest("m1"), "reason": "done"},
}


def test_every_kind_has_an_example_and_round_trips() -> None:
    assert set(EXAMPLES) == KINDS == set(ENTRY_FIELDS)
    for seq, (kind, fields) in enumerate(EXAMPLES.items()):
        entry = make_entry(seq, kind, NOW, fields)
        assert entry.line == canonical_bytes({**fields, "seq": seq, "kind": kind, "time": NOW})
        assert parse_entry(entry.line) == entry


def test_fields_are_a_copy_of_what_the_line_says() -> None:
    sites = ["a", "b"]
    entry = make_entry(0, "round_opened", NOW, {"round": 1, "sites": sites, "model_hash": digest("m")})
    sites.append("c")
    assert entry.fields["sites"] == ["a", "b"]
    assert parse_entry(entry.line).fields == entry.fields


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("no_such_kind", {}, "unknown entry kind"),
        ("site_revoked", {"reason": None}, "reason must be"),
        ("round_opened", {"round": -1}, "round must be"),
        ("round_opened", {"round": True}, "round must be"),
        ("round_opened", {"sites": "a,b"}, "sites must be"),
        ("update_accepted", {"manifest_hash": "ABC"}, "manifest_hash must be"),
        ("update_accepted", {"extra": 1}, "unexpected ['extra']"),
        ("privacy_spent", {"epsilons": {"a": "1"}}, "epsilons must be"),
        ("privacy_spent", {"epsilons": {"a": float("nan")}}, "epsilons must be"),
        ("run_started", {"federation": {"not": "json-safe" * 0, "x": object()}}, "federation must be"),
    ],
)
def test_bad_kinds_and_fields_are_refused(kind: str, change: dict[str, Any], message: str) -> None:
    fields = {**EXAMPLES.get(kind, {}), **change}
    with pytest.raises(EntryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_entry(0, kind, NOW, fields)


def test_missing_field_and_non_json_values_are_refused() -> None:
    fields = dict(EXAMPLES["update_rejected"])
    del fields["manifest_hash"]
    with pytest.raises(EntryError, match="missing"):
        make_entry(0, "update_rejected", NOW, fields)
    with pytest.raises(EntryError, match="canonical JSON"):
        make_entry(0, "privacy_spent", NOW, {"round": 1, "epsilons": {"a": 2**60}})


@pytest.mark.parametrize(
    "line",
    [
        b'{"kind":"site_revoked","reason":"x","seq":0,"site":"a","time":"2025-01-31T12:00:00Z"} ',
        b'{"seq":0,"kind":"site_revoked","reason":"x","site":"a","time":"2025-01-31T12:00:00Z"}',
        b'{"kind":"site_revoked","kind":"site_revoked","reason":"x","seq":0,"site":"a","time":"2025-01-31T12:00:00Z"}',
        b'{"kind":"site_revoked","reason":"x","seq":0.0,"site":"a","time":"2025-01-31T12:00:00Z"}',
        b'{"kind":"site_revoked","reason":"x","seq":0,"site":"a","time":"2025-01-31 12:00:00"}',
        b'{"kind":"site_revoked","reason":"x","seq":0,"site":"a"}',
        b"[1,2]",
        b"\xff",
    ],
)
def test_parse_is_strict(line: bytes) -> None:
    with pytest.raises(EntryError):
        parse_entry(line)


def test_time_format() -> None:
    assert check_time(utc_clock()) and check_time(NOW) and check_time("2025-01-31T12:00:00.123456Z")
    for bad in ("2025-01-31T12:00:00+00:00", "2025-02-30T12:00:00Z", "2025-01-31T25:00:00Z", 17):
        with pytest.raises(EntryError):
            check_time(bad)


CHECKPOINT = Checkpoint(LEDGER_ID, 12, digest("root"), NOW)


def test_checkpoint_sign_verify_and_line_round_trip() -> None:
    signed = sign_checkpoint(CHECKPOINT, KEY)
    assert verify_checkpoint(signed, KEY.public) == CHECKPOINT
    assert parse_signed_checkpoint(signed.line) == signed
    assert signed.checkpoint.root == bytes.fromhex(CHECKPOINT.root_hash)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 13},
        {"root_hash": digest("other")},
        {"ledger": "run-2"},
        {"time": "2025-01-31T12:00:01Z"},
    ],
)
def test_altered_checkpoint_fails_and_power_check(change: dict[str, Any]) -> None:
    signed = sign_checkpoint(CHECKPOINT, KEY)
    altered = dataclasses.replace(signed, checkpoint=dataclasses.replace(CHECKPOINT, **change))
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(altered, KEY.public)
    # power check: the altered checkpoint is well-formed; only the signature check refuses it
    assert parse_signed_checkpoint(altered.line) == altered


def test_wrong_key_and_relabelled_key_id_fail() -> None:
    forged = sign_checkpoint(CHECKPOINT, OTHER_KEY)
    with pytest.raises(CheckpointError, match="names key"):
        verify_checkpoint(forged, KEY.public)
    relabelled = dataclasses.replace(forged, key_id=sign_checkpoint(CHECKPOINT, KEY).key_id)
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(relabelled, KEY.public)


def test_checkpoint_signature_is_domain_separated() -> None:
    """A signature over the bare canonical JSON (say, by a tool signing manifests) is not a checkpoint's."""
    bare = KEY.sign(canonical_bytes(CHECKPOINT.to_dict()))
    signed = sign_checkpoint(CHECKPOINT, KEY)
    with pytest.raises(CheckpointError):
        verify_checkpoint(dataclasses.replace(signed, signature=bare), KEY.public)


@pytest.mark.parametrize(
    "fields",
    [
        {"ledger": "", "tree_size": 1, "root_hash": "00" * 32, "time": NOW},
        {"ledger": "r", "tree_size": -1, "root_hash": "00" * 32, "time": NOW},
        {"ledger": "r", "tree_size": 1, "root_hash": "AA" * 32, "time": NOW},
        {"ledger": "r", "tree_size": 1, "root_hash": "00" * 32, "time": "yesterday"},
        {"ledger": "r", "tree_size": 1, "root_hash": "00" * 32},
    ],
)
def test_malformed_checkpoints_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.from_dict(fields)
    line = canonical_bytes({"checkpoint": fields, "key_id": "00" * 8, "signature": "00" * 64})
    with pytest.raises(CheckpointError):
        parse_signed_checkpoint(line)


GATE = {"name": "min_sites", "threshold": 2, "value": None, "passed": False, "site": None}


@pytest.mark.parametrize(
    "gates",
    [
        [],
        [{**GATE, "passed": "no"}],
        [{**GATE, "value": float("nan")}],
        [{k: v for k, v in GATE.items() if k != "site"}],
        [{**GATE, "extra": 1}],
        "min_sites",
    ],
)
def test_release_gate_results_are_checked(gates: Any) -> None:
    fields = {**EXAMPLES["release_refused"], "gates": gates}
    with pytest.raises(EntryError, match="gates must be"):
        make_entry(0, "release_refused", NOW, fields)
    make_entry(0, "release_signed", NOW, {**EXAMPLES["release_signed"], "gates": [GATE]})  # optional there
