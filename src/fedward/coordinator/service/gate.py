"""`RequestGate`: the ASGI middleware every request passes before any route sees it.

It bounds the body (by its Content-Length, and by counting what actually arrives, so a body without a
length or with a false one is cut off at the limit too): a chunk upload may be `max_chunk_bytes`, any
other body `MAX_JSON_BYTES`. Then, for every /v1 route except health, it checks the request signature
over the exact bytes received (fedward.transport.signing) and the nonce against the state store, so a
route parses a body only after its sender is known, admitted and not replaying a captured request, and
(`bind_certificates`) only if the signer is the site its connection's TLS client certificate names
(peer.py): site A's certificate with site B's signing key is refused, 403 `certificate_mismatch`. The
verified site goes into the ASGI scope for the routes, and so does the body it read, so a route that
wants the raw bytes (a chunk upload) takes them from there instead of copying them again through
`Request.body()`. It also counts body bytes in and out and times each request per route for the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fedward.coordinator.service.context import Refusal, ServiceContext
from fedward.coordinator.service.peer import certificate_site
from fedward.transport.signing import HEADER_SITE, RequestSignatureError, SignedRequest, verify_request
from fedward.transport.wire import API_PREFIX, MAX_JSON_BYTES

__all__ = ["BODY_SCOPE_KEY", "SITE_SCOPE_KEY", "RequestGate"]

SITE_SCOPE_KEY = "fedward.site"  # where the gate leaves the verified signer in the ASGI scope
BODY_SCOPE_KEY = "fedward.body"  # where it leaves the body it read and checked (bytes)
_UNSIGNED = frozenset({f"{API_PREFIX}/health"})


class _Disconnected(Exception):
    """The client went away before its body arrived."""


class RequestGate:
    """Bounds bodies and checks signatures in front of the API (see the module docstring)."""

    def __init__(self, app: ASGIApp, ctx: ServiceContext) -> None:
        self.app, self.ctx = app, ctx
        self._purged_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self._handle(scope, receive, self._counting(scope, send))
        finally:
            route = getattr(scope.get("route"), "path", "other")
            self.ctx.metrics.request_seconds.labels(route).observe(time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        try:
            body = await _read_body(scope, headers, receive, self._limit(scope))
            self.ctx.metrics.bytes_received.inc(len(body))
            if _signed_route(scope):
                signer = await run_in_threadpool(self._authenticate, scope, headers, body)
                scope[SITE_SCOPE_KEY] = signer.site
            scope[BODY_SCOPE_KEY] = body
        except _Disconnected:
            return
        except Refusal as refusal:
            await run_in_threadpool(self.ctx.refuse, refusal, scope["path"])
            response = JSONResponse(
                refusal.problem().model_dump(exclude_none=True), status_code=refusal.status
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _limit(self, scope: Scope) -> int:
        chunk = scope["method"] == "PUT" and scope["path"].startswith(f"{API_PREFIX}/uploads/")
        return self.ctx.max_chunk_bytes if chunk else MAX_JSON_BYTES

    def _authenticate(self, scope: Scope, headers: Mapping[str, str], body: bytes) -> SignedRequest:
        """The verified signer of this request, its nonce remembered; a `Refusal` otherwise (blocking)."""
        ctx, now = self.ctx, self.ctx.now()
        claimed = _claimed(headers)
        try:
            signer = verify_request(
                headers, scope["method"], _target(scope), body, ctx.federation, ctx.site_key, now,
                ctx.signature_window_s,
            )  # fmt: skip
        except RequestSignatureError as exc:
            status = 403 if exc.reason == "unknown_site" else 401
            raise Refusal(
                status, exc.reason, f"{exc.message}{claimed}", site=_claimed_site(headers)
            ) from None
        if ctx.bind_certificates:
            _check_certificate(scope, signer.site)
        if not ctx.store.use_nonce(signer.site, signer.nonce, float(signer.time)):
            raise Refusal(401, "replay", f"nonce {signer.nonce} was used before", site=signer.site)
        if now - self._purged_at > ctx.signature_window_s:
            ctx.store.forget_nonces(now - 2 * ctx.signature_window_s)
            self._purged_at = now
        return signer

    def _counting(self, scope: Scope, send: Send) -> Send:
        """`send`, counting response body bytes of /v1 routes into `bytes_sent`."""
        if not scope["path"].startswith(f"{API_PREFIX}/"):
            return send
        counter = self.ctx.metrics.bytes_sent

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.body":
                counter.inc(len(message.get("body", b"")))
            await send(message)

        return counted


def _check_certificate(scope: Scope, signer: str) -> None:
    """A 403 `Refusal` unless the connection's client certificate names the site `signer`."""
    site = certificate_site(scope)
    if site is None:
        raise Refusal(
            403, "certificate_missing", "the connection carries no site's TLS client certificate", site=signer
        )
    if site != signer:
        raise Refusal(
            403,
            "certificate_mismatch",
            f"the request is signed by site {signer!r} but its TLS client certificate is site {site[:64]!r}",
            site=signer,
        )


def _signed_route(scope: Scope) -> bool:
    path: str = scope["path"]
    return (path == API_PREFIX or path.startswith(f"{API_PREFIX}/")) and path not in _UNSIGNED


def _headers(scope: Scope) -> dict[str, str]:
    """The request headers, names lowercased (a repeated header: the last one)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _target(scope: Scope) -> str:
    """The request target as sent: raw path (percent-encoding untouched) and query string."""
    raw: Any = scope.get("raw_path") or scope["path"].encode("utf-8")
    path = bytes(raw).decode("latin-1")
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    return f"{path}?{query}" if query else path


def _claimed_site(headers: Mapping[str, str]) -> str | None:
    value = headers.get(HEADER_SITE.lower(), "")
    return value if value.isascii() and value.isprintable() and 0 < len(value) <= 64 else None


def _claimed(headers: Mapping[str, str]) -> str:
    site = _claimed_site(headers)
    return f" (claimed site {site!r}, not verified)" if site else ""


async def _read_body(scope: Scope, headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The whole body, or a 413 `Refusal` as soon as it is known to be over `limit` bytes."""
    declared = headers.get("content-length")
    site = _claimed_site(headers)
    if declared is not None:
        if not declared.isdigit() or not declared.isascii():
            raise Refusal(400, "malformed", "Content-Length is not a number", site=site)
        if int(declared) > limit:
            raise Refusal(
                413, "too_large", f"body of {declared} bytes is over the limit of {limit}", site=site
            )
    parts: list[bytes] = []  # joined once at the end: a body that came in one piece is not copied
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        part = message.get("body", b"")
        if part:
            parts.append(part)
            received += len(part)
        if received > limit:
            raise Refusal(413, "too_large", f"body is over the limit of {limit} bytes", site=site)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 and type(parts[0]) is bytes else b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then waits on the client as before."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
