"""Strict reads of one key of a task config: the value must be there and have the JSON type asked for.

Every `from_config` in this package reads through these, so a missing or mistyped key fails the same way
everywhere: a `ValueError` that names the key. `bool` is never accepted as a number (it is an `int` in
Python, not in the config's meaning).
"""

from __future__ import annotations

from collections.abc import Mapping

from fedward.core.messages import JSONValue

__all__ = ["read_bool", "read_float", "read_int", "read_optional_float", "read_str", "read_str_list"]


def _missing_or_malformed(key: str, value: JSONValue, want: str) -> ValueError:
    return ValueError(f"task config {key!r} must be {want}, got {value!r}")


def _get(config: Mapping[str, JSONValue], key: str, want: str) -> JSONValue:
    if key not in config:
        raise ValueError(f"task config lacks {key!r} ({want})")
    return config[key]


def read_int(config: Mapping[str, JSONValue], key: str) -> int:
    value = _get(config, key, "an integer")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _missing_or_malformed(key, value, "an integer")
    return value


def read_float(config: Mapping[str, JSONValue], key: str) -> float:
    value = _get(config, key, "a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _missing_or_malformed(key, value, "a number")
    return float(value)


def read_optional_float(config: Mapping[str, JSONValue], key: str) -> float | None:
    """A number or null; the key itself must still be present."""
    if _get(config, key, "a number or null") is None:
        return None
    return read_float(config, key)


def read_bool(config: Mapping[str, JSONValue], key: str) -> bool:
    value = _get(config, key, "true or false")
    if not isinstance(value, bool):
        raise _missing_or_malformed(key, value, "true or false")
    return value


def read_str(config: Mapping[str, JSONValue], key: str) -> str:
    value = _get(config, key, "a string")
    if not isinstance(value, str):
        raise _missing_or_malformed(key, value, "a string")
    return value


def read_str_list(config: Mapping[str, JSONValue], key: str) -> tuple[str, ...]:
    value = _get(config, key, "a list of strings")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _missing_or_malformed(key, value, "a list of strings")
    return tuple(str(item) for item in value)
