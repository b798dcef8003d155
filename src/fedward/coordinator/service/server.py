"""Serving the coordinator's API over HTTPS with mutual TLS (uvicorn), beside the round loop.

The TLS context requires a client certificate issued by the federation's CA and checks the CA's
certificate revocation list for it, so a site without a certificate, with one from another CA, or with a
revoked one is refused during the handshake, before any request reaches the application. The CRL file is
re-read when it changes (`fedward revoke` rewrites it), so a revocation takes effect for new connections
without a restart.

uvicorn runs in a background thread with its own event loop; the round loop keeps the main thread.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from fedward.errors import UserError

__all__ = ["BackgroundServer", "server_ssl_context"]

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


class _CrlWatcher(threading.Thread):
    """Loads the CRL again whenever its file changes. Revocations only grow, and OpenSSL keeps every
    CRL it was given, so loading the new one on top is enough."""

    def __init__(self, context: ssl.SSLContext, crl: Path, every_s: float = 1.0) -> None:
        super().__init__(name="fedward-crl", daemon=True)
        self._context, self._crl, self._every = context, crl, every_s
        self._stop = threading.Event()
        self._mtime = crl.stat().st_mtime_ns

    def run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                mtime = self._crl.stat().st_mtime_ns
                if mtime != self._mtime:
                    self._context.load_verify_locations(cafile=self._crl)
                    self._mtime = mtime
                    log.info("certificate revocation list reloaded", extra={"event": "crl_reloaded"})
            except (OSError, ssl.SSLError) as exc:
                log.warning("cannot reload the CRL: %s", exc, extra={"event": "crl_reload_failed"})

    def stop(self) -> None:
        self._stop.set()


class BackgroundServer:
    """uvicorn serving `app` on host:port with `context`, in a daemon thread."""

    def __init__(self, app: Any, host: str, port: int, context: ssl.SSLContext, crl: Path) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_context_factory=lambda _config, _default: context,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fedward-http", daemon=True)
        self._watcher = _CrlWatcher(context, crl)
        self._where = f"{host}:{port}"

    def start(self, timeout_s: float = 30.0) -> None:
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

    def stop(self) -> None:
        self._watcher.stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)
