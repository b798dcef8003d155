"""The TLS client certificate of a connection, handed to the application in the ASGI scope.

uvicorn does not pass the peer certificate to the application. `PeerCertificateProtocol` (uvicorn's h11
protocol) reads it once per connection, when the TLS handshake has finished and the certificate has been
verified against the federation's CA and CRL (server.py), and puts it into the scope of every request
on that connection as the ASGI TLS extension (`scope["extensions"]["tls"]`, the ASGI spec's "TLS"
extension): `client_cert_chain` holds the leaf certificate's PEM and `client_cert_name` its subject
(RFC 4514). The extension is written by the server over whatever the scope held, per connection, so
nothing a client sends can set it.

`certificate_site` reads back the site a certificate names: fedward's PKI issues a site's client
certificate with the site name as the subject's only common name (deployment/pki.py), so the request
gate can require that name to equal the site that signed the request (gate.py).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["PeerCertificateProtocol", "certificate_site", "tls_extension"]

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection's `transport`, or None when it is not TLS."""
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        certificate = x509.load_der_x509_certificate(der)
        chain = [certificate.public_bytes(Encoding.PEM).decode("ascii")]
        name = certificate.subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


def certificate_site(scope: Any) -> str | None:
    """The site named by the verified client certificate of the connection `scope` came over (the
    subject's one common name), or None when the scope carries no client certificate or its subject
    has not exactly one common name."""
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls") if isinstance(extensions, dict) else None
    chain = tls.get("client_cert_chain") if isinstance(tls, dict) else None
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        return None
    return _site_of(chain[0])


@functools.lru_cache(maxsize=1024)
def _site_of(pem: str) -> str | None:
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeError):
        return None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str):
        return None
    return names[0].value


class PeerCertificateProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, giving every request of the connection the ASGI TLS extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = tls_extension(transport)
        if tls is None:
            return
        app = self.app

        async def with_certificate(scope: Any, receive: Any, send: Any) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}
            await app(scope, receive, send)

        self.app = with_certificate
