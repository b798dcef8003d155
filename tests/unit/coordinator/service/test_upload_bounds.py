"""Bounded uploads: a site opens an upload only to answer an open task, no larger than a reply to that
task can be, within a per-site quota, and a partial upload that is abandoned is removed from disk.

Each attack is refused with a stable `reason`, changes nothing, and is shown to get through when its
check is taken away (the power check); a legitimate resumable upload still works around each bound.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from service_harness import Service, make_service, put_task, snapshot

from fedward.coordinator.service import uploads
from fedward.coordinator.service.uploads import discard_finished
from fedward.coordinator.state.base import ReplyRecord, TaskRecord
from fedward.core.messages import Task, TaskKind
from fedward.transport.client import CoordinatorClient, TaskClosed
from fedward.transport.wire import task_to_message

OCTETS = {"content-type": "application/octet-stream"}
MODEL = b"m" * 1000  # the global model of the tasks below: a reply may be 4 x 1000 + 100 bytes
LIMIT = 4 * len(MODEL) + 100


def _service(tmp_path: Path, **kw: Any) -> Service:
    svc = make_service(tmp_path, **kw)
    svc.ctx.upload_overhead_bytes = 100
    return svc


def _sha(n: int, seed: str = "") -> str:
    return hashlib.sha256(f"{seed}{n}".encode()).hexdigest()


def _announce(svc: Service, site: str, sha: str, size: int) -> Any:
    return svc.json(site, "POST", "/v1/uploads", {"sha256": sha, "size": size})


def _refused(svc: Service, response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["reason"] == reason and body["detail"]
    assert svc.reasons()[-1] == reason
    assert svc.metric("fedward_requests_rejected_total", reason=reason) >= 1


def _journal(svc: Service, task: Task) -> str:
    message = task_to_message(task)
    if task.parameters:
        svc.ctx.blobs.put(task.parameters)
    body = message.model_dump_json()
    digest = hashlib.sha256(body.encode()).hexdigest()
    svc.store.put_task(TaskRecord(message.task_id, task.site, task.round, task.kind.value, body, digest))
    return message.task_id


def _answer(svc: Service, task_id: str, site: str = "a") -> None:
    svc.store.put_reply(ReplyRecord(task_id, site, "timeout", '{"error": "late"}', "t"))


# --- an upload needs an open task --------------------------------------------------------------------


def test_an_upload_without_an_open_task_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = _service(tmp_path)
    task = put_task(svc, "a", parameters=MODEL)
    before = snapshot(svc, [task.task_id])
    _refused(svc, _announce(svc, "b", _sha(1), 100), 409, "no_open_task")  # b was sent nothing
    assert snapshot(svc, [task.task_id]) == before
    assert _announce(svc, "a", _sha(1), 100).status_code == 200  # a answers its task: fine
    _answer(svc, task.task_id)
    _refused(svc, _announce(svc, "a", _sha(2), 100), 409, "no_open_task")  # answered: no more uploads
    # power check: without the check, the stranger's upload is opened and takes disk
    monkeypatch.setattr(uploads, "upload_bound", lambda ctx, site: uploads.UploadBound(1 << 22, "-", "-"))
    assert _announce(svc, "b", _sha(3), 1 << 22).status_code == 200
    assert svc.ctx.blobs.upload_status("b", _sha(3)) is not None


def test_a_stored_blob_is_answered_complete_without_a_task(tmp_path: Path) -> None:
    """A site that lost the answer to its last chunk asks again after its task was answered."""
    svc = _service(tmp_path)
    sha = svc.ctx.blobs.put(b"an update")
    assert _announce(svc, "b", sha, 9).json()["complete"] is True
    assert svc.ctx.blobs.partial_uploads() == []


def test_the_site_client_learns_its_task_was_closed(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    client = CoordinatorClient("http://testserver", "b", svc.ctx.federation, svc.keys["b"], http=svc.client,
                               clock=lambda: svc.clock[0])  # fmt: skip
    with pytest.raises(TaskClosed, match="no open task"):
        client.upload(b"late update")
    put_task(svc, "b", parameters=MODEL)
    assert client.upload(b"late update").size == 11  # power check: with an open task it goes through


# --- the announced size is bounded by the task ---------------------------------------------------------


def test_an_upload_larger_than_a_reply_can_be_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _service(tmp_path, max_update_bytes=1 << 22)
    task = put_task(svc, "a", parameters=MODEL)
    before = snapshot(svc, [task.task_id])
    response = _announce(svc, "a", _sha(1), LIMIT + 1)
    _refused(svc, response, 413, "upload_too_large")
    assert task.task_id in response.json()["detail"] and str(LIMIT) in response.json()["detail"]
    assert snapshot(svc, [task.task_id]) == before
    assert _announce(svc, "a", _sha(2), LIMIT).status_code == 200  # the bound itself is fine
    # power check: bounded by the update cap alone, the oversize upload is opened
    monkeypatch.setattr(uploads, "task_limit", lambda ctx, record: ctx.max_update_bytes)
    assert _announce(svc, "a", _sha(1), LIMIT + 1).status_code == 200


def test_the_bound_of_a_secure_aggregation_task_is_its_rounds_model(tmp_path: Path) -> None:
    svc = _service(tmp_path, max_update_bytes=1 << 22)
    fit = Task("run-1", 3, "a", TaskKind.FIT, MODEL, {})
    _answer(svc, _journal(svc, fit))
    _journal(svc, Task("run-1", 3, "a", TaskKind.SECAGG, b"shares", {"secagg_stage": "mask"}))
    _refused(svc, _announce(svc, "a", _sha(1), LIMIT + 1), 413, "upload_too_large")
    assert _announce(svc, "a", _sha(2), LIMIT).status_code == 200  # a masked vector of 2x the model fits
    describe = _service(tmp_path / "describe")
    _journal(describe, Task("run-1", 0, "a", TaskKind.DESCRIBE, b"", {}))  # statistics only
    _refused(describe, _announce(describe, "a", _sha(3), 101), 413, "upload_too_large")
    assert _announce(describe, "a", _sha(4), 100).status_code == 200


def test_the_update_cap_still_applies(tmp_path: Path) -> None:
    svc = make_service(tmp_path, max_update_bytes=4096)  # the default overhead is far above the cap
    put_task(svc, "a", parameters=MODEL)
    _refused(svc, _announce(svc, "a", _sha(1), 4097), 413, "too_large")
    assert _announce(svc, "a", _sha(1), 4096).status_code == 200


# --- a per-site quota of partial uploads ---------------------------------------------------------------


def test_the_quota_of_partial_uploads_is_enforced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = _service(tmp_path)
    svc.ctx.max_partial_uploads = 2
    task = put_task(svc, "a", parameters=MODEL)
    put_task(svc, "b", parameters=MODEL)
    for n in (1, 2):
        assert _announce(svc, "a", _sha(n), 10).status_code == 200
    before = snapshot(svc, [task.task_id])
    _refused(svc, _announce(svc, "a", _sha(3), 10), 429, "upload_quota")  # a third at once: no
    assert snapshot(svc, [task.task_id]) == before
    assert _announce(svc, "a", _sha(1), 10).json()["offset"] == 0  # resuming one is not a new one
    assert _announce(svc, "b", _sha(3), 10).status_code == 200  # the quota is per site
    # power check: without the quota the third upload is opened
    monkeypatch.setattr(uploads, "_check_quota", lambda *args: None)
    assert _announce(svc, "a", _sha(3), 10).status_code == 200


def test_the_byte_quota_of_partial_uploads_is_enforced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _service(tmp_path, max_update_bytes=1 << 22)
    put_task(svc, "a", parameters=MODEL)
    for n in (1, 2):  # twice the bound: an abandoned upload and a new one
        assert _announce(svc, "a", _sha(n), LIMIT).status_code == 200
    _refused(svc, _announce(svc, "a", _sha(3), 1), 429, "upload_quota")
    monkeypatch.setattr(uploads, "_check_quota", lambda *args: None)  # power check
    assert _announce(svc, "a", _sha(3), 1).status_code == 200


# --- partial uploads expire ------------------------------------------------------------------------


def _begin(svc: Service, site: str, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    assert _announce(svc, site, sha, len(data)).status_code == 200
    put = svc.call(
        site, "PUT", f"/v1/uploads/{sha}", params={"offset": 0}, content=data[:100], headers=OCTETS
    )
    assert put.json()["offset"] == 100
    return sha


def test_an_expired_partial_upload_is_removed_from_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _service(tmp_path)
    put_task(svc, "a", parameters=MODEL)
    put_task(svc, "b", parameters=MODEL)
    abandoned = _begin(svc, "a", b"x" * 1000)
    svc.clock[0] += svc.ctx.upload_expiry_s - 1
    resumed = _begin(svc, "b", b"y" * 1000)  # not yet expired: a's part is still there
    assert svc.ctx.blobs.upload_status("a", abandoned) is not None
    part = svc.ctx.blobs.directory / "uploads" / "a" / f"{abandoned}.part"
    assert part.is_file()
    svc.clock[0] += 2
    assert _announce(svc, "b", resumed, 1000).json()["offset"] == 100  # b resumes, and the sweep runs
    assert not part.exists() and not part.with_suffix(".size").exists()
    assert svc.call("a", "GET", f"/v1/uploads/{abandoned}").status_code == 404
    # the site that comes back late starts its upload again from 0, and finishes it
    assert _announce(svc, "a", abandoned, 1000).json()["offset"] == 0
    # power check: with expiry off, an idle partial upload stays on disk
    monkeypatch.setattr(svc.ctx.blobs, "expire", lambda before: [])
    svc.clock[0] += 10 * svc.ctx.upload_expiry_s
    _announce(svc, "b", resumed, 1000)
    assert part.is_file()


def test_partial_uploads_of_a_site_without_open_tasks_are_removed_at_the_end_of_an_exchange(
    tmp_path: Path,
) -> None:
    svc = _service(tmp_path)
    task = put_task(svc, "a", parameters=MODEL)
    sha = _begin(svc, "a", b"z" * 1000)
    assert discard_finished(svc.store, svc.ctx.blobs, ["a"]) == 0  # power check: the task is open
    assert svc.ctx.blobs.upload_status("a", sha) is not None
    _answer(svc, task.task_id)  # closed (a timeout)
    assert discard_finished(svc.store, svc.ctx.blobs, ["a"]) == 1
    assert svc.ctx.blobs.upload_status("a", sha) is None
    assert not any((svc.ctx.blobs.directory / "uploads" / "a").iterdir())
