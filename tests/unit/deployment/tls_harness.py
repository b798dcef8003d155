"""A one-connection mutual-TLS server on loopback, in a thread, for the certificate tests: the server's
handshake decides, and the test sees that decision and what the client received.

With TLS 1.3 a client finishes its side of the handshake before the server has checked the client's
certificate, so a refusal shows on the client only as an alert on its first read; the server's own
outcome is the one to assert on.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Outcome", "client_context", "handshake", "server_context"]

_TIMEOUT = 2.0


@dataclass
class Outcome:
    accepted: bool  # the server completed the handshake
    server_error: str  # why not, when it did not
    peer: str  # the client certificate's common name, as the server saw it
    received: bytes  # what the client read (b"ok" after an accepted handshake)


def server_context(ca: Path, certificate: Path, key: Path, crl: Path | None) -> ssl.SSLContext:
    """The coordinator's side: a client certificate from `ca` required; with `crl`, checked against it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=ca)
    if crl is not None:
        context.load_verify_locations(cafile=crl)  # a PEM CRL loads like a CA file
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def client_context(ca: Path, certificate: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A site's side: the server must present a certificate from `ca` for the host name it dials."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=ca)
    if certificate is not None:
        context.load_cert_chain(certificate, key)
    return context


def _serve(listener: socket.socket, context: ssl.SSLContext, outcome: Outcome) -> None:
    try:
        conn, _ = listener.accept()
    except OSError as exc:
        outcome.server_error = f"accept: {exc}"
        return
    with conn:
        conn.settimeout(_TIMEOUT)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert() or {}
                names = [
                    value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"
                ]
                outcome.accepted, outcome.peer = True, ",".join(names)
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            outcome.server_error = str(exc)


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str = "127.0.0.1") -> Outcome:
    """Connect once with `client` to a fresh server using `server`; both sides' view of the handshake."""
    outcome = Outcome(False, "", "", b"")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(_TIMEOUT)
        thread = threading.Thread(target=_serve, args=(listener, server, outcome), daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname(), timeout=_TIMEOUT) as raw,
                client.wrap_socket(raw, server_hostname=hostname) as tls,
            ):
                outcome.received = tls.recv(2)
        except (ssl.SSLError, OSError):
            pass
        thread.join(_TIMEOUT * 2)
    assert not thread.is_alive(), "the TLS server thread did not finish"
    return outcome
