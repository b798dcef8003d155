"""The coordinator's HTTP API (FastAPI): sites poll for tasks, fetch and upload blobs, and post replies.

Everything a site sends is hostile until proven otherwise. `RequestGate` (gate.py) bounds every body
and checks the request signature before any route parses a byte of it; routes then validate bodies
against the wire schemas (fedward.transport.wire) and refuse, with a 4xx and a JSON `detail`, anything
that names another site's task, upload or blob, replays a reply, or points at a blob that never arrived.
JSON bodies are parsed by `parse_strict` (fedward.transport.wire) from the very bytes the gate checked the
signature over: an object with a duplicate key is refused (400, `duplicate_key`) and types are strict
(422, `malformed`: no "1" for 1, no 1.0 for an integer). Uploads are bounded by the site's open tasks,
a per-site quota and an expiry (service/uploads.py).
Every refusal is counted in the metrics, recorded in the state store, and logged as one structured line;
a refused request changes nothing else. The deeper checks of an update (package signature, round,
model hash) belong to the round loop, which reads the replies this API stores.

Endpoints (all signed except health and metrics, which mutual TLS alone protects):
GET /v1/tasks/next?wait=S, GET /v1/blobs/{sha256}, POST /v1/uploads, PUT|GET /v1/uploads/{sha256},
POST /v1/replies, GET /v1/health, GET /metrics.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, BinaryIO, TypeVar

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from fedward.coordinator.service.context import Problem, Refusal, ServiceContext
from fedward.coordinator.service.gate import BODY_SCOPE_KEY, SITE_SCOPE_KEY, RequestGate
from fedward.coordinator.service.metrics import METRICS_CONTENT_TYPE
from fedward.coordinator.service.replies import accept_reply
from fedward.coordinator.service.uploads import open_upload
from fedward.coordinator.state.blobs import UploadError, UploadStatus
from fedward.transport.signing import HEADER_NONCE, HEADER_SIGNATURE, HEADER_SITE, HEADER_TIME
from fedward.transport.wire import (
    API_PREFIX,
    DuplicateKeyError,
    NextTask,
    ReplyMessage,
    TaskMessage,
    UploadStart,
    UploadState,
    parse_strict,
)

__all__ = ["Health", "ReplyAccepted", "ServiceContext", "create_app"]

_SHA256 = r"^[0-9a-f]{64}$"
_POLL_THREADS = 256  # sites long-polling at once; more wait their turn
_HTTP_REASONS = {404: "not_found", 405: "method_not_allowed"}
_READ_BYTES = 1 << 20  # a blob download is streamed in pieces of this size
_JSON_BODIES: tuple[type[BaseModel], ...] = (UploadStart, ReplyMessage)  # parsed by `_strict_body`
_M = TypeVar("_M", bound=BaseModel)


class Health(BaseModel):
    state: str
    round: int


class ReplyAccepted(BaseModel):
    """A reply is stored (`duplicate`: it had been stored before, by an earlier copy of this request)."""

    accepted: bool
    duplicate: bool = False


Responses = dict[int | str, dict[str, Any]]
_GATE = {
    400: "A JSON object in the body names a key twice, or a malformed Content-Length",
    401: "Unsigned, malformed, stale or replayed request, or a bad signature",
    403: "The site is not admitted by the roster, or is revoked, or acts for another site",
    413: "Body larger than the limit",
    422: "The request does not match the schema",
}


def _signed(problems: Mapping[int, str] | None = None, ok: dict[str, Any] | None = None) -> Responses:
    """The OpenAPI responses of a signed route: the gate's refusals, the route's own, its own 200."""
    codes: Responses = {
        code: {"model": Problem, "description": text} for code, text in {**_GATE, **(problems or {})}.items()
    }
    if ok is not None:
        codes[200] = ok
    return codes


def _signer(
    request: Request,
    site: Annotated[str, Header(alias=HEADER_SITE, description="The signing site's name")],
    time: Annotated[str, Header(alias=HEADER_TIME, description="Unix time of signing (integer seconds)")],
    nonce: Annotated[str, Header(alias=HEADER_NONCE, description="32 random hex digits, never reused")],
    signature: Annotated[str, Header(alias=HEADER_SIGNATURE, description="Ed25519 signature, base64url")],
) -> str:
    """The site that signed this request, as verified by the gate; documents the headers in OpenAPI."""
    verified = request.scope.get(SITE_SCOPE_KEY)
    if not isinstance(verified, str) or verified != site:  # the gate did not run: fail closed
        raise Refusal(401, "missing", "the request signature was not checked", site=None)
    return verified


Signer = Annotated[str, Depends(_signer)]


def _strict_body(model: type[_M]) -> Callable[[Request], Awaitable[_M]]:
    """A dependency that parses the JSON body the gate read (and checked the signature over) as `model`:
    strict types, no duplicate keys. FastAPI's own body parsing would coerce "1" to 1."""

    async def parse(request: Request) -> _M:
        data = request.scope.get(BODY_SCOPE_KEY)
        if not isinstance(data, bytes):
            data = await request.body()
        site = request.scope.get(SITE_SCOPE_KEY)
        try:
            return await run_in_threadpool(parse_strict, model, data)
        except DuplicateKeyError as exc:
            raise Refusal(400, "duplicate_key", f"invalid request: body: {exc}", site=site) from None
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]  # as FastAPI's own say
            raise Refusal(422, "malformed", _describe(errors), site=site) from None

    return parse


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses `model` itself (`_strict_body`)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _add_body_schemas(app: FastAPI) -> None:
    """Put the models `_strict_body` parses into the OpenAPI components (FastAPI only adds its own)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in _JSON_BODIES:
            own = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, nested in own.pop("$defs", {}).items():
                components.setdefault(name, nested)
            components[model.__name__] = own
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


Sha256 = Annotated[str, Path(pattern=_SHA256, description="SHA-256 of the blob, lowercase hex")]


def create_app(ctx: ServiceContext) -> FastAPI:
    """The coordinator service's ASGI application over `ctx` (state store, blobs, board, metrics)."""
    app = FastAPI(
        title="fedward coordinator",
        version="1",
        docs_url=None,
        redoc_url=None,
        description="Every /v1 call except health is signed with the site's Ed25519 key "
        "(fedward.transport.signing); all are behind mutual TLS.",
    )
    app.add_middleware(RequestGate, ctx=ctx)
    _add_error_handlers(app, ctx)
    _add_task_routes(app, ctx)
    _add_upload_routes(app, ctx)
    _add_reply_routes(app, ctx)
    _add_open_routes(app, ctx)
    _add_body_schemas(app)
    return app


