"""Canonical JSON: one byte encoding per value, for anything that is hashed or signed (manifests,
release records, ledger entries, checkpoints).

RFC 8785 (JCS) style: object keys sorted, no insignificant whitespace, UTF-8, strings escaped as
`json.dumps` does with `ensure_ascii=False`. Numbers are restricted so that their encoding is unambiguous:
integers within +-2^53 and finite floats (written by Python's shortest round-trip repr, which matches
JCS for the values fedward writes; NaN and infinities are refused). Parsing is strict: duplicate keys, a
size above the limit, or bytes that are not the canonical encoding of what they parse to are errors,
so two different byte strings can never carry the same signed meaning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CanonicalError", "canonical_bytes", "parse_canonical"]

_MAX_SAFE_INT = 2**53


class CanonicalError(ValueError):
    """A value cannot be encoded canonically, or bytes are not a canonical encoding."""


def _check(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise CanonicalError(f"{where}: integer {value} is outside +-2^53")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"{where}: {value} is not a finite number")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{where}: object key {key!r} is not a string")
            _check(item, f"{where}.{key}")
        return
    if isinstance(value, Sequence):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    raise CanonicalError(f"{where}: {type(value).__name__} is not a JSON value")


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of a JSON value (dicts, lists, str, int, finite float, bool, None)."""
    _check(value, "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CanonicalError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not a finite number")


def parse_canonical(data: bytes, *, max_bytes: int = 1 << 20) -> Any:
    """Parse canonical JSON strictly: size, duplicate keys, non-finite numbers and non-canonical bytes."""
    if len(data) > max_bytes:
        raise CanonicalError(f"{len(data)} bytes is more than the limit of {max_bytes}")
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant
        )
    except CanonicalError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CanonicalError(f"not JSON: {exc}") from None
    if canonical_bytes(value) != data:
        raise CanonicalError("not in canonical form (key order, spacing or number format differ)")
    return value
