"""Ledger entries: the kinds of event a run records, their fields, and their one byte encoding.

An entry is the canonical JSON object `{"seq": i, "kind": ..., "time": ..., ...fields}` (canonical JSON as
in `fedward.core.canonical`, RFC 8785 style), written as one line of `entries.jsonl`. Its line bytes,
without the newline, are the leaf data of the Merkle tree (RFC 9162 section 2.1), so one entry has exactly
one encoding, and parsing is strict: unknown kinds, missing or extra fields, fields of the wrong type,
duplicate keys and non-canonical bytes are all refused. Time is an ISO 8601 UTC timestamp given by the
caller (a clock passed in), never read here, so ledgers are reproducible in tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical

__all__ = [
    "ENTRY_FIELDS",
    "KINDS",
    "MAX_ENTRY_BYTES",
    "OPTIONAL_FIELDS",
    "Entry",
    "EntryError",
    "check_time",
    "make_entry",
    "parse_entry",
    "utc_clock",
]

MAX_ENTRY_BYTES = 1 << 20
RESERVED = frozenset({"seq", "kind", "time"})
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class EntryError(ValueError):
    """An entry (or the fields for one) is not a valid ledger entry."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _is_hash(v: Any) -> bool:
    return isinstance(v, str) and _HEX64.fullmatch(v) is not None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


_GATE_KEYS = {"name", "threshold", "value", "passed", "site"}


def _is_gate(v: Any) -> bool:
    """One release gate's result (fedward.release.gates.GateResult.to_json)."""
    return (
        isinstance(v, dict)
        and set(v) == _GATE_KEYS
        and _is_str(v["name"])
        and _is_number(v["threshold"])
        and (v["value"] is None or _is_number(v["value"]))
        and isinstance(v["passed"], bool)
        and (v["site"] is None or _is_str(v["site"]))
    )


# field type name -> (check, description for errors)
_TYPES: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "an integer >= 0"),
    "str": (_is_str, "a non-empty string"),
    "str|null": (lambda v: v is None or _is_str(v), "a non-empty string or null"),
    "str|int": (lambda v: _is_str(v) or _is_int(v), "a non-empty string or an integer >= 0"),
    "hash": (_is_hash, "a SHA-256 hex digest (64 lowercase hex digits)"),
    "hash|null": (lambda v: v is None or _is_hash(v), "a SHA-256 hex digest or null"),
    "sites": (lambda v: isinstance(v, list) and all(map(_is_str, v)), "a list of site names"),
    "epsilons": (
        lambda v: isinstance(v, dict) and all(_is_number(x) for x in v.values()),
        "an object of epsilon numbers (by site, or 'federation' for site-level DP)",
    ),
    "gates": (
        lambda v: isinstance(v, list) and len(v) > 0 and all(map(_is_gate, v)),
        "a non-empty list of gate results {name, threshold, value, passed, site}",
    ),
}

ENTRY_FIELDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "run_started": {"run_id": "str", "federation": "str", "config_hash": "hash", "code_hash": "str"},
        "site_admitted": {"site": "str", "key_id": "str|null"},
        "site_revoked": {"site": "str", "reason": "str"},
        "round_opened": {"round": "int", "sites": "sites", "model_hash": "hash"},
        "update_accepted": {"round": "int", "site": "str", "manifest_hash": "hash"},
        "update_rejected": {"round": "int", "site": "str", "reason": "str", "manifest_hash": "hash|null"},
        "privacy_spent": {"round": "int", "epsilons": "epsilons"},
        "aggregate_computed": {"round": "int", "model_hash": "hash", "contributors": "sites"},
        "release_signed": {"version": "str|int", "round": "int", "model_hash": "hash"},
        # the final model failed a `[release]` gate: no release is written; the gates say why
        "release_refused": {"version": "str|int", "round": "int", "model_hash": "hash", "gates": "gates"},
        "run_finished": {"rounds_completed": "int", "final_model_hash": "hash|null", "reason": "str"},
    }
)
# fields an entry carries only when they apply, so that ledgers written before they existed (and runs
# they do not apply to) keep exactly the entries, bytes and hashes they had
OPTIONAL_FIELDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        # the `[model] init` file's SHA-256; the `[model] code` file's (the user's model code)
        "run_started": {"init_model_hash": "hash", "model_code_hash": "hash"},
        "round_opened": {"not_admitted": "sites"},  # set-up sites left out: revoked or expired
        "release_signed": {"gates": "gates"},  # the `[release]` gates it passed, when any were set
    }
)
KINDS = frozenset(ENTRY_FIELDS)


