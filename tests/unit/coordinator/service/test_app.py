"""The coordinator's HTTP API: the happy path of a site's round trip, long polls, and hostile peers.

Every hostile request must be refused with a 4xx and a JSON `detail`, recorded in the state store and in
the metrics, and leave the journal and the blob files as they were; where the refusal is a security
check, the same request from the party entitled to make it is shown to succeed (the power check).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_harness import FEDERATION, NOW, Service, make_service, put_task, snapshot

from fedward.coordinator.rounds import RoundRecord, SiteOutcome
from fedward.coordinator.service.app import create_app
from fedward.coordinator.state.base import ReplyRecord
from fedward.transport.client import CoordinatorClient
from fedward.transport.wire import MAX_JSON_BYTES, BlobRef, NextTask, ReplyMessage, TaskMessage

OCTETS = {"content-type": "application/octet-stream"}


def _bytes(n: int, seed: bytes = b"update") -> bytes:
    out = bytearray()
    while len(out) < n:
        out += hashlib.sha256(seed + len(out).to_bytes(8, "big")).digest()
    return bytes(out[:n])


def _reply(task: TaskMessage, site: str | None = None, data: bytes = b"", **kw: Any) -> ReplyMessage:
    ref = BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data)) if data else None
    return ReplyMessage(task_id=task.task_id, site=site or task.site, status="ok", parameters=ref, **kw)


def _post_reply(svc: Service, signer: str, message: ReplyMessage, **kw: Any) -> Any:
    return svc.json(signer, "POST", "/v1/replies", message.model_dump_json().encode(), **kw)


def _upload(svc: Service, site: str, data: bytes, chunk: int = 4096) -> str:
    sha = hashlib.sha256(data).hexdigest()
    state = svc.json(site, "POST", "/v1/uploads", {"sha256": sha, "size": len(data)}).json()
    while not state["complete"]:
        offset = state["offset"]
        piece = data[offset : offset + chunk]
        response = svc.call(
            site, "PUT", f"/v1/uploads/{sha}", params={"offset": offset}, content=piece, headers=OCTETS
        )
        assert response.status_code == 200, response.text
        state = response.json()
    return sha


def _assert_refused(svc: Service, response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["reason"] == reason and isinstance(body["detail"], str) and body["detail"]
    assert svc.reasons()[-1] == reason
    assert svc.metric("fedward_requests_rejected_total", reason=reason) >= 1


# --- the happy path ---------------------------------------------------------------------------------


def test_a_site_polls_downloads_uploads_with_resume_and_replies(tmp_path: Path) -> None:
    svc = make_service(tmp_path, max_chunk_bytes=4096)
    parameters, context = _bytes(10_000, b"global"), _bytes(300, b"context")
    task = put_task(svc, "a", parameters=parameters, context=context)

    answer = NextTask.model_validate_json(svc.call("a", "GET", "/v1/tasks/next", params={"wait": 0}).content)
    assert answer.state == "task" and answer.task == task
    assert "a" in svc.store.last_seen()
    for ref, data in ((task.parameters, parameters), (task.context, context)):
        assert ref is not None
        response = svc.call("a", "GET", f"/v1/blobs/{ref.sha256}")
        assert response.status_code == 200 and response.content == data
    assert svc.metric("fedward_bytes_sent_total") >= len(parameters) + len(context)

    update = _bytes(10_000)
    sha = hashlib.sha256(update).hexdigest()
    start = svc.json("a", "POST", "/v1/uploads", {"sha256": sha, "size": len(update)})
    assert start.json() == {"sha256": sha, "size": len(update), "offset": 0, "complete": False}
    first = svc.call(
        "a", "PUT", f"/v1/uploads/{sha}", params={"offset": 0}, content=update[:4096], headers=OCTETS
    )
    assert first.json()["offset"] == 4096
    # the answer to the first chunk was "lost": the site sends it again and is told where to resume
    again = svc.call(
        "a", "PUT", f"/v1/uploads/{sha}", params={"offset": 0}, content=update[:4096], headers=OCTETS
    )
    assert again.status_code == 409 and again.json()["offset"] == 4096
    _upload(svc, "a", update)  # resumes from the coordinator's offset
    assert svc.call("a", "GET", f"/v1/uploads/{sha}").json()["complete"] is True
    assert svc.ctx.blobs.read(sha) == update

    version = svc.ctx.board.version
    reply = _reply(task, data=update, num_samples=12, metrics={"loss": 0.5})
    response = _post_reply(svc, "a", reply)
    assert response.status_code == 200 and response.json() == {"accepted": True, "duplicate": False}
    stored = svc.store.reply(task.task_id)
    assert stored is not None and (stored.site, stored.status) == ("a", "ok")
    assert ReplyMessage.model_validate_json(stored.body) == reply
    assert svc.ctx.board.version > version
    # a retry of a reply whose answer was lost is accepted again, and changes nothing
    assert _post_reply(svc, "a", reply).json() == {"accepted": True, "duplicate": True}
    assert svc.store.reply(task.task_id) == stored
    assert svc.call("a", "GET", "/v1/tasks/next").json() == {"state": "idle", "task": None}
    assert svc.reasons() == ["upload_conflict"]


def test_long_poll_wakes_when_a_task_arrives_from_another_thread(tmp_path: Path) -> None:
    svc = make_service(tmp_path, poll_seconds=20)
    timer = threading.Timer(0.2, lambda: put_task(svc, "a", parameters=b"model"))
    started = time.monotonic()
    timer.start()
    try:
        answer = svc.call("a", "GET", "/v1/tasks/next", params={"wait": 20}).json()
    finally:
        timer.cancel()
    assert answer["state"] == "task" and answer["task"]["site"] == "a"
    assert 0.15 < time.monotonic() - started < 10


def test_long_poll_ends_idle_and_wait_is_bounded(tmp_path: Path) -> None:
    svc = make_service(tmp_path, poll_seconds=0.5)
    put_task(svc, "b", parameters=b"not for a")
    started = time.monotonic()
    assert svc.call("a", "GET", "/v1/tasks/next", params={"wait": 0.2}).json()["state"] == "idle"
    assert time.monotonic() - started >= 0.2
    _assert_refused(svc, svc.call("a", "GET", "/v1/tasks/next", params={"wait": 5}), 422, "malformed")


def test_finished_run_and_health(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    assert svc.client.get("/v1/health").json() == {"state": "starting", "round": 0}
    put_task(svc, "a", parameters=b"model")
    svc.store.set_meta("round", "3")
    svc.store.set_meta("state", "finished")
    assert svc.call("a", "GET", "/v1/tasks/next", params={"wait": 1}).json()["state"] == "finished"
    assert svc.client.get("/v1/health").json() == {"state": "finished", "round": 3}


def test_metrics_parse_and_count(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    svc.store.set_meta("round", "2")
    svc.call("a", "GET", "/v1/tasks/next")
    response = svc.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "fedward_rounds_completed", "fedward_updates_accepted", "fedward_updates_rejected",
        "fedward_requests_rejected", "fedward_bytes_received", "fedward_bytes_sent", "fedward_current_round",
        "fedward_sites_seen", "fedward_request_seconds", "fedward_round_seconds",
    } <= names  # fmt: skip
    assert svc.metric("fedward_current_round") == 2 and svc.metric("fedward_sites_seen") == 1
    assert svc.metric("fedward_request_seconds_count", route="/v1/tasks/next") == 1


# --- hostile peers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b'"\xff"',  # not UTF-8: FastAPI cannot even decode it
        b"[]",
        b'{"task_id": "00", "site": "a", "status": "ok"}',
        b'{"task_id": "' + b"0" * 64 + b'", "site": "a", "status": "timeout"}',
        b'{"task_id": "' + b"0" * 64 + b'", "site": "a", "status": "ok", "pickle": "gASV"}',
        b'{"task_id": "' + b"0" * 64 + b'", "site": "a", "status": "ok", "num_samples": -1}',
    ],
)
def test_garbage_and_schema_violations_get_422_and_change_nothing(tmp_path: Path, body: bytes) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    before = snapshot(svc, [task.task_id])
    _assert_refused(svc, svc.json("a", "POST", "/v1/replies", body), 422, "malformed")
    assert "invalid request" in svc.store.rejections()[-1][2]
    assert svc.store.rejections()[-1][0] == "a"
    assert snapshot(svc, [task.task_id]) == before


def test_oversize_json_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    before = snapshot(svc)
    response = svc.json("a", "POST", "/v1/replies", b"{" + b" " * MAX_JSON_BYTES + b"}")
    _assert_refused(svc, response, 413, "too_large")
    assert snapshot(svc) == before


def test_oversize_chunk_and_update_are_refused(tmp_path: Path) -> None:
    svc = make_service(tmp_path, max_chunk_bytes=1024, max_update_bytes=4096)
    put_task(svc, "a", parameters=b"model")  # an upload is opened only to answer an open task
    data = _bytes(2048)
    sha = hashlib.sha256(data).hexdigest()
    assert svc.json("a", "POST", "/v1/uploads", {"sha256": sha, "size": 2048}).status_code == 200
    before = snapshot(svc)
    put = svc.call("a", "PUT", f"/v1/uploads/{sha}", params={"offset": 0}, content=data, headers=OCTETS)
    _assert_refused(svc, put, 413, "too_large")
    big = svc.json("a", "POST", "/v1/uploads", {"sha256": "1" * 64, "size": 4097})
    _assert_refused(svc, big, 413, "too_large")
    assert snapshot(svc) == before
    # power check: the same chunk fits a coordinator with a larger chunk limit
    roomy = make_service(tmp_path / "roomy", max_chunk_bytes=4096)
    put_task(roomy, "a", parameters=b"model")
    roomy.json("a", "POST", "/v1/uploads", {"sha256": sha, "size": 2048})
    ok = roomy.call("a", "PUT", f"/v1/uploads/{sha}", params={"offset": 0}, content=data, headers=OCTETS)
    assert ok.status_code == 200 and ok.json()["complete"] is True


def _asgi_post(svc: Service, chunks: int, piece: bytes, length: str | None) -> tuple[int, int]:
    """POST a body of `chunks` pieces straight into the ASGI app; (status, pieces the app read)."""
    app, read, sent = create_app(svc.ctx), [0], []
    headers = [(b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", length.encode()))
    scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/v1/replies",
        "raw_path": b"/v1/replies", "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("test", 80),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        read[0] += 1
        return {"type": "http.request", "body": piece, "more_body": read[0] < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], read[0]


@pytest.mark.parametrize("length", [None, "10"], ids=["no-length", "lying-length"])
def test_a_streamed_body_is_cut_off_at_the_limit(tmp_path: Path, length: str | None) -> None:
    svc = make_service(tmp_path)
    piece = b" " * (1 << 20)
    status, read = _asgi_post(svc, 1000, piece, length)
    assert status == 413 and read == MAX_JSON_BYTES // len(piece) + 1
    assert svc.reasons() == ["too_large"]
    # power check: a body under the limit is read to its end and reaches the signature check
    status, read = _asgi_post(svc, 3, piece, length)
    assert (status, read) == (401, 3)


def test_a_different_reply_to_an_answered_task_is_a_replay(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    assert _post_reply(svc, "a", _reply(task, num_samples=5)).status_code == 200
    before = snapshot(svc, [task.task_id])
    _assert_refused(svc, _post_reply(svc, "a", _reply(task, num_samples=6)), 409, "replay")
    assert snapshot(svc, [task.task_id]) == before
    assert svc.metric("fedward_updates_rejected_total", reason="replay") == 1


def test_a_reply_to_a_timed_out_task_is_refused(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    svc.store.put_reply(ReplyRecord(task.task_id, "a", "timeout", '{"error": "late"}', "t"))
    before = snapshot(svc, [task.task_id])
    _assert_refused(svc, _post_reply(svc, "a", _reply(task)), 409, "task_closed")
    assert snapshot(svc, [task.task_id]) == before


def test_a_site_cannot_reply_for_another_site(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    before = snapshot(svc, [task.task_id])
    _assert_refused(svc, _post_reply(svc, "b", _reply(task, site="a")), 403, "wrong_site")  # in a's name
    _assert_refused(svc, _post_reply(svc, "b", _reply(task, site="b")), 403, "wrong_site")  # a's task
    assert snapshot(svc, [task.task_id]) == before
    assert _post_reply(svc, "a", _reply(task)).status_code == 200  # power check: the owner may


def test_unknown_task_and_missing_parameters_are_refused(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    before = snapshot(svc, [task.task_id])
    stranger = ReplyMessage(task_id="e" * 64, site="a", status="ok")
    _assert_refused(svc, _post_reply(svc, "a", stranger), 404, "unknown_task")
    _assert_refused(svc, _post_reply(svc, "a", _reply(task, data=b"never uploaded")), 400, "missing_blob")
    assert snapshot(svc, [task.task_id]) == before
    _upload(svc, "a", b"never uploaded")  # power check: once uploaded, the same reply is accepted
    assert _post_reply(svc, "a", _reply(task, data=b"never uploaded")).status_code == 200


def test_a_site_cannot_write_into_another_sites_upload(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    put_task(svc, "a", parameters=b"model")
    data = _bytes(8192)
    sha = hashlib.sha256(data).hexdigest()
    svc.json("a", "POST", "/v1/uploads", {"sha256": sha, "size": len(data)})
    svc.call("a", "PUT", f"/v1/uploads/{sha}", params={"offset": 0}, content=data[:4096], headers=OCTETS)
    before = snapshot(svc)
    hostile = svc.call(
        "b", "PUT", f"/v1/uploads/{sha}", params={"offset": 4096}, content=b"x" * 4096, headers=OCTETS
    )
    _assert_refused(svc, hostile, 404, "unknown_upload")
    assert svc.call("b", "GET", f"/v1/uploads/{sha}").status_code == 404
    assert snapshot(svc) == before
    assert svc.call("a", "GET", f"/v1/uploads/{sha}").json()["offset"] == 4096
    # power check: the owner's next chunk lands and completes the upload with the right bytes
    done = svc.call(
        "a", "PUT", f"/v1/uploads/{sha}", params={"offset": 4096}, content=data[4096:], headers=OCTETS
    )
    assert done.json()["complete"] is True and svc.ctx.blobs.read(sha) == data


def test_a_site_cannot_download_a_blob_outside_its_open_tasks(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"a's model")
    assert task.parameters is not None
    update = _upload(svc, "a", b"a's update")
    for sha in (task.parameters.sha256, update, "f" * 64):
        _assert_refused(svc, svc.call("b", "GET", f"/v1/blobs/{sha}"), 404, "unknown_blob")
    assert svc.call("a", "GET", f"/v1/blobs/{task.parameters.sha256}").content == b"a's model"  # power check
    _post_reply(svc, "a", _reply(task))
    _assert_refused(svc, svc.call("a", "GET", f"/v1/blobs/{task.parameters.sha256}"), 404, "unknown_blob")


def test_a_revoked_site_is_refused(tmp_path: Path) -> None:
    svc = make_service(tmp_path, revoked=["c"])
    put_task(svc, "c", parameters=b"model")
    _assert_refused(svc, svc.call("c", "GET", "/v1/tasks/next"), 403, "unknown_site")
    assert svc.store.rejections()[-1][0] == "c" and "c" not in svc.store.last_seen()
    svc.admitted.add("c")  # power check: admitted again, the same request passes
    assert svc.call("c", "GET", "/v1/tasks/next").json()["state"] == "task"


def test_unsigned_badly_signed_and_stale_requests_are_refused(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    _assert_refused(svc, svc.client.get("/v1/tasks/next"), 401, "missing")
    _assert_refused(svc, svc.call("a", "GET", "/v1/tasks/next", key=svc.keys["b"]), 401, "bad_signature")
    _assert_refused(svc, svc.call("a", "GET", "/v1/tasks/next", at=NOW - 1000), 401, "stale")
    assert svc.store.rejections()[0][0] == "?"  # no site claimed
    assert svc.call("a", "GET", "/v1/tasks/next").status_code == 200  # power check


@pytest.mark.parametrize("value", [b"1e999", b"-1e999", b"NaN", b"Infinity"])
def test_a_reply_with_numbers_json_cannot_carry_is_refused(tmp_path: Path, value: bytes) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    before = snapshot(svc, [task.task_id])
    body = b'{"task_id": "%s", "site": "a", "status": "ok", "metrics": {"loss": %s}}' % (
        task.task_id.encode(),
        value,
    )
    _assert_refused(svc, svc.json("a", "POST", "/v1/replies", body), 422, "malformed")
    assert snapshot(svc, [task.task_id]) == before
    # power check: a finite number is stored, and the journal's copy parses back
    ok = body.replace(value, b"0.25")
    assert svc.json("a", "POST", "/v1/replies", ok).status_code == 200
    stored = svc.store.reply(task.task_id)
    assert stored is not None and ReplyMessage.model_validate_json(stored.body).metrics == {"loss": 0.25}


def test_unknown_routes_and_methods_get_json_answers(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    _assert_refused(svc, svc.call("a", "GET", "/v1/nothing-here"), 404, "not_found")
    response = svc.call("a", "DELETE", "/v1/replies")
    _assert_refused(svc, response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_a_lone_surrogate_is_refused_with_a_readable_answer(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    body = b'{"task_id": "%s", "site": "a", "status": "ok", "info": {"\\udc00": 1}}' % (b"0" * 64)
    _assert_refused(svc, svc.json("a", "POST", "/v1/replies", body), 422, "malformed")


def test_a_site_told_the_run_is_finished_is_noted(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    svc.store.set_meta("state", "finished")
    version = svc.ctx.board.version
    assert svc.call("a", "GET", "/v1/tasks/next").json()["state"] == "finished"
    assert svc.store.meta("told_finished/a") == svc.ctx.utc() and svc.store.meta("told_finished/b") is None
    assert svc.ctx.board.version > version  # a coordinator lingering for its sites wakes up


def test_round_metrics(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    outcomes = {
        "a": SiteOutcome("ok", 10), "b": SiteOutcome("rejected", 5, error="bad package signature"),
        "c": SiteOutcome("failed", 5, error="unusable update: NaN"), "d": SiteOutcome("timeout"),
        "e": SiteOutcome("failed", error="site disk full"),
    }  # fmt: skip
    svc.store.set_meta("round", "4")  # as the round loop does; /metrics reads the round from the store
    svc.ctx.metrics.observe_round(
        RoundRecord(round=4, selected=list(outcomes), outcomes=outcomes, seconds=2.5)
    )
    assert svc.metric("fedward_rounds_completed_total") == 1
    assert svc.metric("fedward_round_seconds_sum") == 2.5 and svc.metric("fedward_current_round") == 4
    assert svc.metric("fedward_updates_accepted_total") == 1
    assert svc.metric("fedward_updates_rejected_total", reason="verification") == 1
    assert svc.metric("fedward_updates_rejected_total", reason="unusable") == 1


def test_the_sites_own_client_works_against_the_app(tmp_path: Path) -> None:
    svc = make_service(tmp_path, max_chunk_bytes=1 << 16)
    model = _bytes(50_000, b"global")
    task = put_task(svc, "a", parameters=model)
    client = CoordinatorClient(
        "http://testserver", "a", FEDERATION, svc.keys["a"], http=svc.client, clock=lambda: svc.clock[0],
        chunk_bytes=1 << 14,
    )  # fmt: skip
    assert client.health().state == "starting"
    answer = client.next_task(wait=0)
    assert answer.state == "task" and answer.task == task and answer.task.parameters is not None
    assert client.download(answer.task.parameters) == model
    update = _bytes(100_000)
    ref = client.upload(update)
    assert svc.ctx.blobs.read(ref.sha256) == update
    reply = _reply(task, data=update, num_samples=3)
    assert client.post_reply(reply) == "accepted"
    assert client.post_reply(reply) == "duplicate"
    assert client.next_task(wait=0).state == "idle"
    assert svc.store.rejections() == []
