"""Request signatures: a signed request verifies, and every tampering, a foreign key, a stale time and a
replayed nonce are refused. Each attack has a power check: with the defence switched off (the Ed25519
check replaced by a no-op, the attacker's key trusted, the window widened, nonces never remembered) the
same forged request is accepted, so these tests would fail if the defence did nothing."""

from __future__ import annotations

import base64
import hashlib
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import fedward.transport.signing as signing
from fedward.coordinator.service.app import ServiceContext, create_app
from fedward.coordinator.service.board import Board
from fedward.coordinator.service.metrics import ServiceMetrics
from fedward.coordinator.state.blobs import BlobStore
from fedward.coordinator.state.memory import MemoryStateStore
from fedward.crypto.signatures import SigningKey
from fedward.transport.signing import (
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_SITE,
    HEADER_TIME,
    RequestSignatureError,
    SignedRequest,
    sign_request,
    verify_request,
)

with warnings.catch_warnings():  # starlette asks for httpx2; the TestClient works the same with httpx
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from fastapi.testclient import TestClient

FED, NOW = "fed", 1_700_000_000
KEY_A = SigningKey.from_seed(b"a" * 32)
KEY_B = SigningKey.from_seed(b"b" * 32)
ATTACKER = SigningKey.from_seed(b"x" * 32)
KEYS = {"a": KEY_A.public, "b": KEY_B.public}
PATH, BODY = "/v1/replies?x=1", b'{"task_id": "t"}'


def _signed(nonce: str | None = None) -> dict[str, str]:
    return sign_request(KEY_A, "a", FED, "POST", PATH, BODY, NOW, nonce)


def _verify(
    headers: dict[str, str],
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
    federation: str = FED,
    keys: Callable[[str], bytes | None] = KEYS.get,
    now: float = NOW,
    window_s: float = 300,
) -> SignedRequest:
    return verify_request(headers, method, path, body, federation, keys, now, window_s)


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(RequestSignatureError) as info:
        call()
    return info.value.reason


def test_round_trip() -> None:
    headers = _signed()
    assert set(headers) == {HEADER_SITE, HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE}
    assert len(headers[HEADER_NONCE]) == 32 and headers[HEADER_TIME] == str(NOW)
    assert _verify(headers) == SignedRequest(site="a", nonce=headers[HEADER_NONCE], time=NOW)
    lowered = {k.lower(): v for k, v in headers.items()}  # header names are case-insensitive
    assert _verify(lowered).site == "a"
    assert _verify(headers, method="post").site == "a"
    assert _signed()[HEADER_NONCE] != headers[HEADER_NONCE]  # fresh nonces


def test_the_signature_is_over_the_documented_bytes() -> None:
    headers = _signed(nonce="0" * 32)
    message = signing.request_message(FED, "POST", PATH, BODY, NOW, "0" * 32, "a")
    assert (
        message
        == (
            '["fedward request v1","fed","POST","/v1/replies?x=1","'
            + hashlib.sha256(BODY).hexdigest()
            + '",1700000000,"00000000000000000000000000000000","a"]'
        ).encode()
    )
    assert KEY_A.sign(message) == base64.urlsafe_b64decode(headers[HEADER_SIGNATURE] + "==")


def test_a_body_digest_the_caller_already_has_signs_the_same_message() -> None:
    digest = hashlib.sha256(BODY).hexdigest()
    given = signing.request_message(FED, "POST", PATH, BODY, NOW, "0" * 32, "a", body_sha256=digest)
    assert given == signing.request_message(FED, "POST", PATH, BODY, NOW, "0" * 32, "a")
    headers = sign_request(KEY_A, "a", FED, "POST", PATH, BODY, NOW, "0" * 32, body_sha256=digest)
    assert headers == _signed(nonce="0" * 32) and _verify(headers).site == "a"


TAMPERINGS: dict[str, dict[str, Any]] = {
    "body": {"body": BODY + b" "},
    "path": {"path": "/v1/replies?x=2"},
    "method": {"method": "PUT"},
    "federation": {"federation": "other-fed"},
}


