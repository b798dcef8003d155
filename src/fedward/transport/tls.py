"""Mutual TLS on the site's side: its TLS context, and which TLS failures no retry can fix.

When the coordinator refuses a site's certificate at the handshake (revoked, from another CA, none
sent), TLS says why in an alert; the site must stop and tell a person (exit 2) instead of retrying as if
the coordinator were down. The same holds when the coordinator's own certificate does not verify against
the kit's CA: that is a wrong address or a wrong coordinator, not an outage.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from fedward.errors import UserError

__all__ = ["SiteRefused", "client_ssl_context", "tls_refusal"]


class SiteRefused(UserError):
    """The coordinator refused this site (HTTP 401/403, or its certificate at the TLS handshake)."""


_REFUSED_ALERTS = frozenset(
    {
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    }
)


def _ssl_reason(exc: BaseException) -> str | None:
    """The OpenSSL reason of the `ssl.SSLError` behind a transport error (httpx wraps it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return str(current.reason) if current.reason else None
        current = current.__cause__ or current.__context__
    return None


def client_ssl_context(ca_pem: Path, cert_pem: Path, key_pem: Path) -> ssl.SSLContext:
    """A mutual-TLS context: trust only the federation CA, present this site's certificate, TLS >= 1.2."""
    for path in (ca_pem, cert_pem, key_pem):
        if not path.is_file():
            raise UserError("TLS file not found", where=path, hint="use the kit from `fedward provision`")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_pem))
        context.load_cert_chain(str(cert_pem), str(key_pem))
    except ssl.SSLError as exc:
        raise UserError(f"cannot load the site's TLS files: {exc}", where=cert_pem.parent) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def tls_refusal(exc: BaseException, site: str, coordinator: str) -> UserError | None:
    """The user error for a transport failure caused by a TLS alert that retrying cannot fix, or None."""
    reason = _ssl_reason(exc)
    if reason in _REFUSED_ALERTS:
        return SiteRefused(
            f"the coordinator refused site {site!r}'s certificate at the TLS handshake ({reason})",
            where=coordinator,
            hint="the site's certificate may be revoked or from another federation; "
            "ask the coordinator's operator",
        )
    if reason == "CERTIFICATE_VERIFY_FAILED":
        return UserError(
            f"the coordinator's certificate does not verify against this kit's CA ({exc})",
            where=coordinator,
            hint="is the kit's coordinator URL right, and is this the federation's coordinator?",
        )
    return None
