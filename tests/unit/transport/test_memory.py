import threading
import time

from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.transport import InMemoryTransport, SiteSilent


class Echo:
    def __init__(self, name: str, delay: float = 0.0, fail: bool = False) -> None:
        self._name, self.delay, self.fail = name, delay, fail
        self.release = threading.Event()

    @property
    def name(self) -> str:
        return self._name

    def handle(self, task: Task) -> Reply:
        if self.fail:
            raise OSError("site disk unreadable")
        if self.delay:
            self.release.wait(self.delay)
        return Reply(task.run_id, task.round, self._name, task.kind, ReplyStatus.OK, num_samples=1)


def _tasks(*sites: str) -> list[Task]:
    return [Task("r", 1, s, TaskKind.FIT) for s in sites]


def test_one_reply_per_task_keyed_by_site():
    t = InMemoryTransport([Echo("a"), Echo("b")])
    replies = t.exchange(_tasks("a", "b"), None)
    assert set(replies) == {"a", "b"} and all(r.ok for r in replies.values())
    assert t.sites == ["a", "b"]
    t.close()


def test_exceptions_become_failed_replies():
    t = InMemoryTransport([Echo("a", fail=True)])
    reply = t.exchange(_tasks("a"), None)["a"]
    assert reply.status is ReplyStatus.FAILED and "disk unreadable" in (reply.error or "")
    t.close()


def test_deadline_is_for_the_whole_exchange():
    slow = Echo("slow", delay=5.0)
    t = InMemoryTransport([Echo("a"), slow], workers=2)
    start = time.monotonic()
    replies = t.exchange(_tasks("a", "slow"), 0.2)
    assert time.monotonic() - start < 2.0
    assert replies["a"].ok and replies["slow"].status is ReplyStatus.TIMEOUT
    slow.release.set()
    t.close()


def test_unknown_site_and_duplicate_names_are_refused():
    import pytest

    with pytest.raises(ValueError, match="duplicate"):
        InMemoryTransport([Echo("a"), Echo("a")])
    t = InMemoryTransport([Echo("a")])
    with pytest.raises(KeyError):
        t.exchange(_tasks("zzz"), None)
    t.close()


class Silent(Echo):
    def handle(self, task: Task) -> Reply:
        raise SiteSilent("site a dropped out before_train (injected fault)")


def test_a_silent_site_is_a_timeout_at_once_and_a_claimed_timeout_is_not():
    silent = InMemoryTransport([Silent("a")])
    reply = silent.exchange(_tasks("a"), None)["a"]
    assert reply.status is ReplyStatus.TIMEOUT and "injected fault" in (reply.error or "")
    silent.close()

    class Claims(Echo):  # power check: a site's own TIMEOUT reply is not believed
        def handle(self, task: Task) -> Reply:
            return Reply.failure(task, ReplyStatus.TIMEOUT, "made up")

    claims = InMemoryTransport([Claims("a")])
    assert claims.exchange(_tasks("a"), None)["a"].status is ReplyStatus.FAILED
    claims.close()
