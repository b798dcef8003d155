"""CoordinatorClient against a stateful fake coordinator (httpx.MockTransport) that checks every signature.

The fake keeps uploads, blobs and replies like the real service, refuses a bad signature or a reused
nonce with 401, and can drop a connection mid-chunk after keeping part of it, so the tests can see which
byte ranges reached it and assert that none arrived twice.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import ssl
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, HTTPException, Request

from fedward.crypto.signatures import SigningKey
from fedward.errors import UserError
from fedward.transport import client as client_module
from fedward.transport.client import (
    Backoff,
    CoordinatorClient,
    CoordinatorHealth,
    CoordinatorUnreachable,
    ProtocolError,
    SiteRefused,
    client_ssl_context,
)
from fedward.transport.signing import RequestSignatureError, verify_request
from fedward.transport.wire import BlobRef, ReplyMessage

with warnings.catch_warnings():  # starlette now prefers the `httpx2` fork; its TestClient still works
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from fastapi.testclient import TestClient

KEY = SigningKey.from_seed(bytes(range(32)))
SITE, FEDERATION, NOW = "site-a", "fed-test", 1_700_000_000
MiB = 1 << 20
Hook = Callable[[httpx.Request], httpx.Response | None]


def _json(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeCoordinator:
    """The coordinator API in memory, with faults to inject."""

    def __init__(self, federation: str = FEDERATION) -> None:
        self.federation = federation
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, tuple[int, bytearray]] = {}
        self.received: list[tuple[int, int]] = []  # (offset, length) of every byte range stored
        self.replies: dict[str, bytes] = {}
        self.closed: set[str] = set()
        self.nonces: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.puts = 0
        self.drop_put: dict[int, int] = {}  # PUT number -> bytes kept before the connection drops
        self.stale_post_offset = False  # POST /uploads claims 0 bytes held (so the PUT gets a 409)
        self.hooks: list[Hook] = []  # one-shot faults, consumed in order; None means "no fault"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, request.url.raw_path.decode()))
        if path != "/v1/health" and (refused := self._check_signature(request)) is not None:
            return refused
        if self.hooks and (faulty := self.hooks.pop(0)(request)) is not None:
            return faulty
        return self._route(request, path)

    def _check_signature(self, request: httpx.Request) -> httpx.Response | None:
        try:
            signed = verify_request(
                request.headers, request.method, request.url.raw_path.decode(), request.content,
                self.federation, lambda site: KEY.public if site == SITE else None, now=NOW,
            )  # fmt: skip
        except RequestSignatureError as exc:
            return _json(401, {"detail": exc.message})
        if signed.nonce in self.nonces:
            return _json(401, {"detail": "nonce reused"})
        self.nonces.add(signed.nonce)
        return None

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        parts = path.removeprefix("/v1/").split("/")
        if parts == ["health"]:
            return _json(200, {"state": "running", "round": 3, "extra": 1})
        if parts == ["tasks", "next"]:
            return _json(200, {"state": "idle", "task": None})
        if parts[0] == "blobs" and parts[1] in self.blobs:
            return httpx.Response(200, content=self.blobs[parts[1]])
        if parts == ["uploads"] and request.method == "POST":
            return self._start(json.loads(request.content))
        if parts[0] == "uploads" and request.method == "PUT":
            return self._put(parts[1], int(request.url.params["offset"]), request.content)
        if parts == ["replies"]:
            return self._reply(request.content)
        return _json(404, {"detail": "not found"})

    def _state(self, sha: str) -> dict[str, object]:
        size, held = self.uploads[sha]
        return {"sha256": sha, "size": size, "offset": len(held), "complete": sha in self.blobs}

    def _start(self, body: dict[str, object]) -> httpx.Response:
        sha, size = str(body["sha256"]), int(str(body["size"]))
        self.uploads.setdefault(sha, (size, bytearray()))
        if size == 0:
            self.blobs[sha] = b""
        state = self._state(sha)
        return _json(200, {**state, "offset": 0} if self.stale_post_offset else state)

    def _put(self, sha: str, offset: int, chunk: bytes) -> httpx.Response:
        size, held = self.uploads[sha]
        if offset != len(held):
            return _json(409, {"detail": "wrong offset", "offset": len(held)})
        self.puts += 1
        keep = self.drop_put.pop(self.puts, len(chunk))
        held += chunk[:keep]
        self.received.append((offset, keep))
        if keep < len(chunk):
            raise httpx.WriteError("connection reset by peer")
        if len(held) == size and _sha(bytes(held)) == sha:
            self.blobs[sha] = bytes(held)
        return _json(200, self._state(sha))

    def _reply(self, body: bytes) -> httpx.Response:
        task = json.loads(body)["task_id"]
        if task in self.closed:
            return _json(409, {"detail": "task closed"})
        if task in self.replies:
            same = self.replies[task] == body
            return _json(200, {"accepted": True, "duplicate": True}) if same else _json(409, {"detail": "x"})
        self.replies[task] = body
        return _json(200, {"accepted": True})


class Sleeps:
    """An injected sleep that records each pause and advances a fake clock."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.now = float(NOW)

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make_client(
    fake: FakeCoordinator, sleeps: Sleeps | None = None, seed: int = 7, **kwargs: object
) -> CoordinatorClient:
    sleeps = sleeps or Sleeps()
    backoff = Backoff(rng=random.Random(seed), sleep=sleeps.sleep)
    http = httpx.Client(transport=httpx.MockTransport(fake))
    return CoordinatorClient(
        "https://coordinator.test", SITE, FEDERATION, KEY, http=http, backoff=backoff,
        clock=sleeps.clock, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _puts(fake: FakeCoordinator) -> list[str]:
    return [target for method, target in fake.requests if method == "PUT"]


def _assert_each_byte_once(fake: FakeCoordinator, size: int) -> None:
    position = 0
    for offset, length in fake.received:
        assert offset == position, "a byte range arrived twice or a gap was left"
        position += length
    assert position == size


# -- uploads --------------------------------------------------------------------------------------


def test_upload_sends_12_mib_in_5_mib_chunks():
    fake, data = FakeCoordinator(), random.Random(1).randbytes(12 * MiB)
    client = make_client(fake)
    ref = client.upload(data)
    assert ref == BlobRef(sha256=_sha(data), size=len(data))
    assert fake.blobs[ref.sha256] == data
    assert [length for _, length in fake.received] == [5 * MiB, 5 * MiB, 2 * MiB]
    assert _puts(fake) == [f"/v1/uploads/{ref.sha256}?offset={o}" for o in (0, 5 * MiB, 10 * MiB)]
    assert client.stats.bytes_sent == len(data) and client.stats.retries == 0


def test_upload_resumes_from_the_coordinators_offset_after_a_drop():
    fake, sleeps, data = FakeCoordinator(), Sleeps(), random.Random(2).randbytes(12 * MiB)
    fake.drop_put = {2: 1_000_000}  # the second chunk: 1 MB arrives, then the connection is reset
    client = make_client(fake, sleeps)
    ref = client.upload(data)
    assert fake.blobs[ref.sha256] == data
    _assert_each_byte_once(fake, len(data))
    offsets = [int(t.rsplit("=", 1)[1]) for t in _puts(fake)]
    assert offsets == [0, 5 * MiB, 5 * MiB + 1_000_000, 10 * MiB + 1_000_000]
    assert client.stats.bytes_sent == len(data) + 5 * MiB - 1_000_000  # only the lost tail went twice
    assert client.stats.uploads_resumed == 1 and len(sleeps.pauses) == 1


def test_chunk_hashes_are_computed_once_ahead_and_a_resumed_chunk_is_hashed_when_signed(
    monkeypatch: pytest.MonkeyPatch,
):
    fake, data = FakeCoordinator(), random.Random(4).randbytes(12 * MiB)
    fake.drop_put = {2: 1_000_000}  # the resumed chunk starts off the 5 MiB grid
    given: list[tuple[bytes, str | None]] = []
    real = client_module.sign_request

    def spy(*args: object, body_sha256: str | None = None) -> dict[str, str]:
        given.append((args[5], body_sha256))  # type: ignore[arg-type]
        return real(*args, body_sha256=body_sha256)  # type: ignore[arg-type]

    monkeypatch.setattr(client_module, "sign_request", spy)
    make_client(fake).upload(data)
    assert fake.blobs[_sha(data)] == data  # every signature verified
    chunks = [(body, digest) for body, digest in given if len(body) > 1000]
    assert [digest is not None for _, digest in chunks] == [True, True, False, False]  # off the grid after
    assert all(digest == _sha(body) for body, digest in chunks if digest is not None)


def test_upload_jumps_to_the_offset_a_409_names():
    fake, data = FakeCoordinator(), random.Random(3).randbytes(7 * MiB)
    client = make_client(fake, chunk_bytes=3 * MiB)
    fake.drop_put = {1: 3 * MiB - 5}  # holds 3 MiB - 5 bytes ...
    fake.stale_post_offset = True  # ... but says 0 when asked, so the PUT at 0 is corrected by a 409
    client.upload(data)
    assert fake.blobs[_sha(data)] == data
    _assert_each_byte_once(fake, len(data))
    assert client.stats.uploads_resumed == 1


def test_upload_already_held_sends_nothing_and_empty_upload_completes():
    fake, data = FakeCoordinator(), b"parameters"
    client = make_client(fake)
    client.upload(data)
    client.upload(data)
    assert len(_puts(fake)) == 1
    assert client.upload(b"") == BlobRef(sha256=_sha(b""), size=0)


def test_upload_that_makes_no_progress_is_a_protocol_error():
    fake = FakeCoordinator()
    fake.hooks = [lambda r: None, lambda r: _json(200, {"sha256": _sha(b"x"), "size": 1, "offset": 0,
                                                        "complete": False})]  # fmt: skip
    with pytest.raises(ProtocolError, match="no progress"):
        make_client(fake).upload(b"x")


# -- retries and backoff ---------------------------------------------------------------------------


def test_backoff_is_deterministic_given_its_seed_and_capped():
    fake, sleeps = FakeCoordinator(), Sleeps()
    fake.hooks = [lambda r: _json(503, {"detail": "busy"})] * 12
    make_client(fake, sleeps, seed=11).next_task(wait=5)
    expected = Backoff(rng=random.Random(11))
    assert sleeps.pauses == [expected.delay(n) for n in range(12)]
    for n, pause in enumerate(sleeps.pauses):
        ceiling = min(30.0, 0.5 * 2**n)
        assert ceiling / 2 <= pause <= ceiling
    assert Backoff().delay(10_000) <= 30.0  # no overflow however long the outage


def test_connection_errors_are_retried_then_succeed():
    fake, sleeps = FakeCoordinator(), Sleeps()

    def refuse(request: httpx.Request) -> None:
        raise httpx.ConnectError("connection refused")

    fake.hooks = [refuse, refuse]
    assert make_client(fake, sleeps).next_task(wait=1).state == "idle"
    assert len(sleeps.pauses) == 2


def test_give_up_after_raises_coordinator_unreachable():
    fake, sleeps = FakeCoordinator(), Sleeps()
    fake.hooks = [lambda r: _json(502, {})] * 100
    client = make_client(fake, sleeps, give_up_after_s=60.0)  # the fake clock moves with each pause
    with pytest.raises(CoordinatorUnreachable, match="no usable answer"):
        client.health()
    assert 60.0 <= sum(sleeps.pauses) < 60.0 + 30.0


@pytest.mark.parametrize("status", [401, 403])
def test_refusal_raises_site_refused_at_once(status: int):
    fake, sleeps = FakeCoordinator(), Sleeps()
    fake.hooks = [lambda r: _json(status, {"detail": "site-a is revoked"})]
    with pytest.raises(SiteRefused, match="site-a is revoked"):
        make_client(fake, sleeps).next_task(wait=1)
    assert sleeps.pauses == [] and len(fake.requests) == 1


def test_other_4xx_raises_protocol_error_at_once():
    fake, sleeps = FakeCoordinator(), Sleeps()
    fake.hooks = [lambda r: _json(422, {"detail": "bad body"})]
    with pytest.raises(ProtocolError, match="422: bad body"):
        make_client(fake, sleeps).upload(b"abc")
    assert sleeps.pauses == []


def test_health_is_unsigned_and_ignores_extra_fields():
    fake = FakeCoordinator()
    assert make_client(fake).health() == CoordinatorHealth(state="running", round=3)
    assert fake.nonces == set()


# -- downloads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("served", [b"tampered!!", b"short", b"much too long for it"])
def test_download_retries_until_the_bytes_match_their_hash(served: bytes):
    fake, sleeps, data = FakeCoordinator(), Sleeps(), b"the global"
    fake.blobs[_sha(data)] = data
    fake.hooks = [lambda r: httpx.Response(200, content=served)]
    assert make_client(fake, sleeps).download(BlobRef(sha256=_sha(data), size=len(data))) == data
    assert len(sleeps.pauses) == 1


# -- replies ---------------------------------------------------------------------------------------


def _reply(task: str = "ab" * 32) -> ReplyMessage:
    return ReplyMessage(task_id=task, site=SITE, status="ok", num_samples=3)


def test_post_reply_accepted_duplicate_and_closed():
    fake = FakeCoordinator()
    client = make_client(fake)
    assert client.post_reply(_reply()) == "accepted"
    assert client.post_reply(_reply()) == "duplicate"
    fake.closed.add("cd" * 32)
    assert client.post_reply(_reply("cd" * 32)) == "closed"


def test_post_reply_whose_answer_was_lost_is_a_duplicate_on_retry():
    fake = FakeCoordinator()

    def lose_answer(request: httpx.Request) -> None:
        fake._reply(request.content)
        raise httpx.ReadError("connection reset before the answer")

    fake.hooks = [lose_answer]
    assert make_client(fake).post_reply(_reply()) == "duplicate"


# -- signatures and TLS ----------------------------------------------------------------------------


def test_every_signed_request_verifies_over_its_exact_bytes():
    fake, data = FakeCoordinator(), random.Random(4).randbytes(3 * MiB)
    fake.drop_put = {1: 100}
    client = make_client(fake, chunk_bytes=2 * MiB)
    client.download(client.upload(data))
    client.post_reply(_reply())
    client.next_task(wait=2.5)
    assert len(fake.nonces) == len(fake.requests)  # every request checked, a fresh nonce each (retries too)
    assert ("GET", "/v1/tasks/next?wait=2.5") in fake.requests


def test_signature_power_check_wrong_body_or_federation_is_refused(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(SiteRefused, match="does not verify"):
        make_client(FakeCoordinator(federation="another-federation")).upload(b"abc")
    real = client_module.sign_request

    def sign_other_body(*args: object, **kwargs: object) -> dict[str, str]:
        return real(*args[:5], b"", args[6])  # type: ignore[arg-type]  # (and drops any body_sha256)

    monkeypatch.setattr(client_module, "sign_request", sign_other_body)
    with pytest.raises(SiteRefused, match="does not verify"):
        make_client(FakeCoordinator()).upload(b"abc")


def test_signatures_verify_through_a_real_asgi_stack():
    app = FastAPI()

    async def check(request: Request) -> dict[str, object]:
        target = request.scope["raw_path"].decode() + "?" * bool(request.url.query) + request.url.query
        try:
            verify_request(request.headers, request.method, target, await request.body(), FEDERATION,
                           lambda site: KEY.public, now=NOW)  # fmt: skip
        except RequestSignatureError as exc:
            raise HTTPException(401, exc.message) from None
        return {"accepted": True} if request.method == "POST" else {"state": "idle", "task": None}

    app.add_api_route("/v1/tasks/next", check, methods=["GET"])
    app.add_api_route("/v1/replies", check, methods=["POST"])
    with TestClient(app) as http:
        client = CoordinatorClient("http://testserver", SITE, FEDERATION, KEY, http=http, clock=lambda: NOW)
        assert client.next_task(wait=0.5).state == "idle"
        assert client.post_reply(_reply()) == "accepted"


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site-a")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_pem, key_pem = tmp / "cert.pem", tmp / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pkcs8 = serialization.PrivateFormat.PKCS8
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    return cert_pem, key_pem


def test_client_ssl_context_is_mutual_tls_with_hostname_checks(tmp_path: Path):
    cert_pem, key_pem = _certificate(tmp_path)
    context = client_ssl_context(cert_pem, cert_pem, key_pem)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    with pytest.raises(UserError, match="TLS file not found"):
        client_ssl_context(tmp_path / "ca.pem", cert_pem, key_pem)
