"""run_site against a scripted fake coordinator (httpx.MockTransport): each task is trained at most once.

The fake hands out the tasks of its script in order, then `finished`; it serves task blobs, takes
uploads and records every reply. A coordinator that restarts asks again for a task it already asked for;
the tests check that the site answers such a task from its outbox, also after the site itself restarts,
and the power check shows the same scenario training twice when the outbox is not there.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import httpx
import pytest

from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.crypto.signatures import SigningKey
from fedward.site.runner import OUTBOX_KEEP, BlobCache, Outbox, run_site
from fedward.transport.client import Backoff, CoordinatorClient, ProtocolError
from fedward.transport.wire import BlobRef, ReplyMessage, task_id, task_to_message

SITE = "site-a"
KEY = SigningKey.from_seed(bytes(32))


def _task(round_: int, site: str = SITE, kind: TaskKind = TaskKind.FIT) -> Task:
    return Task("run-1", round_, site, kind, parameters=b"global-%d" % round_, context=b"standardization")


class FakeCoordinator:
    """Answers GET /tasks/next from a script of tasks and "idle"s, then says "finished"."""

    def __init__(self, script: list[Task | str | tuple[Task, str]]) -> None:
        self.script = list(script)
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, tuple[int, bytearray]] = {}
        self.replies: list[ReplyMessage] = []
        self.refuse_replies = 0  # answer this many reply posts with 400 (the site "crashes" on it)
        self.blob_gets: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/")
        if path == "tasks/next":
            return self._next()
        if path.startswith("blobs/"):
            self.blob_gets.append(path.split("/")[1])
            return httpx.Response(200, content=self.blobs[path.split("/")[1]])
        if path == "uploads":
            body = json.loads(request.content)
            self.uploads.setdefault(body["sha256"], (body["size"], bytearray()))
            return self._state(body["sha256"])
        if path.startswith("uploads/"):
            sha = path.split("/")[1]
            assert int(request.url.params["offset"]) == len(self.uploads[sha][1])
            self.uploads[sha][1].extend(request.content)
            return self._state(sha)
        return self._reply(ReplyMessage.model_validate_json(request.content))

    def _next(self) -> httpx.Response:
        item = self.script.pop(0) if self.script else "finished"
        if isinstance(item, str):
            return httpx.Response(200, json={"state": item, "task": None})
        task, id_ = item if isinstance(item, tuple) else (item, task_id(item))  # a wrong id, to test
        for blob in (task.parameters, task.context):
            self.blobs[hashlib.sha256(blob).hexdigest()] = blob
        message = task_to_message(task).model_copy(update={"task_id": id_})
        return httpx.Response(200, json={"state": "task", "task": message.model_dump(mode="json")})

    def _state(self, sha: str) -> httpx.Response:
        size, held = self.uploads[sha]
        done = len(held) == size and hashlib.sha256(held).hexdigest() == sha
        return httpx.Response(200, json={"sha256": sha, "size": size, "offset": len(held), "complete": done})

    def _reply(self, message: ReplyMessage) -> httpx.Response:
        if self.refuse_replies:
            self.refuse_replies -= 1
            return httpx.Response(400, json={"detail": "not now"})
        if message.parameters is not None:
            assert self.uploads[message.parameters.sha256][1] == self.uploaded(message)
        self.replies.append(message)
        return httpx.Response(200, json={"accepted": True})

    def uploaded(self, message: ReplyMessage) -> bytes:
        assert message.parameters is not None
        return bytes(self.uploads[message.parameters.sha256][1])


class Trainer:
    """A site handler that counts its calls; each answer is new random bytes, as training would be."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[Task] = []
        self.fail = fail
        self.rng = random.Random(5)

    @property
    def name(self) -> str:
        return SITE

    def handle(self, task: Task) -> Reply:
        self.calls.append(task)
        if self.fail:
            raise RuntimeError("GPU on fire")
        update = self.rng.randbytes(64)
        return Reply(task.run_id, task.round, task.site, task.kind, ReplyStatus.OK, update, num_samples=7)