def _add_error_handlers(app: FastAPI, ctx: ServiceContext) -> None:
    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        if exc.site is None:
            exc.site = request.scope.get(SITE_SCOPE_KEY)
        await run_in_threadpool(ctx.refuse, exc, request.url.path)
        return JSONResponse(exc.problem().model_dump(exclude_none=True), status_code=exc.status)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        site = request.scope.get(SITE_SCOPE_KEY)
        return await refused(request, Refusal(422, "malformed", _describe(exc.errors()), site=site))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        site = request.scope.get(SITE_SCOPE_KEY)
        if exc.status_code == 400:  # FastAPI could not read the body at all (not UTF-8, say)
            return await refused(
                request, Refusal(422, "malformed", f"invalid request: body: {exc.detail}", site=site)
            )
        reason = _HTTP_REASONS.get(exc.status_code, f"http_{exc.status_code}")
        response = await refused(request, Refusal(exc.status_code, reason, str(exc.detail), site=site))
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(Refusal, refused)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _describe(errors: Any) -> str:
    """A one-line summary of pydantic's validation errors: where and what, never the rejected input."""
    items = list(errors) if isinstance(errors, list | tuple) else []
    parts = []
    for error in items[:5]:
        loc = ".".join(str(p)[:40] for p in error.get("loc", ())) if isinstance(error, dict) else "?"
        msg = error.get("msg", "invalid") if isinstance(error, dict) else str(error)
        parts.append(f"{loc}: {msg}")
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    return "invalid request: " + ("; ".join(parts) or "unreadable") + more


