"""Connection hygiene for the coordinator's HTTPS service: no denial of service without a certificate.

An outsider needs no certificate to open TCP connections. Left alone, each one that never starts TLS holds
a file descriptor for asyncio's default 60 s handshake timeout, so a flood of idle connections exhausts
the coordinator's descriptors, legitimate sites' handshakes time out, and every failure logs a traceback.
`HygienicServer` (a uvicorn server) closes that door:

- every accepted connection is counted, per peer address and in total, before any TLS byte is read; one
  over `max_connections_per_address` or `max_connections` is closed at once (`ConnectionGate`);
- the TLS handshake must finish within `handshake_timeout_s`, or the connection is closed;
- an idle keep-alive connection is closed after `keep_alive_s` (uvicorn's `timeout_keep_alive`), an HTTP
  request's head may hold at most `max_header_bytes` (h11's incomplete-event limit), and at most
  `max_connections` requests run at once (uvicorn's `limit_concurrency`, 503 beyond);
- every request's scope carries the connection's verified client certificate (the ASGI TLS extension,
  peer.py), for the request gate to bind the certificate's site to the request's signer;
- refusals and the event loop's own errors are logged as JSON records of the `fedward` logger, at most
  `log_per_minute` of each kind a minute, the number left out carried by the next record
  (`RateLimitedLog`), so a flood cannot fill the disk.

The TLS layer is asyncio's own (`asyncio.sslproto.SSLProtocol`), created here per accepted connection
instead of by `loop.create_server(ssl=...)`, because only this way can a connection be counted and refused
before its handshake, and because uvicorn does not pass asyncio's `ssl_handshake_timeout` through.
Everything runs on the server's event loop thread, so the counts need no lock.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from fedward.coordinator.service.peer import PeerCertificateProtocol

__all__ = ["ConnectionGate", "ConnectionLimits", "HygienicServer", "RateLimitedLog"]


@dataclass(frozen=True)
class ConnectionLimits:
    """The service's connection limits (`[deployment]` in the federation file; docs/deployment.md)."""

    handshake_timeout_s: float = 5.0
    keep_alive_s: int = 5
    max_connections: int = 512
    max_connections_per_address: int = 64
    max_header_bytes: int = 16384
    log_per_minute: int = 10


class RateLimitedLog:
    """At most `per_minute` records of each event a minute; the next one let through says how many
    were left out (`suppressed`)."""

    def __init__(
        self, logger: logging.Logger, per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log, self._per_minute, self._clock = logger, per_minute, clock
        self._window: dict[str, float] = {}
        self._sent: Counter[str] = Counter()
        self._suppressed: Counter[str] = Counter()

    def warning(self, event: str, message: str, *args: object, **fields: str | int | float | None) -> bool:
        """Log `message % args` with `event` and `fields` unless this minute's quota of `event` is spent."""
        now = self._clock()
        if now - self._window.get(event, float("-inf")) >= 60.0:
            self._window[event], self._sent[event] = now, 0
        if self._sent[event] >= self._per_minute:
            self._suppressed[event] += 1
            return False
        self._sent[event] += 1
        suppressed, self._suppressed[event] = self._suppressed[event], 0
        self._log.warning(message, *args, extra={"event": event, "suppressed": suppressed, **fields})
        return True


class ConnectionGate:
    """Open connections per peer address and in total; `admit` says why one may not open, or None."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self._limits = limits
        self.total = 0
        self._by_address: Counter[str] = Counter()

    def admit(self, address: str) -> str | None:
        if self.total >= self._limits.max_connections:
            return "too_many_connections"
        if self._by_address[address] >= self._limits.max_connections_per_address:
            return "too_many_connections_from_address"
        self.total += 1
        self._by_address[address] += 1
        return None

    def release(self, address: str) -> None:
        self.total -= 1
        self._by_address[address] -= 1
        if self._by_address[address] <= 0:
            del self._by_address[address]


def _address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


class _GatedTLS(asyncio.sslproto.SSLProtocol):
    """asyncio's TLS protocol for one accepted connection, counted by the gate from its first byte."""

    def __init__(self, gate: ConnectionGate, log: RateLimitedLog, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate, self._refusals, self._counted = gate, log, ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = _address(transport)
        reason = self._gate.admit(address)
        if reason is not None:
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            self._refusals.warning(
                "connection_refused", "connection refused: %s", reason, reason=reason, peer=address
            )
            return
        self._counted = address
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._gate.release(self._counted)
            self._counted = ""
        super().connection_lost(exc)


class HygienicServer(uvicorn.Server):
    """uvicorn serving over TLS with `limits`: the listening socket's connections go through a
    `ConnectionGate` and a handshake deadline; the loop's errors are logged, rate-limited."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        context: ssl.SSLContext,
        limits: ConnectionLimits,
        logger: logging.Logger,
    ) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                http=PeerCertificateProtocol,  # h11, the client certificate in the scope
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_keep_alive=limits.keep_alive_s,
                limit_concurrency=limits.max_connections,
                h11_max_incomplete_event_size=limits.max_header_bytes,
            )
        )
        self._context, self._limits = context, limits
        self.gate = ConnectionGate(limits)
        self.log = RateLimitedLog(logger, limits.log_per_minute)

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose, when asked for port 0)."""
        sockets = self.servers[0].sockets if self.servers else ()
        return int(sockets[0].getsockname()[1]) if sockets else self.config.port

    async def startup(self, sockets: list[Any] | None = None) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_error)
        original = loop.create_server

        async def create_server(factory: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("ssl", None)  # the TLS layer is added per connection, by `_accept`
            return await original(lambda: self._accept(loop, factory), *args, **kwargs)

        loop.create_server = create_server  # type: ignore[method-assign,assignment]
        try:
            await super().startup(sockets)
        finally:
            del loop.create_server  # back to the class's method

    def _accept(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], Any]) -> _GatedTLS:
        return _GatedTLS(
            self.gate,
            self.log,
            loop,
            factory(),
            self._context,
            None,
            server_side=True,
            ssl_handshake_timeout=self._limits.handshake_timeout_s,
        )

    def _loop_error(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        self.log.warning(
            "event_loop_error",
            "event loop error: %s",
            context.get("message", ""),
            error=repr(error)[:300] if error is not None else None,
        )