def _client(fake: FakeCoordinator) -> CoordinatorClient:
    http = httpx.Client(transport=httpx.MockTransport(fake))
    backoff = Backoff(rng=random.Random(0), sleep=lambda s: None)
    return CoordinatorClient("https://c.test", SITE, "fed", KEY, http=http, backoff=backoff, chunk_bytes=50)


def _run(fake: FakeCoordinator, trainer: Trainer, outbox: Path, events: list[str] | None = None):
    sink = None if events is None else (lambda event, fields: events.append(event))
    return run_site(_client(fake), trainer, outbox, poll_seconds=1.0, on_event=sink)


def test_finished_returns_without_work(tmp_path: Path):
    trainer = Trainer()
    result = _run(FakeCoordinator([]), trainer, tmp_path / "outbox")
    assert result.tasks_handled == 0 and trainer.calls == []


def test_a_task_is_handled_uploaded_and_answered(tmp_path: Path):
    fake, trainer, events = FakeCoordinator(["idle", _task(1), "idle"]), Trainer(), []
    result = _run(fake, trainer, tmp_path / "outbox", events)
    assert [t.round for t in trainer.calls] == [1]
    assert trainer.calls[0].parameters == b"global-1" and trainer.calls[0].context == b"standardization"
    [reply] = fake.replies
    assert reply.task_id == task_id(_task(1)) and reply.status == "ok" and reply.num_samples == 7
    assert len(fake.uploaded(reply)) == 64 and result.bytes_sent == 64
    assert result.tasks_handled == 1 and events == ["task", "handled", "reply", "finished"]


def test_a_re_sent_task_is_answered_from_the_outbox(tmp_path: Path):
    fake, trainer = FakeCoordinator([_task(1), _task(1)]), Trainer()
    result = _run(fake, trainer, tmp_path / "outbox")
    assert len(trainer.calls) == 1 and result.replies_from_outbox == 1
    assert fake.replies[0] == fake.replies[1]


def _crash_then_restart(fake_outbox: Path, second_outbox: Path) -> Trainer:
    """The site trains, saves its reply, crashes before the reply lands; it restarts and is asked again."""
    fake, trainer = FakeCoordinator([_task(2)]), Trainer()
    fake.refuse_replies = 1
    with pytest.raises(ProtocolError):
        _run(fake, trainer, fake_outbox)
    fake.script = [_task(2)]
    _run(fake, trainer, second_outbox)
    assert len(fake.replies) == 1
    return trainer


def test_the_outbox_survives_a_site_restart(tmp_path: Path):
    trainer = _crash_then_restart(tmp_path / "outbox", tmp_path / "outbox")
    assert len(trainer.calls) == 1


def test_power_check_without_the_outbox_the_task_is_trained_twice(tmp_path: Path):
    trainer = _crash_then_restart(tmp_path / "outbox", tmp_path / "fresh")
    assert len(trainer.calls) == 2


def test_the_outbox_keeps_only_the_last_replies(tmp_path: Path):
    outbox = tmp_path / "outbox"
    _run(FakeCoordinator([_task(r) for r in range(1, 11)]), Trainer(), outbox)
    kept = {json.loads(p.read_bytes())["reply"]["task_id"] for p in outbox.glob("*.json")}
    assert kept == {task_id(_task(r)) for r in range(3, 11)} and OUTBOX_KEEP == 8
    assert len(list(outbox.glob("*.bin"))) == 8 and not list(outbox.glob("*.tmp"))


def test_the_outbox_clears_what_a_crash_left_half_written(tmp_path: Path):
    outbox = tmp_path / "outbox"
    _run(FakeCoordinator([_task(1)]), Trainer(), outbox)
    (outbox / "x.json.tmp").write_bytes(b"{")
    (outbox / f"{'0' * 64}.bin").write_bytes(b"orphan")
    Outbox(outbox)
    assert sorted(p.suffix for p in outbox.iterdir()) == [".bin", ".json"]


