"""Connection hygiene of the coordinator's HTTPS service (service/hygiene.py), tested with its attack: a
flood of TCP connections that never start TLS, from an outsider without a certificate.

With the hygiene on, a legitimate site's request is served within a few seconds while 200 idle sockets are
open, the idle ones are closed after the handshake timeout, connections over the caps are closed at once,
and the refusals are logged at most `log_per_minute` times. Power check: with the hygiene off (a 60 s
handshake timeout, no caps) the idle sockets are still open after the timeout.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fedward.coordinator.service.hygiene import ConnectionLimits, RateLimitedLog
from fedward.coordinator.service.server import BackgroundServer, server_ssl_context
from fedward.deployment.pki import (
    certificate_pem,
    crl_pem,
    empty_crl,
    issue_client_certificate,
    issue_server_certificate,
    new_authority,
    private_key_pem,
    write_file,
)

HANDSHAKE_S = 1.0
FLOOD = 200
ON = ConnectionLimits(handshake_timeout_s=HANDSHAKE_S, keep_alive_s=1, max_connections=1000,
                      max_connections_per_address=1000)  # fmt: skip
OFF = ConnectionLimits(handshake_timeout_s=60.0, keep_alive_s=60, max_connections=100_000,
                       max_connections_per_address=100_000)  # fmt: skip


async def _app(scope, receive, send):  # the smallest ASGI app: the hygiene is the server's, not the API's
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    now = datetime.now(UTC)
    folder = tmp_path_factory.mktemp("pki")
    ca = new_authority("hygiene", now, 2)
    server = issue_server_certificate(ca, "hygiene", "127.0.0.1", now, 2)
    site = issue_client_certificate(ca, "st-olav", now, 2)
    paths = {name: folder / name for name in ("ca.pem", "server.pem", "server.key", "site.pem", "site.key",
                                              "crl.pem")}  # fmt: skip
    write_file(paths["ca.pem"], certificate_pem(ca.certificate), private=False)
    write_file(paths["server.pem"], certificate_pem(server.certificate), private=False)
    write_file(paths["server.key"], private_key_pem(server.key), private=True)
    write_file(paths["site.pem"], certificate_pem(site.certificate), private=False)
    write_file(paths["site.key"], private_key_pem(site.key), private=True)
    write_file(paths["crl.pem"], crl_pem(empty_crl(ca, now, 2)), private=False)
    return paths


def _serve(pki: dict[str, Path], limits: ConnectionLimits) -> Iterator[BackgroundServer]:
    def build() -> ssl.SSLContext:
        return server_ssl_context(pki["ca.pem"], pki["server.pem"], pki["server.key"], pki["crl.pem"])

    server = BackgroundServer(_app, "127.0.0.1", 0, build, pki["crl.pem"], limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hygienic(pki):
    yield from _serve(pki, ON)


def _site_request(pki: dict[str, Path], port: int, timeout: float = 5.0) -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=pki["ca.pem"])
    context.load_cert_chain(pki["site.pem"], pki["site.key"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    return answer


def _flood(port: int, n: int, source: str = "127.0.0.1") -> list[socket.socket]:
    sockets = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        sockets.append(s)
    return sockets


def _closed(sockets: list[socket.socket]) -> int:
    """How many of `sockets` the server closed (end of stream or a reset): the server sends nothing to a
    connection that never starts TLS, so a readable one is a closed one. One poll, no waiting."""
    poll = select.poll()
    for s in sockets:
        poll.register(s, select.POLLIN)
    ready = {fd for fd, _ in poll.poll(0)}
    closed = 0
    for s in sockets:
        if s.fileno() in ready:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
    return closed


def _close_all(sockets: list[socket.socket]) -> None:
    for s in sockets:
        s.close()


def test_a_site_is_served_during_an_idle_flood_and_the_idle_sockets_are_closed_after_the_timeout(
    pki, hygienic
) -> None:
    flood = _flood(hygienic.port, FLOOD)
    try:
        start = time.monotonic()
        assert _site_request(pki, hygienic.port).startswith(b"HTTP/1.1 200")
        assert time.monotonic() - start < 3.0
        time.sleep(HANDSHAKE_S + 1.0)
        assert _closed(flood) == FLOOD
        assert _site_request(pki, hygienic.port).endswith(b"ok")
    finally:
        _close_all(flood)


def test_power_check_without_the_hygiene_the_idle_sockets_stay_open_past_the_timeout(pki) -> None:
    for server in _serve(pki, OFF):
        flood = _flood(server.port, FLOOD)
        try:
            time.sleep(HANDSHAKE_S + 1.0)
            assert _closed(flood) == 0
        finally:
            _close_all(flood)


def test_connections_over_the_cap_per_address_are_closed_at_once_and_logged_rate_limited(
    pki, caplog: pytest.LogCaptureFixture
) -> None:
    limits = ConnectionLimits(handshake_timeout_s=5.0, max_connections=1000, max_connections_per_address=20,
                              log_per_minute=3)  # fmt: skip
    for server in _serve(pki, limits):
        with caplog.at_level(logging.WARNING, logger="fedward"):
            flood = _flood(server.port, 100, source="127.0.0.2")  # an attacker's address
            try:
                time.sleep(0.5)
                assert 75 <= _closed(flood) <= 80  # all but the first 20 (some 20 stay)
                # a site from another address is still served, before the flood's handshakes time out
                assert _site_request(pki, server.port).startswith(b"HTTP/1.1 200")
            finally:
                _close_all(flood)
        refused = [r for r in caplog.records if getattr(r, "event", "") == "connection_refused"]
        assert len(refused) == 3 and refused[0].reason == "too_many_connections_from_address"
        assert refused[0].peer == "127.0.0.2"


def test_power_check_without_the_caps_the_flood_is_not_refused(pki) -> None:
    limits = ConnectionLimits(handshake_timeout_s=5.0, max_connections=1000, max_connections_per_address=1000)
    for server in _serve(pki, limits):
        flood = _flood(server.port, 100, source="127.0.0.2")
        try:
            time.sleep(0.5)
            assert _closed(flood) == 0
        finally:
            _close_all(flood)


def test_the_rate_limited_log_counts_what_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("fedward.test.hygiene"), 2, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="fedward.test.hygiene"):
        sent = [log.warning("refused", "refused %s", i) for i in range(10)]
        now[0] = 61.0
        assert log.warning("refused", "refused again")
    assert sent == [True, True] + [False] * 8
    assert [r.suppressed for r in caplog.records] == [0, 0, 8]