def check_time(value: Any) -> str:
    """Return `value` if it is an ISO 8601 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.fff]Z`; raise otherwise."""
    if not isinstance(value, str) or _TIME.fullmatch(value) is None:
        raise EntryError(f"time {value!r} is not an ISO 8601 UTC timestamp like 2025-01-31T12:00:00Z")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise EntryError(f"time {value!r} is not a real date and time") from None
    return value


def utc_clock() -> str:
    """The current UTC time in the ledger's format: the clock a coordinator passes to `LedgerWriter`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_fields(kind: str, fields: Mapping[str, Any]) -> None:
    required = ENTRY_FIELDS.get(kind)
    if required is None:
        raise EntryError(f"unknown entry kind {kind!r}; expected one of {sorted(KINDS)}")
    spec = {**required, **OPTIONAL_FIELDS.get(kind, {})}
    missing, extra = sorted(set(required) - set(fields)), sorted(set(fields) - set(spec))
    if missing or extra:
        raise EntryError(f"{kind}: fields must be {sorted(spec)} (missing {missing}, unexpected {extra})")
    for name, type_name in spec.items():
        if name not in fields:
            continue
        check, description = _TYPES[type_name]
        if not check(fields[name]):
            raise EntryError(f"{kind}: {name} must be {description}, got {fields[name]!r}")


@dataclass(frozen=True)
class Entry:
    """One ledger entry; `line` is its canonical encoding (without newline), the Merkle leaf data.

    Build entries with `make_entry` or `parse_entry`, which keep `line` and the fields in agreement."""

    seq: int
    kind: str
    time: str
    fields: Mapping[str, Any]
    line: bytes


def _validate(seq: Any, kind: Any, time: Any, fields: Mapping[str, Any]) -> None:
    if not _is_int(seq):
        raise EntryError(f"seq must be an integer >= 0, got {seq!r}")
    if not isinstance(kind, str):
        raise EntryError(f"kind must be a string, got {kind!r}")
    _check_fields(kind, fields)
    check_time(time)


def make_entry(seq: int, kind: str, time: str, fields: Mapping[str, Any]) -> Entry:
    """A validated entry: known kind, exactly its fields with the right types, a UTC time, JSON values.

    The entry's `fields` are read back from its encoded line, so they are a deep copy of what was given,
    exactly as a reader of the ledger will see them."""
    _validate(seq, kind, time, fields)
    try:
        line = canonical_bytes({**fields, "seq": seq, "kind": kind, "time": time})
    except CanonicalError as exc:
        raise EntryError(f"{kind}: fields are not canonical JSON: {exc}") from None
    if len(line) > MAX_ENTRY_BYTES:
        raise EntryError(f"{kind}: entry is {len(line)} bytes, more than {MAX_ENTRY_BYTES}")
    return parse_entry(line)


def parse_entry(line: bytes) -> Entry:
    """Strict inverse of `Entry.line`: canonical JSON of an object with seq, a known kind, time, fields."""
    try:
        value = parse_canonical(line, max_bytes=MAX_ENTRY_BYTES)
    except CanonicalError as exc:
        raise EntryError(f"not canonical JSON: {exc}") from None
    if not isinstance(value, dict) or not set(value) >= RESERVED:
        raise EntryError("not a ledger entry: an object with seq, kind and time is expected")
    seq, kind, time = value.pop("seq"), value.pop("kind"), value.pop("time")
    _validate(seq, kind, time, value)
    return Entry(seq, kind, time, MappingProxyType(value), bytes(line))
