"""Strict field checks shared by the signed trust documents (the roster and update manifests).

A signed document is parsed from JSON that crossed a trust boundary, so every field is checked for its
exact type (a JSON `true` is not an integer here, although Python's `bool` is an `int`), its range and
its format: names follow the site-name pattern of the config file, digests and keys are lowercase hex
of a fixed length, and times are ISO 8601 in UTC. Each check raises `ValueError` naming the field; the
document modules turn that into their own narrow error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

__all__ = [
    "NAME_PATTERN",
    "check_bool",
    "check_hex",
    "check_int",
    "check_keys",
    "check_name",
    "check_number",
    "check_object",
    "check_str",
    "check_timestamp",
    "format_utc",
    "parse_utc",
]

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_NAME = re.compile(NAME_PATTERN)
_MAX_TEXT = 1024


def check_keys(value: Any, expected: set[str], where: str) -> Mapping[str, Any]:
    """`value` is a JSON object with exactly the keys `expected` (no unknown, none missing)."""
    mapping = check_object(value, where)
    if set(mapping) != expected:
        unknown, missing = sorted(set(mapping) - expected), sorted(expected - set(mapping))
        raise ValueError(f"{where}: unknown keys {unknown}, missing keys {missing}")
    return mapping


def check_object(value: Any, where: str) -> Mapping[str, Any]:
    """A JSON object with any keys (each key is a string by construction of JSON)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return cast(Mapping[str, Any], value)


def check_str(value: Any, where: str, *, max_len: int = _MAX_TEXT) -> str:
    """A non-empty string of at most `max_len` characters."""
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ValueError(f"{where}: expected a non-empty string of at most {max_len} characters")
    return value


def check_name(value: Any, where: str) -> str:
    """A site or identity name: `NAME_PATTERN`, the same rule as `[[sites]] name` in the config."""
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise ValueError(f"{where}: {value!r} is not a valid name (letters, digits, '_', '.', '-'; max 64)")
    return value


def check_int(value: Any, where: str, *, minimum: int = 0) -> int:
    """An integer (not a bool) of at least `minimum`."""
    if type(value) is not int or value < minimum:
        raise ValueError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def check_number(value: Any, where: str) -> float:
    """A finite JSON number: an int or a float (a float subclass such as numpy's float64 becomes a float),
    never a bool. An int stays an int, so the canonical encoding round-trips byte for byte."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    number = float(value) if isinstance(value, float) else int(value)
    if not math.isfinite(number):
        raise ValueError(f"{where}: {number} is not a finite number")
    return number


def check_bool(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    return value


def check_hex(value: Any, where: str, *, nbytes: int) -> str:
    """Lowercase hex of exactly `nbytes` bytes (one spelling per value, so hashes compare as strings)."""
    if not isinstance(value, str) or len(value) != 2 * nbytes or value.strip("0123456789abcdef"):
        raise ValueError(f"{where}: expected {2 * nbytes} lowercase hex digits")
    return value


def parse_utc(text: Any) -> datetime:
    """An ISO 8601 time with an explicit UTC offset of zero ('Z' or '+00:00'); naive times are refused."""
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError(f"{text!r} is not an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if moment.utcoffset() != timedelta(0):
        raise ValueError(f"{text!r} is not in UTC (write it with a 'Z' or '+00:00' suffix)")
    return moment


def check_timestamp(value: Any, where: str) -> str:
    """An ISO 8601 UTC time, kept as the string it was given (that string is what gets signed)."""
    try:
        parse_utc(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return str(value)


def format_utc(moment: datetime) -> str:
    """The ISO 8601 spelling fedward writes: UTC with a 'Z' suffix, e.g. 2025-01-31T12:00:00Z."""
    if moment.utcoffset() is None:
        raise ValueError("a naive datetime has no time zone; pass an aware one")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
