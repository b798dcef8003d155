"""The registry's status history: `REGISTRY/history.jsonl`, one signed, hash-chained line per action.

Each line is canonical JSON (fedward.core.canonical, RFC 8785 style):
`{"seq", "prev", "time", "action", "version", "reason", "lineage", "key_id", "signature"}`, where
`prev` is the SHA-256 of the previous line's bytes (64 zeros for the first), `signature` is an Ed25519
signature (RFC 8032) by the key `key_id` over the canonical bytes of the line without `signature`, and
`lineage` is set only on `register` (the release's lineage, `Lineage`). Editing, deleting, inserting or
reordering a line breaks a signature or the chain; this module parses and checks the chain and the
signatures against the keys it is given, and `fedward.release.registry` replays the actions.

What it does not catch: lines cut from the END (the chain of what is left is whole). Keep a copy of the
last line's hash elsewhere (as a site keeps ledger checkpoints) to detect that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.crypto import SignatureError, SigningKey, key_id, verify
from fedward.release.record import ReleaseError

__all__ = ["ACTIONS", "GENESIS", "HISTORY_FILE", "Action", "append_action", "read_history"]

HISTORY_FILE = "history.jsonl"
GENESIS = "0" * 64
ACTIONS = ("register", "approve", "promote", "rollback", "quarantine")
_FIELDS = {"seq", "prev", "time", "action", "version", "reason", "lineage", "key_id", "signature"}
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class Action:
    """One verified line of the history."""

    seq: int
    time: str
    action: str
    version: str
    reason: str | None
    lineage: Mapping[str, Any] | None
    key_id: str
    line_hash: str


def _unsigned(
    seq: int,
    prev: str,
    time: str,
    action: str,
    version: str,
    reason: str | None,
    lineage: Mapping[str, Any] | None,
    signer: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "prev": prev,
        "time": time,
        "action": action,
        "version": version,
        "reason": reason,
        "lineage": None if lineage is None else dict(lineage),
        "key_id": signer,
    }


def append_action(
    path: Path,
    *,
    previous: Action | None,
    time: str,
    action: str,
    version: str,
    key: SigningKey,
    reason: str | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> Action:
    """Sign and append one action after `previous` (the last verified line, None for the first)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown registry action {action!r}")
    seq = 0 if previous is None else previous.seq + 1
    prev = GENESIS if previous is None else previous.line_hash
    body = _unsigned(seq, prev, time, action, version, reason, lineage, key_id(key.public))
    line = canonical_bytes({**body, "signature": key.sign(canonical_bytes(body)).hex()})
    with path.open("ab") as fh:
        fh.write(line + b"\n")
        fh.flush()
    return Action(
        seq, time, action, version, reason, lineage, body["key_id"], hashlib.sha256(line).hexdigest()
    )


def read_history(path: Path, keys: Mapping[str, bytes]) -> list[Action]:
    """Parse and check every line of `path`: canonical, chained, signed by a key in `keys` (key id ->
    raw public key). Which key may sign which action is the registry's rule, not checked here.
    Raises `ReleaseError` naming the file and line."""
    if not path.exists():
        raise ReleaseError("registry history not found", where=path)
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        raise ReleaseError(
            "the last line is incomplete (no newline): the history was cut or edited", where=path
        )
    actions: list[Action] = []
    prev = GENESIS
    for number, line in enumerate(data.splitlines(), start=1):
        where = f"{path}:{number}"
        value = _parse_line(line, where)
        if value["seq"] != number - 1 or value["prev"] != prev:
            raise ReleaseError(
                "the history's hash chain is broken: a line was edited, removed, inserted or reordered",
                where=where,
            )
        public = keys.get(value["key_id"])
        if public is None:
            raise ReleaseError(f"signed by key {value['key_id']!r}, which is not a registry key", where=where)
        unsigned = {k: v for k, v in value.items() if k != "signature"}
        try:
            verify(public, canonical_bytes(unsigned), bytes.fromhex(value["signature"]))
        except (SignatureError, ValueError):
            raise ReleaseError(
                "bad signature: this line was changed after it was signed", where=where
            ) from None
        prev = hashlib.sha256(line).hexdigest()
        actions.append(
            Action(
                value["seq"],
                value["time"],
                value["action"],
                value["version"],
                value["reason"],
                value["lineage"],
                value["key_id"],
                prev,
            )
        )
    return actions


def _parse_line(line: bytes, where: str) -> dict[str, Any]:
    try:
        value = parse_canonical(line, max_bytes=MAX_LINE_BYTES)
    except CanonicalError as exc:
        raise ReleaseError(f"not a canonical JSON line: {exc}", where=where) from None
    if not isinstance(value, dict) or set(value) != _FIELDS:
        raise ReleaseError(f"a history line has exactly the fields {sorted(_FIELDS)}", where=where)
    ok = (
        isinstance(value["seq"], int)
        and isinstance(value["prev"], str)
        and isinstance(value["time"], str)
        and value["action"] in ACTIONS
        and isinstance(value["version"], str)
        and (value["reason"] is None or isinstance(value["reason"], str))
        and (value["lineage"] is None or isinstance(value["lineage"], dict))
        and (value["lineage"] is not None) == (value["action"] == "register")
        and isinstance(value["key_id"], str)
        and isinstance(value["signature"], str)
    )
    if not ok:
        raise ReleaseError("a history line has a field of the wrong type", where=where)
    return value
