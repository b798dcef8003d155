"""A coordinator service over an in-memory state store and a temporary blob store, and sites that sign.

`Service.call` sends a request exactly as a site's client does: the request is built first, then signed
over the path and query as they will go on the wire and the body bytes, then sent. `snapshot` captures
everything a refused request must leave unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fedward.coordinator.service.app import ServiceContext, create_app
from fedward.coordinator.service.board import Board
from fedward.coordinator.service.metrics import ServiceMetrics
from fedward.coordinator.state.base import TaskRecord
from fedward.coordinator.state.blobs import BlobStore
from fedward.coordinator.state.memory import MemoryStateStore
from fedward.core.messages import Task, TaskKind
from fedward.crypto.signatures import SigningKey
from fedward.transport.signing import sign_request
from fedward.transport.wire import TaskMessage, task_to_message

with warnings.catch_warnings():  # starlette asks for httpx2; the TestClient works the same with httpx
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from fastapi.testclient import TestClient

FEDERATION = "fed-test"
NOW = 1_700_000_000.0


@dataclass
class Service:
    ctx: ServiceContext
    client: TestClient
    keys: dict[str, SigningKey]
    admitted: set[str]
    clock: list[float] = field(default_factory=lambda: [NOW])

    @property
    def store(self) -> MemoryStateStore:
        assert isinstance(self.ctx.store, MemoryStateStore)
        return self.ctx.store

    def call(
        self,
        site: str,
        method: str,
        url: str,
        *,
        content: bytes = b"",
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        key: SigningKey | None = None,
        nonce: str | None = None,
        sign_as: str | None = None,
        at: float | None = None,
    ) -> httpx.Response:
        """A request from `site`, signed with its key (or `key`), in the name of `sign_as` or `site`, at
        time `at` (default: the coordinator's clock)."""
        request = self.client.build_request(method, url, content=content, params=params, headers=headers)
        path = request.url.raw_path.decode("ascii")
        signer = key or self.keys[site]
        request.headers.update(
            sign_request(
                signer, sign_as or site, FEDERATION, method, path, content, int(at or self.clock[0]), nonce
            )
        )
        return self.client.send(request)

    def json(self, site: str, method: str, url: str, body: Any, **kw: Any) -> httpx.Response:
        data = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).read()
        return self.call(site, method, url, content=data, headers={"content-type": "application/json"}, **kw)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample in GET /metrics (0 if absent)."""
        text = self.client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0

    def reasons(self) -> list[str]:
        return [reason for _site, reason, _detail, _at in self.store.rejections()]


def make_service(
    tmp_path: Path,
    *,
    sites: Iterable[str] = ("a", "b"),
    revoked: Iterable[str] = (),
    poll_seconds: float = 2.0,
    max_chunk_bytes: int = 1 << 20,
    max_update_bytes: int = 1 << 22,
) -> Service:
    keys = {s: SigningKey.from_seed(hashlib.sha256(s.encode()).digest()) for s in [*sites, *revoked]}
    admitted = set(sites)
    clock = [NOW]

    def site_key(site: str) -> bytes | None:
        return keys[site].public if site in admitted else None

    ctx = ServiceContext(
        store=MemoryStateStore(),
        blobs=BlobStore(tmp_path / "blobs", max_update_bytes),
        board=Board(),
        metrics=ServiceMetrics(),
        federation=FEDERATION,
        site_key=site_key,
        now=lambda: clock[0],
        utc=lambda: "2023-11-14T22:13:20Z",
        poll_seconds=poll_seconds,
        max_chunk_bytes=max_chunk_bytes,
        max_update_bytes=max_update_bytes,
        logger=logging.getLogger("fedward.test.service"),
        bind_certificates=False,  # in process, no TLS: test_certificate_binding.py serves it over TLS
    )
    return Service(ctx, TestClient(create_app(ctx)), keys, admitted, clock)


def put_task(
    service: Service, site: str, *, round: int = 1, parameters: bytes = b"", context: bytes = b""
) -> TaskMessage:
    """Journal a fit task for `site` (its blobs stored) as the coordinator's transport does."""
    task = Task("run-1", round, site, TaskKind.FIT, parameters, {"lr": 0.1}, context)
    message = task_to_message(task)
    for data in (parameters, context):
        if data:
            service.ctx.blobs.put(data)
    body = message.model_dump_json()
    record = TaskRecord(message.task_id, site, round, "fit", body, hashlib.sha256(body.encode()).hexdigest())
    service.store.put_task(record)
    service.ctx.board.notify()
    return message


def snapshot(service: Service, task_ids: Iterable[str] = ()) -> dict[str, Any]:
    """What a refused request must leave unchanged: tasks, open tasks, replies, run metadata, blob files."""
    store, folder = service.store, service.ctx.blobs.directory
    ids = sorted(set(task_ids))
    return {
        "tasks": [store.task(t) for t in ids],
        "replies": [store.reply(t) for t in ids],
        "open": {s: [t.task_id for t in store.open_tasks(s)] for s in service.keys},
        "meta": {k: store.meta(k) for k in ("state", "round", "run_id")},
        "rounds": store.rounds(),
        "files": sorted(
            (str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*") if p.is_file()
        ),
    }
