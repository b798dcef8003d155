"""The site's HTTPS client to the coordinator service: signed requests, resumable uploads, retries.

A site only ever connects out. Every request under /v1 (except health) carries the headers of
`fedward.transport.signing.sign_request`, computed over the exact path, query and body bytes sent, by
the key of the site its TLS client certificate names (the coordinator refuses any other signer).
Parameters travel as
content-addressed blobs: a download is checked against its SHA-256 and size, and an upload is sent in
chunks (5 MiB by default) from whatever offset the coordinator says it holds, so a connection cut
mid-upload resumes without sending again the bytes the coordinator already has. The chunks' own hashes,
which their signatures cover, are computed on a worker thread while the whole blob is hashed and while
earlier chunks are in flight (hashlib lets go of the GIL).

Failures come in two kinds. Transient ones (connection refused or reset, timeouts, HTTP 408/425/429 and
5xx, a blob that does not match its hash) are retried forever with capped exponential backoff and
jitter, unless `give_up_after_s` is set; permanent ones raise at once: 401/403 as `SiteRefused` (a
revoked or unknown site: a person must act) and any other 4xx as `ProtocolError` (a bug or a version
mismatch). Time, sleep and the jitter's randomness are passed in so tests run instantly.
"""

from __future__ import annotations

import hashlib
import logging
import random
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from fedward.crypto.signatures import SigningKey
from fedward.errors import UserError
from fedward.transport.signing import sign_request
from fedward.transport.tls import SiteRefused, client_ssl_context, tls_refusal
from fedward.transport.wire import (
    API_PREFIX,
    BlobRef,
    DuplicateKeyError,
    NextTask,
    ReplyMessage,
    UploadStart,
    UploadState,
    parse_strict,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "Backoff",
    "ClientStats",
    "CoordinatorClient",
    "CoordinatorHealth",
    "CoordinatorUnreachable",
    "PostOutcome",
    "ProtocolError",
    "SiteRefused",
    "TaskClosed",
    "client_ssl_context",
]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 5 << 20
_JSON = "application/json"
_OCTETS = "application/octet-stream"
_M = TypeVar("_M", bound=BaseModel)
_R = TypeVar("_R")
PostOutcome = Literal["accepted", "duplicate", "closed"]


class ProtocolError(Exception):
    """The coordinator answered something this client cannot use (a 4xx other than 401/403, bad JSON)."""


class TaskClosed(ProtocolError):
    """The coordinator will not take an upload: the site has no open task (it timed out meanwhile)."""


class CoordinatorUnreachable(UserError):
    """Transient failures lasted longer than the client's `give_up_after_s`."""


class _Transient(Exception):
    """One attempt failed in a way worth retrying; the message says why."""


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: retry n waits min(max_s, initial_s * factor**n) * U[½, 1]."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        """The pause before retry number `attempt` (0-based); never above `max_s`."""
        ceiling = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        return ceiling * (0.5 + 0.5 * self.rng.random())


@dataclass
class ClientStats:
    """What the client has done so far, for the site's run summary and metrics."""

    retries: int = 0
    uploads_resumed: int = 0  # resumptions after a transient failure mid-upload
    bytes_sent: int = 0  # chunk bytes put on the wire, retransmissions included
    bytes_received: int = 0


class CoordinatorHealth(BaseModel):
    """GET /v1/health: the coordinator's state and round (other fields are ignored)."""

    state: str
    round: int


def _detail(response: httpx.Response) -> str:
    """The server's explanation: FastAPI's JSON `detail` when there is one, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail if detail is not None else body)[:500]


def _reason(response: httpx.Response) -> str | None:
    """The refusal's short `reason` code, if the answer has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else None


def _parse(model: type[_M], response: httpx.Response) -> _M:
    """The answer as `model`, parsed as strictly as the coordinator parses requests (`parse_strict`)."""
    try:
        return parse_strict(model, response.content)
    except (ValidationError, DuplicateKeyError) as exc:
        raise ProtocolError(f"{response.request.url.path}: unexpected answer: {exc}") from None


