"""Session parameters: validation that fails closed, and an identical rebuild on both sides."""

from __future__ import annotations

from typing import Any

import pytest

from fedward.errors import ConfigError
from fedward.secagg import ProtocolError, SecAggConfigError, SessionParams

S = bytes(range(32))
SITES = ("site-a", "site-b", "site-c", "site-d", "site-e")


def _params(**change: Any) -> SessionParams:
    fields: dict[str, Any] = {
        "session": S,
        "sites": SITES,
        "threshold": 3,
        "degree": 4,
        "length": 10,
        "ring_bits": 32,
    }
    return SessionParams(**{**fields, **change})


def test_valid_params_and_derived_graph() -> None:
    params = _params()
    assert params.shareholders_of("site-c") == SITES
    assert params.share_x("site-c", "site-a") == 1 and params.share_x("site-c", "site-e") == 5
    assert params.neighbours_of("site-a") == SITES[1:]
    assert params.dtype.name == "uint32"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"session": b"short"}, "session id"),
        ({"session": bytes(65)}, "session id"),
        ({"session": "not bytes" * 4}, "session id"),
        ({"sites": ("site-a",)}, "2..10000 sites"),
        ({"sites": ("site-b", "site-a", "site-c")}, "sorted and unique"),
        ({"sites": ("site-a", "site-a", "site-c")}, "sorted and unique"),
        ({"sites": ("site-a", "")}, "printable"),
        ({"degree": 0}, "degree"),
        ({"degree": True}, "degree"),
        ({"length": 0}, "length"),
        ({"ring_bits": 16}, "ring_bits"),
        ({"threshold": 1}, "threshold 1"),
        ({"threshold": 6}, "threshold 6"),
        ({"threshold": 2}, "more than half"),
        ({"threshold": 3, "degree": 1, "sites": ("a", "b", "c", "d")}, "at most 2"),
    ],
)
def test_invalid_params_are_refused(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(SecAggConfigError, match=reason) as caught:
        _params(**change)
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


def test_threshold_is_a_majority_of_every_shareholder_set() -> None:
    sites = tuple(f"s{i:02d}" for i in range(20))
    params = SessionParams.create(S, list(reversed(sites)), degree=6, length=3, ring_bits=64)
    assert params.sites == sites and params.threshold == 4
    with pytest.raises(SecAggConfigError, match="more than half of 7") as caught:
        SessionParams(S, sites, 3, 6, 3, 64)
    assert caught.value.hint == "use threshold 4..7"
    odd = SessionParams.create(
        S, sites[:9], degree=5, length=3, ring_bits=32
    )  # odd degree and odd n: 6 neighbours
    assert odd.threshold == 4
    with pytest.raises(SecAggConfigError, match="at most 7"):
        SessionParams(S, sites[:9], 8, 5, 3, 32)


def test_params_travel_as_canonical_json() -> None:
    params = _params(degree=2, threshold=2)
    rebuilt = SessionParams.from_bytes(params.to_bytes())
    assert rebuilt == params and rebuilt.graph == params.graph
    assert params.to_bytes() == rebuilt.to_bytes()


def test_params_from_bytes_refuses_bad_values_and_encodings() -> None:
    raw = _params().to_bytes()
    with pytest.raises(SecAggConfigError, match="threshold"):
        SessionParams.from_bytes(raw.replace(b'"threshold":3', b'"threshold":1'))
    with pytest.raises(ProtocolError, match="ring_bits"):
        SessionParams.from_bytes(raw.replace(b'"ring_bits":32', b'"ring_bits":48'))
    with pytest.raises(ProtocolError, match="sorted"):
        SessionParams.from_bytes(raw.replace(b'"site-a","site-b"', b'"site-b","site-a"'))
    with pytest.raises(ProtocolError, match="canonical"):
        SessionParams.from_bytes(raw.replace(b":", b": ", 1))
