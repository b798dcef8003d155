"""Strict JSON on the wire: a body that names a key twice is refused, and so is a value of the wrong
type ("1" or 1.0 for an integer), where FastAPI's own parsing would have coerced it. The signature over
the raw body still verifies: these refusals come from the parser, past the gate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_harness import Service, make_service, put_task, snapshot

from fedward.coordinator.service import app as app_module
from fedward.transport import wire
from fedward.transport.client import ProtocolError, _parse
from fedward.transport.wire import NextTask, ReplyMessage, UploadStart, parse_strict

SHA = "ab" * 32


def _reply_body(task_id: str, fields: str) -> bytes:
    return f'{{"task_id": "{task_id}", "site": "a", "status": "ok", {fields}}}'.encode()


def _refused(svc: Service, response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason and response.json()["detail"]
    assert svc.reasons()[-1] == reason


@pytest.mark.parametrize(
    "fields",
    [
        '"num_samples": 1, "num_samples": 1000000',
        '"metrics": {"loss": 0.5, "loss": 9.0}',
        '"status": "failed", "num_samples": 3',  # status named twice (once in the prefix)
    ],
)
def test_a_reply_with_a_duplicate_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: str
) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    before = snapshot(svc, [task.task_id])
    body = _reply_body(task.task_id, fields)
    response = svc.json("a", "POST", "/v1/replies", body)  # signed over these very bytes
    _refused(svc, response, 400, "duplicate_key")
    assert "twice" in response.json()["detail"]
    assert snapshot(svc, [task.task_id]) == before
    # power check: without the duplicate check, the last value silently wins
    monkeypatch.setattr(wire, "_refuse_duplicates", dict)
    assert svc.json("a", "POST", "/v1/replies", body).status_code == 200


def test_an_upload_announce_with_a_duplicate_size_is_refused(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    put_task(svc, "a", parameters=b"model")
    body = b'{"sha256": "%s", "size": 10, "size": 99999}' % SHA.encode()
    _refused(svc, svc.json("a", "POST", "/v1/uploads", body), 400, "duplicate_key")
    ok = b'{"sha256": "%s", "size": 10}' % SHA.encode()  # power check: the same announce, once
    assert svc.json("a", "POST", "/v1/uploads", ok).status_code == 200


def _lax(model: Any, data: bytes) -> Any:
    return model.model_validate_json(data)


@pytest.mark.parametrize("value", ['"1"', "1.0", "true"])
def test_a_reply_with_a_loosely_typed_integer_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    before = snapshot(svc, [task.task_id])
    body = _reply_body(task.task_id, f'"num_samples": {value}')
    response = svc.json("a", "POST", "/v1/replies", body)
    _refused(svc, response, 422, "malformed")
    assert "num_samples" in response.json()["detail"]
    assert snapshot(svc, [task.task_id]) == before
    # power check: parsed loosely (as FastAPI would), the same body is accepted and coerced to 1
    monkeypatch.setattr(app_module, "parse_strict", _lax)
    assert svc.json("a", "POST", "/v1/replies", body).status_code == 200
    stored = svc.store.reply(task.task_id)
    assert stored is not None and ReplyMessage.model_validate_json(stored.body).num_samples == 1


def test_an_upload_announce_with_a_string_size_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service(tmp_path)
    put_task(svc, "a", parameters=b"model")
    body = b'{"sha256": "%s", "size": "10"}' % SHA.encode()
    _refused(svc, svc.json("a", "POST", "/v1/uploads", body), 422, "malformed")
    monkeypatch.setattr(app_module, "parse_strict", _lax)  # power check
    assert svc.json("a", "POST", "/v1/uploads", body).json()["size"] == 10


def test_an_integer_is_still_a_float_and_a_strict_body_round_trips(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    task = put_task(svc, "a", parameters=b"model")
    body = _reply_body(task.task_id, '"train_seconds": 2, "metrics": {"loss": 1}, "info": {"k": "1"}')
    assert svc.json("a", "POST", "/v1/replies", body).status_code == 200
    stored = svc.store.reply(task.task_id)
    assert stored is not None
    again = parse_strict(ReplyMessage, stored.body)  # the journal's copy passes the strict parser
    assert (again.train_seconds, again.metrics, again.info) == (2.0, {"loss": 1.0}, {"k": "1"})
    assert parse_strict(UploadStart, b'{"sha256": "%s", "size": 0}' % SHA.encode()).size == 0


def test_the_site_client_parses_the_coordinators_answers_strictly() -> None:
    request = httpx.Request("GET", "http://coordinator/v1/tasks/next")
    for bad in (b'{"state": "idle", "state": "finished"}', b'{"state": "task", "task": null, "x": 1}'):
        with pytest.raises(ProtocolError):
            _parse(NextTask, httpx.Response(200, content=bad, request=request))
    assert (
        _parse(NextTask, httpx.Response(200, content=b'{"state": "idle"}', request=request)).state == "idle"
    )
    digest = hashlib.sha256(b"").hexdigest()
    task = b'{"state": "task", "task": {"task_id": "%s", "run_id": "r", "round": "1", "site": "a", ' + (
        b'"kind": "fit"}}'
    )
    with pytest.raises(ProtocolError, match="round"):
        _parse(NextTask, httpx.Response(200, content=task % digest.encode(), request=request))
    assert _parse(NextTask, httpx.Response(200, content=task.replace(b'"1"', b"1") % digest.encode(),
                                           request=request)).task is not None  # fmt: skip