@dataclass(frozen=True)
class _Call:
    """What one request is: method, path under /v1, query, body, and how to treat its answer."""

    method: str
    path: str
    params: Mapping[str, str | int] | None = None
    body: bytes = b""
    content_type: str | None = None
    allow: Collection[int] = ()  # statuses the caller handles itself (e.g. 409)
    timeout: httpx.Timeout | None = None
    signed: bool = True
    stream: bool = False
    body_sha256: str | None = None  # the body's SHA-256 hex digest, when already known


def _sha256_hex(data: memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


class _ChunkDigests:
    """The SHA-256 hex digests of `data`'s chunks at multiples of `chunk_bytes`, computed in order on one
    worker thread, so they are ready (or nearly) when each chunk is signed. A chunk at another offset (a
    resume from an offset the coordinator named) has none and is hashed when signed, as before."""

    def __init__(self, data: bytes, chunk_bytes: int) -> None:
        self._size, self._chunk_bytes = len(data), chunk_bytes
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedward-chunk-sha256")
        view = memoryview(data)
        self._digests: dict[int, Future[str]] = {
            offset: self._pool.submit(_sha256_hex, view[offset : offset + chunk_bytes])
            for offset in range(0, len(data), chunk_bytes)
        }

    def get(self, offset: int, length: int) -> str | None:
        """The digest of `data[offset : offset + length]`, if that is one of the chunks hashed."""
        digest = self._digests.get(offset)
        if digest is None or length != min(self._chunk_bytes, self._size - offset):
            return None
        return digest.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _is_transient(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


class CoordinatorClient:
    """One site's connection to the coordinator service. Not thread-safe: a site does one task at a time."""

    def __init__(
        self,
        base_url: str,
        site: str,
        federation: str,
        key: SigningKey,
        ssl_context: ssl.SSLContext | None = None,
        *,
        http: httpx.Client | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        give_up_after_s: float | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        self.base_url = base_url.rstrip("/")
        self.site = site
        self.federation = federation
        self._key = key
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(verify=ssl_context or True)
        self._chunk_bytes = chunk_bytes
        self._backoff = backoff if backoff is not None else Backoff()
        self._clock = clock
        self._give_up_after_s = give_up_after_s
        self._timeout_s = timeout_s
        self._timeout = httpx.Timeout(timeout_s, connect=10.0)
        self.stats = ClientStats()

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- the API -------------------------------------------------------------------------------------

    def health(self) -> CoordinatorHealth:
        """GET /v1/health (unsigned), retried like any other request."""
        return _parse(CoordinatorHealth, self._request(_Call("GET", "/health", signed=False)))

    def next_task(self, wait: float) -> NextTask:
        """The next task for this site, waiting up to `wait` seconds on the coordinator for one."""
        timeout = httpx.Timeout(self._timeout_s, connect=10.0, read=max(self._timeout_s, wait + 30.0))
        response = self._request(_Call("GET", "/tasks/next", {"wait": f"{wait:g}"}, timeout=timeout))
        return _parse(NextTask, response)

    def download(self, ref: BlobRef) -> bytes:
        """The blob's bytes, streamed and checked against its SHA-256 and size; a mismatch is retried."""
        return self._retrying(f"download {ref.sha256[:12]}", lambda: self._fetch(ref))

    def upload(self, data: bytes) -> BlobRef:
        """Upload `data` as a blob in chunks, resuming from the coordinator's offset after any failure."""
        digests = _ChunkDigests(data, self._chunk_bytes)  # meanwhile, on a worker thread
        try:
            ref = BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            state = self._upload_state(ref)
            started, attempt = self._clock(), 0
            while not state.complete:
                try:
                    state = self._put_chunk(ref, data, state.offset, digests)
                    started, attempt = self._clock(), 0  # progress: the give-up clock starts again
                except _Transient as exc:
                    self._pause(attempt, started, f"upload {ref.sha256[:12]}", str(exc))
                    attempt += 1
                    state = self._upload_state(ref)  # ask what arrived; never resend what it holds
                    self.stats.uploads_resumed += 1
        finally:
            digests.close()
        return ref

    def send_reply(self, message: ReplyMessage, parameters: bytes) -> PostOutcome:
        """Upload the reply's parameters (if it names any), then post it; "closed" also when the
        coordinator closed the task (a timeout) before the upload could begin (`TaskClosed`)."""
        try:
            if message.parameters is not None:
                self.upload(parameters)
            return self.post_reply(message)
        except TaskClosed as exc:
            logger.info(
                "reply not needed: task closed", extra={"task_id": message.task_id, "detail": str(exc)}
            )
            return "closed"

    def post_reply(self, message: ReplyMessage) -> PostOutcome:
        """POST the reply (its parameters uploaded first): accepted, a duplicate of ours, or task closed."""
        body = message.model_dump_json().encode()
        response = self._request(_Call("POST", "/replies", body=body, content_type=_JSON, allow={409}))
        if response.status_code == 409:
            logger.info(
                "reply not needed: task closed",
                extra={"task_id": message.task_id, "detail": _detail(response)},
            )
            return "closed"
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return "duplicate" if isinstance(answer, dict) and answer.get("duplicate") else "accepted"

    # -- uploads -------------------------------------------------------------------------------------

    def _upload_state(self, ref: BlobRef) -> UploadState:
        """POST /v1/uploads: announce the upload (idempotent) and learn how much the coordinator holds."""
        body = UploadStart(sha256=ref.sha256, size=ref.size).model_dump_json().encode()
        call = _Call("POST", "/uploads", body=body, content_type=_JSON, allow={409})
        response = self._request(call)
        if response.status_code == 409:
            if _reason(response) == "no_open_task":
                raise TaskClosed(f"upload {ref.sha256}: {_detail(response)}")
            raise self._permanent(call, response)
        state = _parse(UploadState, response)
        if (state.sha256, state.size) != (ref.sha256, ref.size) or state.offset > ref.size:
            raise ProtocolError(f"upload {ref.sha256}: the coordinator answered for another upload: {state}")
        return state

    def _put_chunk(self, ref: BlobRef, data: bytes, offset: int, digests: _ChunkDigests) -> UploadState:
        """PUT the chunk at `offset`; a 409 names the offset the coordinator expects instead."""
        chunk = data[offset : offset + self._chunk_bytes]
        self.stats.bytes_sent += len(chunk)
        put = _Call(
            "PUT", f"/uploads/{ref.sha256}", {"offset": offset}, chunk, _OCTETS, allow={409},
            body_sha256=digests.get(offset, len(chunk)),
        )  # fmt: skip
        response = self._try(put)
        if response.status_code == 409:
            return self._conflict_state(ref, offset, response)
        state = _parse(UploadState, response)
        if not state.complete and state.offset <= offset:
            raise ProtocolError(f"upload {ref.sha256}: no progress at offset {offset} of {ref.size}")
        return state

    def _conflict_state(self, ref: BlobRef, offset: int, response: httpx.Response) -> UploadState:
        try:
            expected = int(response.json()["offset"])
        except (ValueError, KeyError, TypeError):
            raise ProtocolError(f"upload {ref.sha256}: 409 without an offset: {_detail(response)}") from None
        if expected == offset or not 0 <= expected <= ref.size:
            raise ProtocolError(f"upload {ref.sha256}: refused at offset {offset}: {_detail(response)}")
        logger.info("upload offset corrected", extra={"sha256": ref.sha256, "sent": offset, "held": expected})
        return UploadState(sha256=ref.sha256, size=ref.size, offset=expected, complete=False)

    def _fetch(self, ref: BlobRef) -> bytes:
        response = self._try(_Call("GET", f"/blobs/{ref.sha256}", stream=True))
        data, digest = bytearray(), hashlib.sha256()
        try:
            for piece in response.iter_bytes():
                data += piece
                digest.update(piece)
                if len(data) > ref.size:
                    raise _Transient(f"blob {ref.sha256[:12]} is longer than {ref.size} bytes")
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        finally:
            response.close()
        self.stats.bytes_received += len(data)
        if len(data) != ref.size or digest.hexdigest() != ref.sha256:
            raise _Transient(f"blob {ref.sha256[:12]} does not match its hash or size ({len(data)} bytes)")
        return bytes(data)

    # -- requests, signing and retries ---------------------------------------------------------------

    def _request(self, call: _Call) -> httpx.Response:
        """One request, retried through transient failures until it gets a usable answer."""
        return self._retrying(f"{call.method} {call.path}", lambda: self._try(call))

    def _retrying(self, what: str, attempt_once: Callable[[], _R]) -> _R:
        """`attempt_once()`, again after a backoff pause each time it fails transiently."""
        started, attempt = self._clock(), 0
        while True:
            try:
                return attempt_once()
            except _Transient as exc:
                self._pause(attempt, started, what, str(exc))
                attempt += 1

    def _try(self, call: _Call) -> httpx.Response:
        """One attempt: the response if usable, `_Transient` if worth retrying; permanent refusals raise."""
        try:
            response = self._http.send(self._build(call), stream=call.stream)
            usable = response.is_success or response.status_code in call.allow
            if call.stream and not usable:
                response.read()
        except httpx.TransportError as exc:
            refusal = tls_refusal(exc, self.site, self.base_url)
            if refusal is not None:
                raise refusal from None
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if usable:
            return response
        response.close()
        if _is_transient(response.status_code):
            raise _Transient(f"HTTP {response.status_code}: {_detail(response)}")
        raise self._permanent(call, response)

    def _build(self, call: _Call) -> httpx.Request:
        """The request, signed over the path and query exactly as they go on the wire, and the body bytes."""
        query = f"?{urlencode(call.params)}" if call.params else ""
        headers = {"content-type": call.content_type} if call.content_type else {}
        request = self._http.build_request(
            call.method,
            f"{self.base_url}{API_PREFIX}{call.path}{query}",
            content=call.body,
            headers=headers,
            timeout=call.timeout or self._timeout,
        )
        if call.signed:
            path_and_query = request.url.raw_path.decode("ascii")
            headers = sign_request(
                self._key,
                self.site,
                self.federation,
                call.method,
                path_and_query,
                call.body,
                int(self._clock()),
                body_sha256=call.body_sha256,
            )
            request.headers.update(headers)
        return request

    def _permanent(self, call: _Call, response: httpx.Response) -> Exception:
        detail = _detail(response)
        if response.status_code in (401, 403):
            return SiteRefused(
                f"the coordinator refused site {self.site!r} ({response.status_code}): {detail}",
                where=self.base_url,
                hint="the site's key or certificate may be revoked or missing from the roster; "
                "ask the coordinator's operator",
            )
        return ProtocolError(f"{call.method} {API_PREFIX}{call.path}: HTTP {response.status_code}: {detail}")

    def _pause(self, attempt: int, started: float, what: str, reason: str) -> None:
        """Wait before the next attempt, or give up when `give_up_after_s` has passed."""
        elapsed = self._clock() - started
        if self._give_up_after_s is not None and elapsed >= self._give_up_after_s:
            raise CoordinatorUnreachable(
                f"{what}: no usable answer for {elapsed:.0f} s ({reason})",
                where=self.base_url,
                hint="check that the coordinator is running and reachable from this site",
            )
        delay = self._backoff.delay(attempt)
        self.stats.retries += 1
        logger.info(
            "retrying %s in %.2f s: %s",
            what,
            delay,
            reason,
            extra={"operation": what, "attempt": attempt + 1, "delay_s": delay, "reason": reason},
        )
        self._backoff.sleep(delay)
