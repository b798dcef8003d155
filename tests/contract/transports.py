"""The transports the contract suite runs against, each given the same site handlers.

`memory`: `InMemoryTransport` over the handlers as `fedward simulate` builds it (one worker: sites are
called in turn); `memory-threads`: the same with one worker per site, so that sites overlap.
`service`: the deployed path without TLS. A `ServiceTransport` journals tasks in a `MemoryStateStore`;
each handler runs in the site's own loop (`fedward.site.runner.run_site`) on a thread, talking to the
coordinator's HTTP application through `CoordinatorClient` over a `TestClient`, with signed requests,
blob downloads and chunked uploads, as `fedward site run` does.

`Connected.send_again(task, reply)` is a site's second answer to a task, sent after its first: over the
service it is sent like any reply (the outcome is the client's: "accepted", "duplicate" or "closed",
which covers every 409 refusal, an upload refused for want of an open task included); in memory a
handler answers by returning once, so there is no channel for a second answer and the outcome is
"no channel".
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from fedward.coordinator.service.app import create_app
from fedward.coordinator.service.board import Board
from fedward.coordinator.service.context import ServiceContext
from fedward.coordinator.service.metrics import ServiceMetrics
from fedward.coordinator.service.transport import Refused, ServiceTransport
from fedward.coordinator.state.blobs import BlobStore
from fedward.coordinator.state.memory import MemoryStateStore
from fedward.core.messages import Reply, Task
from fedward.crypto.signatures import SigningKey
from fedward.site.runner import run_site
from fedward.transport import InMemoryTransport, SiteHandler, Transport
from fedward.transport.client import Backoff, CoordinatorClient
from fedward.transport.wire import reply_to_message, task_id

with warnings.catch_warnings():  # starlette asks for httpx2; the TestClient works the same with httpx
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from fastapi.testclient import TestClient

TRANSPORTS = ["memory", "memory-threads", "service"]
FEDERATION = "fed-contract"
POLL_S = 0.2  # a site's long poll; short, so that a finished run stops the sites quickly
MAX_BLOB_BYTES = 64 << 20


@dataclass
class Connected:
    """A transport to the handlers, and what a test needs around it."""

    kind: str
    transport: Transport
    send_again: Callable[[Task, Reply], str]
    close: Callable[[], None]


def connect_memory(kind: str, handlers: Sequence[SiteHandler]) -> Connected:
    workers = len(handlers) if kind == "memory-threads" else 1
    transport = InMemoryTransport(handlers, workers=workers)
    return Connected(kind, transport, lambda task, reply: "no channel", transport.close)


@dataclass
class _Service:
    """The coordinator's side of a deployed run, and its sites' loops on threads."""

    ctx: ServiceContext
    app: FastAPI  # built once, in the test's thread (built in a site's thread, it raced warning filters)
    keys: dict[str, SigningKey]
    outboxes: Path
    threads: list[threading.Thread] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)

    def client(self, site: str) -> CoordinatorClient:
        http = TestClient(self.app)
        backoff = Backoff(initial_s=0.01, max_s=0.05)
        return CoordinatorClient(
            "http://testserver", site, FEDERATION, self.keys[site], http=http, backoff=backoff
        )

    def start(self, handler: SiteHandler) -> None:
        def loop() -> None:
            try:
                run_site(
                    self.client(handler.name), handler, self.outboxes / handler.name, poll_seconds=POLL_S
                )
            except BaseException as exc:  # reported by close(): a site's loop must never crash
                self.crashes.append(exc)

        thread = threading.Thread(target=loop, name=f"site-{handler.name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def send_again(self, task: Task, reply: Reply) -> str:
        return self.client(task.site).send_reply(reply_to_message(reply, task_id(task)), reply.parameters)

    def close(self) -> None:
        """Tell the sites the run is over and wait for their loops to end; a crashed loop fails the test."""
        self.ctx.store.set_meta("state", "finished")
        self.ctx.board.notify()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "a site's loop did not stop"
        assert not self.crashes, f"a site's loop crashed: {self.crashes!r}"


def connect_service(
    handlers: Sequence[SiteHandler], folder: Path, refused: Refused | None = None
) -> Connected:
    names = [h.name for h in handlers]
    keys = {s: SigningKey.from_seed(hashlib.sha256(s.encode()).digest()) for s in names}
    ctx = ServiceContext(
        store=MemoryStateStore(),
        blobs=BlobStore(folder / "blobs", MAX_BLOB_BYTES),
        board=Board(),
        metrics=ServiceMetrics(),
        federation=FEDERATION,
        site_key=lambda site: keys[site].public if site in keys else None,
        poll_seconds=POLL_S,
        max_chunk_bytes=8 << 20,
        max_update_bytes=MAX_BLOB_BYTES,
        logger=logging.getLogger("fedward.test.contract"),
        bind_certificates=False,  # in process, no TLS
    )
    service = _Service(ctx, create_app(ctx), keys, folder / "outboxes")
    for handler in handlers:
        service.start(handler)
    transport = ServiceTransport(ctx.store, ctx.blobs, ctx.board, names, ctx.utc, refused)

    def close() -> None:
        transport.close()
        service.close()

    return Connected("service", transport, service.send_again, close)


def connector(kind: str, tmp_path: Path) -> Iterator[Callable[[Sequence[SiteHandler]], Connected]]:
    """A function that connects handlers over transport `kind`; every connection is closed afterwards."""
    opened: list[Connected] = []

    def connect(handlers: Sequence[SiteHandler]) -> Connected:
        folder = tmp_path / f"service-{len(opened)}"
        connected = connect_service(handlers, folder) if kind == "service" else connect_memory(kind, handlers)
        opened.append(connected)
        return connected

    yield connect
    for connected in opened:
        connected.close()
