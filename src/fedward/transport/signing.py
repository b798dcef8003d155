"""Signed requests: every call a site makes to the coordinator service carries an Ed25519 signature.

Mutual TLS refuses strangers at the handshake, but the application behind the TLS terminator cannot see
which certificate a client presented, so each request also says who sent it and proves it: the site's
name, the time, a fresh random nonce and an Ed25519 signature (RFC 8032) over

    canonical_bytes(["fedward request v1", federation, METHOD, path_and_query, sha256_hex(body),
                     time, nonce, site])

in four headers. `path_and_query` is the request target exactly as it goes on the wire (the raw path and
query string, percent-encoding untouched), so neither side re-encodes anything before checking. The
federation name binds a signature to one federation, the body hash binds it to the bytes sent, and the
time bounds how long a captured request stays valid; within that window the coordinator remembers each
nonce (`StateStore.use_nonce`), so a captured request cannot be sent twice.

`verify_request` raises `RequestSignatureError` with a short reason code and returns only on success,
so a caller cannot mistake a failed check for a pass.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from fedward.core.canonical import canonical_bytes
from fedward.crypto.signatures import SignatureError, SigningKey, verify

__all__ = [
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_SITE",
    "HEADER_TIME",
    "SIGNATURE_WINDOW_S",
    "RequestSignatureError",
    "SignatureReason",
    "SignedRequest",
    "request_message",
    "sign_request",
    "verify_request",
]

HEADER_SITE = "X-Fedward-Site"
HEADER_TIME = "X-Fedward-Time"
HEADER_NONCE = "X-Fedward-Nonce"
HEADER_SIGNATURE = "X-Fedward-Signature"
SIGNATURE_WINDOW_S = 300  # how far a request's time may be from the coordinator's clock
_DOMAIN = "fedward request v1"

SignatureReason = Literal["missing", "malformed", "unknown_site", "stale", "bad_signature"]

_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # wire.SiteName
_TIME = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{86}(==)?")  # 64 bytes of base64url, padded or not


class RequestSignatureError(Exception):
    """A request's signature headers are missing, malformed, from an unknown site, stale or wrong."""

    def __init__(self, reason: SignatureReason, message: str) -> None:
        super().__init__(message)
        self.reason: SignatureReason = reason
        self.message = message


@dataclass(frozen=True)
class SignedRequest:
    """Who signed a request that verified, and the time and nonce it was signed with."""

    site: str
    nonce: str
    time: int


def request_message(
    federation: str,
    method: str,
    path_and_query: str,
    body: bytes,
    time: int,
    nonce: str,
    site: str,
    *,
    body_sha256: str | None = None,
) -> bytes:
    """The bytes a request signature covers (see the module docstring). `body_sha256`, if given, is the
    caller's own SHA-256 hex digest of exactly `body`, used instead of hashing it again."""
    digest = hashlib.sha256(body).hexdigest() if body_sha256 is None else body_sha256
    return canonical_bytes([_DOMAIN, federation, method.upper(), path_and_query, digest, time, nonce, site])


def sign_request(
    key: SigningKey,
    site: str,
    federation: str,
    method: str,
    path_and_query: str,
    body: bytes,
    now: int,
    nonce: str | None = None,
    *,
    body_sha256: str | None = None,
) -> dict[str, str]:
    """The four signature headers for one request; `nonce` is fresh from `secrets` unless given.
    `body_sha256`: the SHA-256 hex digest of `body` if the caller has it already (a wrong one makes a
    signature that does not verify)."""
    nonce = secrets.token_hex(16) if nonce is None else nonce
    message = request_message(
        federation, method, path_and_query, body, now, nonce, site, body_sha256=body_sha256
    )
    signature = base64.urlsafe_b64encode(key.sign(message)).rstrip(b"=").decode("ascii")
    return {HEADER_SITE: site, HEADER_TIME: str(now), HEADER_NONCE: nonce, HEADER_SIGNATURE: signature}


def verify_request(
    headers: Mapping[str, str],
    method: str,
    path_and_query: str,
    body: bytes,
    federation: str,
    public_key_for: Callable[[str], bytes | None],
    now: float,
    window_s: float = SIGNATURE_WINDOW_S,
) -> SignedRequest:
    """Check a request's signature headers; the signer, or `RequestSignatureError` naming what failed.

    `public_key_for` returns a site's Ed25519 public key if the roster admits the site (and its key is
    not revoked), else None. Nonce replay is the caller's check, against its own memory of nonces.
    """
    site, time_text, nonce, signature_text = _read_headers(headers)
    public = public_key_for(site)
    if public is None:
        raise RequestSignatureError(
            "unknown_site", f"site {site!r} is not admitted by the roster (or revoked)"
        )
    time = int(time_text)
    if abs(now - time) > window_s:
        raise RequestSignatureError(
            "stale", f"request time {time} is more than {window_s:g} s from the coordinator's clock"
        )
    signature = base64.urlsafe_b64decode(signature_text.rstrip("=") + "==")
    message = request_message(federation, method, path_and_query, body, time, nonce, site)
    try:
        verify(public, message, signature)
    except SignatureError:
        raise RequestSignatureError(
            "bad_signature", f"the request signature does not verify with site {site!r}'s key"
        ) from None
    return SignedRequest(site=site, nonce=nonce, time=time)


def _read_headers(headers: Mapping[str, str]) -> tuple[str, str, str, str]:
    """The four header values, present and well formed, or `RequestSignatureError`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = (HEADER_SITE, HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE)
    missing = [name for name in names if name.lower() not in lowered]
    if missing:
        raise RequestSignatureError("missing", f"unsigned request: missing header(s) {', '.join(missing)}")
    values = tuple(lowered[name.lower()] for name in names)
    for name, value, pattern in zip(names, values, (_SITE, _TIME, _NONCE, _SIGNATURE), strict=True):
        if pattern.fullmatch(value) is None:
            raise RequestSignatureError("malformed", f"header {name} is malformed")
    return values[0], values[1], values[2], values[3]