def test_a_task_for_another_site_is_refused_untrained(tmp_path: Path):
    fake, trainer = FakeCoordinator([_task(1, site="site-b")]), Trainer()
    result = _run(fake, trainer, tmp_path / "outbox")
    assert trainer.calls == [] and result.tasks_refused == 1
    [reply] = fake.replies
    assert reply.status == "failed" and reply.site == SITE and "site-b" in (reply.error or "")


def test_a_damaged_outbox_entry_is_not_trained_again(tmp_path: Path):
    outbox, trainer = tmp_path / "outbox", Trainer()
    _run(FakeCoordinator([_task(1)]), trainer, outbox)
    next(outbox.glob("*.bin")).write_bytes(b"bit rot")
    fake = FakeCoordinator([_task(1)])
    _run(fake, trainer, outbox)
    assert len(trainer.calls) == 1 and fake.replies[0].status == "failed"
    assert "damaged" in (fake.replies[0].error or "")


def test_a_handler_exception_becomes_a_failed_reply(tmp_path: Path):
    fake = FakeCoordinator([_task(1), _task(1)])
    result = _run(fake, Trainer(fail=True), tmp_path / "outbox")
    assert [r.status for r in fake.replies] == ["failed", "failed"] and result.replies_from_outbox == 1
    assert "GPU on fire" in (fake.replies[0].error or "")


def test_a_task_whose_id_does_not_match_its_contents_is_refused(tmp_path: Path):
    fake, trainer = FakeCoordinator([(_task(1), "0" * 64)]), Trainer()
    result = _run(fake, trainer, tmp_path / "outbox")
    assert trainer.calls == [] and result.tasks_refused == 1
    assert fake.replies[0].status == "failed" and "does not match" in (fake.replies[0].error or "")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_blob_the_site_holds_is_not_downloaded_again(tmp_path: Path):
    # round 1's evaluation carries the model round 2 trains; the context is the same every round
    evaluate = Task("run-1", 1, SITE, TaskKind.EVALUATE, parameters=b"global-2", context=b"standardization")
    fake, trainer = FakeCoordinator([_task(1), evaluate, _task(2)]), Trainer()
    result = _run(fake, trainer, tmp_path / "outbox")
    assert fake.blob_gets == [_sha(b"global-1"), _sha(b"standardization"), _sha(b"global-2")]
    assert [t.parameters for t in trainer.calls] == [b"global-1", b"global-2", b"global-2"]
    assert all(t.context == b"standardization" for t in trainer.calls) and result.blobs_from_cache == 3


def test_the_blob_cache_keeps_the_last_blobs_within_its_byte_budget():
    fetched: list[bytes] = []

    def fetch(ref: BlobRef) -> bytes:
        data = ref.sha256.encode()[:1] * ref.size  # stands in for a checked download
        fetched.append(data)
        return data

    refs = [BlobRef(sha256=_sha(bytes([i])), size=10 * (i + 1)) for i in range(5)]
    cache = BlobCache(keep=3, max_bytes=100)
    for ref in refs[:4]:  # 10 + 20 + 30 + 40 bytes: the fourth pushes out the first (keep=3)
        cache.get(ref, fetch)
    assert len(cache) == 3 and len(fetched) == 4
    cache.get(refs[1], fetch)  # held: no fetch, and now the newest
    assert len(fetched) == 4 and cache.hits == 1
    cache.get(refs[4], fetch)  # 50 more: over 100 bytes, so the oldest used (refs[2], then [3]) go
    cache.get(refs[1], fetch)
    assert len(fetched) == 5 and cache.hits == 2
    cache.get(refs[2], fetch)
    assert len(fetched) == 6
    big = BlobRef(sha256=_sha(b"big"), size=101)  # larger than the whole budget: fetched, never kept
    cache.get(big, fetch)
    cache.get(big, fetch)
    assert len(fetched) == 8 and cache.hits == 2
