"""Serving the coordinator's API over HTTPS with mutual TLS (uvicorn), beside the round loop.

The TLS context requires a client certificate issued by the federation's CA and checks the CA's
certificate revocation list for it, so a site without a certificate, with one from another CA, or with a
revoked one is refused during the handshake, before any request reaches the application. The CRL file is
re-read when it changes (`fedward revoke` rewrites it), so a revocation takes effect for new connections
without a restart (`_CrlWatcher`).

uvicorn runs in a background thread with its own event loop; the round loop keeps the main thread.

Python's asyncio (3.11, 3.12) drops the TLS alert when a handshake fails: the connection is aborted
before the alert that says why (certificate revoked, unknown CA, certificate required) is written, so a
refused site would only see the connection close and keep retrying as if the coordinator were down.
`send_tls_alerts` wraps asyncio's handshake step to write that alert before the abort, and logs the
refusal (rate-limited, on the service's connections); it is applied once, when a server starts, and is
tested with the attack it serves.

The server is a `HygienicServer` (hygiene.py): handshake and keep-alive timeouts, caps on connections
per address and in total, and rate-limited JSON logs of what it refuses.
"""

from __future__ import annotations

import asyncio.sslproto
import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedward.coordinator.service.hygiene import ConnectionLimits, HygienicServer, RateLimitedLog
from fedward.errors import UserError

__all__ = ["BackgroundServer", "send_tls_alerts", "server_ssl_context"]

log = logging.getLogger("fedward.coordinator")


def server_ssl_context(ca: Path, cert: Path, key: Path, crl: Path) -> ssl.SSLContext:
    """TLS 1.2+; the coordinator's certificate; client certificates required, from `ca`, not revoked."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=ca)
    context.load_verify_locations(cafile=crl)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def send_tls_alerts() -> None:
    """Make asyncio write the TLS alert of a failed handshake before it drops the connection."""
    protocol: Any = asyncio.sslproto.SSLProtocol
    if getattr(protocol, "_fedward_sends_alerts", False):
        return
    original = protocol._do_handshake
    again = getattr(asyncio.sslproto, "SSLAgainErrors", (ssl.SSLWantReadError, ssl.SSLSyscallError))

    def _do_handshake(self: Any) -> None:
        try:
            self._sslobj.do_handshake()
        except again:
            self._process_outgoing()
        except ssl.SSLError as exc:
            self._process_outgoing()  # the alert, while the transport can still send it
            peer = self._transport.get_extra_info("peername") if self._transport is not None else None
            refusals = getattr(self, "_refusals", None)  # the service's rate-limited log
            if isinstance(refusals, RateLimitedLog):
                refusals.warning(
                    "tls_refused", "TLS handshake refused: %s", exc.reason, reason=str(exc.reason),
                    peer=str(peer),
                )  # fmt: skip
            else:
                log.warning(
                    "TLS handshake refused: %s",
                    exc.reason,
                    extra={"event": "tls_refused", "reason": str(exc.reason), "peer": str(peer)},
                )
            self._on_handshake_complete(exc)
        else:
            self._on_handshake_complete(None)

    if not callable(original) or not hasattr(protocol, "_process_outgoing"):
        return  # another asyncio: keep its behaviour rather than guess
    protocol._fedward_original_do_handshake = original  # for the test that shows what the fix changes
    protocol._do_handshake = _do_handshake
    protocol._fedward_sends_alerts = True


class _CrlWatcher(threading.Thread):
    """Builds a fresh TLS context whenever the CRL file changes, and hands it to new connections.

    Loading a new CRL into the live context is not enough: OpenSSL keeps every CRL it was given and,
    between two from the same CA issued in the same second, may consult the older one. So each change
    makes a context holding only the current CRL, and the serving context's SNI callback (which OpenSSL
    calls for every client hello, with or without a server name) switches each handshake to it."""

    def __init__(self, build: Callable[[], ssl.SSLContext], crl: Path, every_s: float = 0.5) -> None:
        super().__init__(name="fedward-crl", daemon=True)
        self._build, self._crl, self._every = build, crl, every_s
        self._stop = threading.Event()
        self._mtime = crl.stat().st_mtime_ns
        self.serving = build()
        self.current = self.serving
        self.serving.sni_callback = self._switch

    def _switch(self, connection: Any, _server_name: str | None, context: ssl.SSLContext) -> None:
        current = self.current
        if current is not context:
            connection.context = current

    def run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                mtime = self._crl.stat().st_mtime_ns
                if mtime != self._mtime:
                    self.current = self._build()
                    self._mtime = mtime
                    log.info("certificate revocation list reloaded", extra={"event": "crl_reloaded"})
            except (OSError, ssl.SSLError) as exc:
                log.warning("cannot reload the CRL: %s", exc, extra={"event": "crl_reload_failed"})

    def stop(self) -> None:
        self._stop.set()


class BackgroundServer:
    """uvicorn serving `app` on host:port with TLS contexts from `build`, in a daemon thread."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        build: Callable[[], ssl.SSLContext],
        crl: Path,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._watcher = _CrlWatcher(build, crl)
        self._server = HygienicServer(
            app, host, port, self._watcher.serving, limits or ConnectionLimits(), log
        )
        self._thread = threading.Thread(target=self._server.run, name="fedward-http", daemon=True)
        self._where = f"{host}:{port}"

    def start(self, timeout_s: float = 30.0) -> None:
        send_tls_alerts()
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise UserError(
                    f"the coordinator cannot listen on {self._where}",
                    hint="is another process using the port, or is the address not this machine's?",
                )
            time.sleep(0.02)
        self._watcher.start()

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose, when `port` was 0)."""
        return self._server.port

    def stop(self) -> None:
        self._watcher.stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)