def _add_task_routes(app: FastAPI, ctx: ServiceContext) -> None:
    wait_doc = f"Seconds to wait for a task (long poll), at most {ctx.poll_seconds:g}"
    Wait = Annotated[float, Query(ge=0, le=ctx.poll_seconds, description=wait_doc)]
    # long polls wait in threads of their own, so that many waiting sites never hold up other requests
    polls = ThreadPoolExecutor(max_workers=_POLL_THREADS, thread_name_prefix="fedward-poll")

    @app.get(f"{API_PREFIX}/tasks/next", response_model=NextTask, responses=_signed())
    async def next_task(site: Signer, wait: Wait = 0.0) -> NextTask:
        """The site's oldest open task; waits up to `wait` s for one; `finished` when the run is over."""
        return await asyncio.get_running_loop().run_in_executor(polls, _next_task, ctx, site, wait)

    @app.get(
        f"{API_PREFIX}/blobs/{{sha256}}",
        response_class=StreamingResponse,
        responses=_signed(
            {404: "No open task of this site names this blob"},
            ok={"content": {"application/octet-stream": {}}, "description": "The blob's bytes"},
        ),
    )
    def blob(site: Signer, sha256: Sha256) -> StreamingResponse:
        """The bytes of a blob one of the site's open tasks names (parameters or context)."""
        if not _site_may_read(ctx, site, sha256):
            raise Refusal(
                404, "unknown_blob", f"no open task of site {site!r} names blob {sha256}", site=site
            )
        try:
            size, handle = ctx.blobs.size(sha256), ctx.blobs.path(sha256).open("rb")
        except (KeyError, FileNotFoundError):
            raise Refusal(404, "unknown_blob", f"blob {sha256} is not stored", site=site) from None
        return StreamingResponse(
            _pieces(handle), media_type="application/octet-stream", headers={"Content-Length": str(size)}
        )


def _next_task(ctx: ServiceContext, site: str, wait: float) -> NextTask:
    """Long poll: re-read the store after every wake-up of the board until a task or the deadline."""
    ctx.store.seen(site, ctx.utc())
    deadline = time.monotonic() + wait
    while True:
        version = ctx.board.version
        if ctx.store.meta("state") in ("finished", "failed"):  # either way, the site's work is over
            _told_finished(ctx, site)
            return NextTask(state="finished")
        tasks = ctx.store.open_tasks(site)
        if tasks:
            return NextTask(state="task", task=TaskMessage.model_validate_json(tasks[0].body))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return NextTask(state="idle")
        ctx.board.wait(version, remaining)


def _told_finished(ctx: ServiceContext, site: str) -> None:
    """Note that `site` has learnt the run is over: the coordinator lingers until every site has."""
    ctx.store.set_meta(f"told_finished/{site}", ctx.utc())
    ctx.board.notify()


def _site_may_read(ctx: ServiceContext, site: str, sha256: str) -> bool:
    """True if one of the site's open tasks names the blob: a site never fetches another site's bytes."""
    for record in ctx.store.open_tasks(site):
        task = TaskMessage.model_validate_json(record.body)
        if any(ref is not None and ref.sha256 == sha256 for ref in (task.parameters, task.context)):
            return True
    return False


