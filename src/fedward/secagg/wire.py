"""Strict canonical JSON for the secure-aggregation messages, and the field readers that check it.

One message has one encoding: sorted keys, no whitespace, ASCII only, binary fields in padded base64,
every key known and every value of the declared type and size. `loads` re-encodes what it parsed and
rejects the input unless the bytes are identical, so duplicate keys, other spacing or other escapes
cannot smuggle a second reading past a signature or a log. Any violation is a `ProtocolError`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from fedward.secagg.errors import ProtocolError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_NAME_CHARS",
    "VERSION",
    "b64",
    "check_site_name",
    "dumps",
    "loads",
    "read_bytes",
    "read_bytes_map",
    "read_int",
    "read_name",
    "read_names",
]

VERSION = 1
MAX_JSON_BYTES = 16 << 20
MAX_NAME_CHARS = 128
MAX_ENTRIES = 100_000


def dumps(kind: str, fields: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a message of type `kind` with `fields`."""
    body = {"type": kind, "version": VERSION, **fields}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def loads(data: bytes, kind: str, keys: Iterable[str]) -> dict[str, Any]:
    """Parse canonical JSON of type `kind` whose keys are exactly `keys` (plus `type` and `version`)."""
    if len(data) > MAX_JSON_BYTES:
        raise ProtocolError(f"{kind} message of {len(data)} bytes exceeds {MAX_JSON_BYTES}")
    try:
        body = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"{kind} message is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or body.get("type") != kind:
        found = body.get("type") if isinstance(body, dict) else type(body).__name__
        raise ProtocolError(f"expected a {kind} message, got {found!r}")
    expected = {"type", "version", *keys}
    if set(body) != expected:
        raise ProtocolError(f"{kind} message keys {sorted(body)} differ from {sorted(expected)}")
    if read_int(body, "version", 1, 1 << 16) != VERSION:
        raise ProtocolError(f"{kind} message version {body['version']} is not {VERSION}")
    if json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() != data:
        raise ProtocolError(f"{kind} message is not in canonical form")
    return dict(body)


def b64(data: bytes) -> str:
    """Padded standard base64, the one encoding of binary fields."""
    return base64.b64encode(data).decode("ascii")


def check_site_name(name: object, what: str = "site name") -> str:
    """A site name: a printable string of 1..128 characters; raises `ProtocolError` otherwise."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS or not name.isprintable():
        raise ProtocolError(f"{what} must be a printable string of 1..{MAX_NAME_CHARS} characters")
    return name


def read_int(body: Mapping[str, Any], key: str, low: int, high: int) -> int:
    """An integer (not a bool) in [low, high]."""
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"field {key!r} must be an integer in [{low}, {high}]")
    return value


def read_name(body: Mapping[str, Any], key: str) -> str:
    """A site name field."""
    return check_site_name(body[key], f"field {key!r}")


def read_names(body: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A strictly increasing list of site names (sorted, no duplicates)."""
    value = body[key]
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise ProtocolError(f"field {key!r} must be a list of at most {MAX_ENTRIES} site names")
    names = tuple(check_site_name(item, f"an entry of {key!r}") for item in value)
    if any(a >= b for a, b in itertools.pairwise(names)):
        raise ProtocolError(f"field {key!r} must be sorted without duplicates")
    return names


def read_bytes(value: object, what: str, *, size: int | None = None, max_size: int = 1 << 12) -> bytes:
    """Decode one canonical base64 field, of exactly `size` bytes when given, else at most `max_size`."""
    if not isinstance(value, str) or len(value) > 4 * (max_size // 3 + 1):
        raise ProtocolError(f"{what} must be a base64 string of at most {max_size} bytes")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ProtocolError(f"{what} is not valid base64") from exc
    if b64(raw) != value:
        raise ProtocolError(f"{what} is not canonical base64")
    if (size is not None and len(raw) != size) or len(raw) > max_size:
        raise ProtocolError(f"{what} must be {size if size is not None else f'at most {max_size}'} bytes")
    return raw


def read_bytes_map(body: Mapping[str, Any], key: str, *, size: int | None = None) -> dict[str, bytes]:
    """An object from site names to base64 byte strings."""
    value = body[key]
    if not isinstance(value, dict) or len(value) > MAX_ENTRIES:
        raise ProtocolError(f"field {key!r} must be an object of at most {MAX_ENTRIES} entries")
    return {
        check_site_name(name, f"a key of {key!r}"): read_bytes(item, f"{key}[{name!r}]", size=size)
        for name, item in value.items()
    }


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ProtocolError("a JSON object repeats a key")
    return result


def _no_constant(name: str) -> Any:
    raise ProtocolError(f"JSON constant {name} is not allowed")