@pytest.mark.parametrize("change", list(TAMPERINGS.values()), ids=list(TAMPERINGS))
def test_tampered_request_is_refused(change: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    headers = _signed()
    assert _reason(lambda: _verify(headers, **change)) == "bad_signature"
    monkeypatch.setattr(signing, "verify", lambda public, message, signature: None)  # defence off
    assert _verify(headers, **change).site == "a"


@pytest.mark.parametrize(
    ("header", "value"), [(HEADER_TIME, str(NOW + 1)), (HEADER_SITE, "b"), (HEADER_NONCE, "1" * 32)]
)
def test_tampered_header_is_refused(header: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {**_signed(), header: value}
    assert _reason(lambda: _verify(headers)) == "bad_signature"
    monkeypatch.setattr(signing, "verify", lambda public, message, signature: None)  # defence off
    assert _verify(headers).site == headers[HEADER_SITE]


def test_another_key_cannot_sign_for_a_site() -> None:
    forged = sign_request(ATTACKER, "a", FED, "POST", PATH, BODY, NOW)
    assert _reason(lambda: _verify(forged)) == "bad_signature"
    # power check: had the roster held the attacker's key for "a", the forgery would pass
    assert _verify(forged, keys={"a": ATTACKER.public}.get).site == "a"


def test_a_stale_or_future_request_is_refused() -> None:
    for skew in (-301, 301):
        headers = sign_request(KEY_A, "a", FED, "POST", PATH, BODY, NOW + skew)
        assert _reason(lambda h=headers: _verify(h)) == "stale"
        assert _verify(headers, window_s=1000).site == "a"  # power check: a wider window accepts it
    assert _verify(sign_request(KEY_A, "a", FED, "POST", PATH, BODY, NOW - 300)).site == "a"


def test_unknown_or_revoked_site_is_refused() -> None:
    headers = sign_request(ATTACKER, "mallory", FED, "POST", PATH, BODY, NOW)
    assert _reason(lambda: _verify(headers)) == "unknown_site"
    assert _verify(headers, keys={"mallory": ATTACKER.public}.get).site == "mallory"  # power check


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (HEADER_SITE, "../etc"),
        (HEADER_SITE, ""),
        (HEADER_TIME, "12.5"),
        (HEADER_TIME, "-5"),
        (HEADER_TIME, "1" * 13),
        (HEADER_NONCE, "ABCDEF" + "0" * 26),
        (HEADER_NONCE, "0" * 31),
        (HEADER_SIGNATURE, "not base64!"),
        (HEADER_SIGNATURE, "A" * 85),
    ],
)
def test_malformed_headers_are_refused(header: str, value: str) -> None:
    assert _reason(lambda: _verify({**_signed(), header: value})) == "malformed"


@pytest.mark.parametrize("header", [HEADER_SITE, HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE])
def test_missing_headers_are_refused(header: str) -> None:
    headers = {k: v for k, v in _signed().items() if k != header}
    assert _reason(lambda: _verify(headers)) == "missing"
    assert _reason(lambda: _verify({})) == "missing"


class _ForgetfulStore(MemoryStateStore):
    """A state store that never remembers a nonce: the replay defence switched off."""

    def use_nonce(self, site: str, nonce: str, at: float) -> bool:
        return True


@pytest.mark.parametrize("defended", [True, False], ids=["defended", "power-check"])
def test_a_replayed_request_is_refused_by_the_app(tmp_path: Path, defended: bool) -> None:
    store = MemoryStateStore() if defended else _ForgetfulStore()
    ctx = ServiceContext(
        store=store, blobs=BlobStore(tmp_path, 1 << 20), board=Board(), metrics=ServiceMetrics(),
        federation=FED, site_key=KEYS.get, now=lambda: float(NOW), utc=lambda: "t",
        poll_seconds=1.0, logger=logging.getLogger("fedward.test.signing"), bind_certificates=False,
    )  # fmt: skip
    client = TestClient(create_app(ctx))
    headers = sign_request(KEY_A, "a", FED, "GET", "/v1/tasks/next", b"", NOW)
    assert client.get("/v1/tasks/next", headers=headers).status_code == 200
    again = client.get("/v1/tasks/next", headers=headers)  # captured and sent again
    if defended:
        assert again.status_code == 401 and again.json()["reason"] == "replay"
        assert [r[:2] for r in store.rejections()] == [("a", "replay")]
    else:
        assert again.status_code == 200
