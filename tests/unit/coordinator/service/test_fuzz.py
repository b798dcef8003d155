"""Fuzzing the coordinator API from its own OpenAPI description (schemathesis 4, Hypothesis).

For every operation, schemathesis generates requests that follow the schema and requests that break it.
Most are signed with a valid site key, so they pass the gate and reach the routes' parsing and logic;
the rest keep the generated (nonsense) signature headers, which fuzzes the gate itself. Whatever comes
in: never a 5xx, every 4xx carries a JSON `detail` that says what was wrong, and a refused request leaves
the journal and the blob files exactly as they were. Bounded and derandomized: the same examples every
run, in a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_harness import FEDERATION, Service, make_service, put_task, snapshot

from fedward.transport.signing import sign_request

OPERATIONS = [
    ("GET", "/v1/tasks/next"),
    ("GET", "/v1/blobs/{sha256}"),
    ("POST", "/v1/uploads"),
    ("PUT", "/v1/uploads/{sha256}"),
    ("GET", "/v1/uploads/{sha256}"),
    ("POST", "/v1/replies"),
    ("GET", "/v1/health"),
    ("GET", "/metrics"),
]
EXAMPLES = 40  # per operation and mode
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
UNPARAMETERIZED = {"/v1/health", "/metrics"}  # nothing in them to break
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (mode is GenerationMode.NEGATIVE and path in UNPARAMETERIZED)
]


UPLOAD = b"an update of site a"


def _service(tmp_path: Path) -> tuple[Service, list[str], list[str]]:
    """A service with a task for each of sites a and b and an upload begun by a; the task ids and the
    hashes of every blob and upload, which the fuzzer mixes into its requests to get past the 404s."""
    svc = make_service(tmp_path, poll_seconds=0.01, max_chunk_bytes=1 << 16)
    tasks = [
        put_task(svc, "a", parameters=b"model a", context=b"ctx"),
        put_task(svc, "b", parameters=b"model b"),
    ]
    upload = hashlib.sha256(UPLOAD).hexdigest()
    svc.ctx.blobs.start_upload("a", upload, len(UPLOAD))
    shas = [ref.sha256 for t in tasks for ref in (t.parameters, t.context) if ref is not None]
    return svc, [t.task_id for t in tasks], [*shas, upload]


def test_the_fuzzed_operations_are_all_the_operations(tmp_path: Path) -> None:
    svc, _, _ = _service(tmp_path)
    paths = svc.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert sorted((m.upper(), p) for p, ops in paths.items() for m in ops) == sorted(OPERATIONS)


def _aim(case: Any, sha: str | None, task_id: str | None) -> None:
    """Point a generated case at a blob or task that exists (where it has room for one)."""
    if sha is not None and isinstance(case.path_parameters, dict) and "sha256" in case.path_parameters:
        case.path_parameters["sha256"] = sha
    if task_id is not None and isinstance(case.body, dict) and "task_id" in case.body:
        case.body["task_id"] = task_id
        case.body["site"] = "a"


def _request(svc: Service, case: Any, signed: bool) -> httpx.Request:
    """The generated request, built as a site's client builds one, then signed as site "a"."""
    kw = case.as_transport_kwargs(base_url="http://testserver")
    if "json" in kw:
        content = json.dumps(kw["json"], ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    else:
        data = kw.get("data", b"")
        content = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data or b"")
    request = svc.client.build_request(
        kw["method"], kw["url"], params=kw.get("params"), headers=kw.get("headers"), content=content
    )
    if signed:
        target = request.url.raw_path.decode("ascii")
        now = int(svc.clock[0])
        request.headers.update(
            sign_request(svc.keys["a"], "a", FEDERATION, kw["method"], target, content, now)
        )
    return request


def _check(svc: Service, task_ids: list[str], case: Any, request: httpx.Request) -> None:
    before = snapshot(svc, task_ids)
    response = svc.client.send(request)
    case.validate_response(response, checks=CONFORMANCE)  # documented status, media type and schema
    if os.environ.get("FUZZ_STATS"):
        print("STAT", request.method, request.url.path[:20], response.status_code, response.text[:80])
    where = f"{request.method} {request.url}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], where
        assert snapshot(svc, task_ids) == before, where


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_fuzz_never_5xx_and_refusals_change_nothing(
    tmp_path: Path, method: str, path: str, mode: GenerationMode
) -> None:
    svc, task_ids, shas = _service(tmp_path)
    schema = schemathesis.openapi.from_dict(svc.client.app.openapi())  # type: ignore[attr-defined]
    strategy = schema[path][method].as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(
        case=strategy,
        signed=st.booleans() | st.just(True),
        sha=st.none() | st.sampled_from(shas),
        task_id=st.none() | st.sampled_from(task_ids),
    )
    def fuzz(case: Any, signed: bool, sha: str | None, task_id: str | None) -> None:
        _aim(case, sha, task_id)
        _check(svc, task_ids, case, _request(svc, case, signed))

    fuzz()