def _pieces(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while piece := handle.read(_READ_BYTES):
            yield piece


def _state(status: UploadStatus) -> UploadState:
    return UploadState(sha256=status.sha256, size=status.size, offset=status.offset, complete=status.complete)


def _upload_refusal(exc: UploadError, site: str, sha256: str) -> Refusal:
    """409 naming the offset the coordinator holds, so the site resends from there."""
    return Refusal(409, "upload_conflict", f"upload {sha256}: {exc}", site=site, offset=exc.offset)


def _add_upload_routes(app: FastAPI, ctx: ServiceContext) -> None:
    conflict = {409: "Wrong offset (the body names the right one) or a conflicting upload"}
    unknown = {404: "This site has no upload of this blob"}
    octets = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

    @app.post(
        f"{API_PREFIX}/uploads",
        response_model=UploadState,
        responses=_signed(
            {
                **conflict,
                409: "Wrong size for an upload already begun, or the site has no open task to answer",
                413: "Over the update limit, or over what a reply to the site's open task may be",
                429: "The site's quota of partial uploads (count or bytes) is used up; retry later",
            }
        ),
        openapi_extra=_json_body(UploadStart),
    )
    def start_upload(
        site: Signer, start: Annotated[UploadStart, Depends(_strict_body(UploadStart))]
    ) -> UploadState:
        """Announce (or re-announce, to resume) an upload for an open task; the state says how many
        bytes are held. Bounded by the site's open tasks, a quota and an expiry (service/uploads.py)."""
        try:
            return _state(open_upload(ctx, site, start.sha256, start.size))
        except UploadError as exc:
            raise _upload_refusal(exc, site, start.sha256) from None

    @app.put(
        f"{API_PREFIX}/uploads/{{sha256}}",
        response_model=UploadState,
        responses=_signed({**conflict, **unknown}),
        openapi_extra={"requestBody": {"required": True, "content": octets}},
    )
    async def put_chunk(
        request: Request, site: Signer, sha256: Sha256, offset: Annotated[int, Query(ge=0, le=2**53)]
    ) -> UploadState:
        """Write one chunk at `offset` (raw bytes); the upload completes when its hash checks out."""
        data = request.scope.get(BODY_SCOPE_KEY)  # the bytes the gate read and checked the signature on
        if not isinstance(data, bytes):
            data = await request.body()
        return await run_in_threadpool(_write_chunk, ctx, site, sha256, offset, data)

    @app.get(f"{API_PREFIX}/uploads/{{sha256}}", response_model=UploadState, responses=_signed(unknown))
    def upload_state(site: Signer, sha256: Sha256) -> UploadState:
        """How many bytes of this site's upload the coordinator holds."""
        status = ctx.blobs.upload_status(site, sha256)
        if status is None:
            raise Refusal(
                404, "unknown_upload", f"site {site!r} has no upload {sha256}", site=site, record=False
            )
        return _state(status)


def _write_chunk(ctx: ServiceContext, site: str, sha256: str, offset: int, data: bytes) -> UploadState:
    if ctx.blobs.upload_status(site, sha256) is None:
        raise Refusal(404, "unknown_upload", f"site {site!r} has not started upload {sha256}", site=site)
    try:
        return _state(ctx.blobs.write_chunk(site, sha256, offset, data, now=ctx.now()))
    except UploadError as exc:
        raise _upload_refusal(exc, site, sha256) from None


def _add_reply_routes(app: FastAPI, ctx: ServiceContext) -> None:
    @app.post(
        f"{API_PREFIX}/replies",
        response_model=ReplyAccepted,
        responses=_signed(
            {
                400: "A key named twice, or the reply names parameters that were not uploaded",
                404: "No such task",
                409: "The task already has another reply, or was closed by a timeout",
            }
        ),
        openapi_extra=_json_body(ReplyMessage),
    )
    def post_reply(
        site: Signer, message: Annotated[ReplyMessage, Depends(_strict_body(ReplyMessage))]
    ) -> ReplyAccepted:
        """Store the site's reply to its task (the first one wins; an identical retry is accepted)."""
        duplicate = accept_reply(ctx, site, message)
        return ReplyAccepted(accepted=True, duplicate=duplicate)


def _add_open_routes(app: FastAPI, ctx: ServiceContext) -> None:
    @app.get(f"{API_PREFIX}/health", response_model=Health)
    def health() -> Health:
        """The run's state and round; unsigned (mutual TLS still applies)."""
        return Health(state=ctx.store.meta("state") or "starting", round=ctx.current_round())

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    )
    def metrics() -> Response:
        """Prometheus metrics of this coordinator (text exposition format)."""
        ctx.metrics.current_round.set(ctx.current_round())
        ctx.metrics.sites_seen.set(len(ctx.store.last_seen()))
        return Response(ctx.metrics.render(), media_type=METRICS_CONTENT_TYPE)
