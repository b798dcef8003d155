"""`run_started`'s optional `init_model_hash`: a run from a `[model] init` file records the file's SHA-256;
a run without one writes the entry it always wrote (so older ledgers still parse and verify); the field
must be a hash when present, and optional fields exist only where declared."""

from __future__ import annotations

import pytest
from ledger_harness import digest

from fedward.core.canonical import canonical_bytes
from fedward.ledger import EntryError, make_entry, parse_entry
from fedward.ledger.entries import OPTIONAL_FIELDS

NOW = "2025-01-31T12:00:00Z"
STARTED = {"run_id": "r1", "federation": "demo", "config_hash": digest("c"), "code_hash": "0.1.0"}


def test_without_the_field_the_entry_is_what_it_always_was() -> None:
    entry = make_entry(0, "run_started", NOW, STARTED)
    assert entry.line == canonical_bytes({**STARTED, "seq": 0, "kind": "run_started", "time": NOW})
    assert "init_model_hash" not in entry.fields


def test_with_the_field_it_round_trips() -> None:
    entry = make_entry(0, "run_started", NOW, {**STARTED, "init_model_hash": digest("base")})
    assert parse_entry(entry.line) == entry and entry.fields["init_model_hash"] == digest("base")


@pytest.mark.parametrize("value", [None, "abc", digest("x").upper(), 7])
def test_the_field_must_be_a_hash(value: object) -> None:
    with pytest.raises(EntryError, match="init_model_hash must be a SHA-256"):
        make_entry(0, "run_started", NOW, {**STARTED, "init_model_hash": value})


def test_optional_fields_exist_only_where_declared() -> None:
    assert dict(OPTIONAL_FIELDS) == {
        "run_started": {"init_model_hash": "hash", "model_code_hash": "hash"},
        "round_opened": {"not_admitted": "sites"},
        "release_signed": {"gates": "gates"},
    }
    fields = {"round": 1, "sites": ["a"], "model_hash": digest("m"), "init_model_hash": digest("b")}
    with pytest.raises(EntryError, match=r"unexpected \['init_model_hash'\]"):
        make_entry(1, "round_opened", NOW, fields)
    with pytest.raises(EntryError, match=r"missing \['code_hash'\]"):
        make_entry(0, "run_started", NOW, {k: v for k, v in STARTED.items() if k != "code_hash"})
