"""The `Transport` contract (fedward/transport/base.py), run against every implementation: the in-memory
transport of `fedward simulate` and the `ServiceTransport` of a deployed coordinator, whose sites run
their own loop over HTTP (transports.py).

Each test names the promise it checks. Three were broken and are pinned here as regressions: the
service journaled the tasks before a task for an unknown site raised (so a site would train on a task
of an exchange that had failed); both transports took two tasks for one site and lost one reply; and
the in-memory transport passed on a reply that claimed another task, or a timeout, from a site.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pytest
from transports import Connected

from fedward.core.messages import JSONValue, Reply, ReplyStatus, Task, TaskKind
from fedward.transport import SiteHandler

Connect = Callable[[Sequence[SiteHandler]], Connected]
RUN = "run-contract"
CONFIG: dict[str, JSONValue] = {"lr": 0.1, "epochs": 2, "model": "mlp", "dp": False, "seed": None}


class Site:
    """A site double: records every task it gets; answers with `answer(task)` (an Echo by default)
    after `gate` is set, or raises `raises`."""

    def __init__(
        self,
        name: str,
        answer: Callable[[Task], Reply] | None = None,
        *,
        raises: Exception | None = None,
        gated: bool = False,
    ) -> None:
        self._name, self._answer, self._raises = name, answer, raises
        self.tasks: list[Task] = []
        self.gate, self.answered = threading.Event(), threading.Event()
        if not gated:
            self.gate.set()

    @property
    def name(self) -> str:
        return self._name

    def handle(self, task: Task) -> Reply:
        self.tasks.append(task)
        try:
            self.gate.wait(timeout=20)
            if self._raises is not None:
                raise self._raises
            return self._answer(task) if self._answer is not None else echo(task)
        finally:
            self.answered.set()


def echo(task: Task) -> Reply:
    """An OK reply whose parameters and numbers are derived from the task, so each answer is checkable."""
    update = hashlib.sha256(task.site.encode() + task.parameters).digest() * 3
    return Reply(
        task.run_id, task.round, task.site, task.kind, ReplyStatus.OK, parameters=update,
        num_samples=len(task.site) + task.round, metrics={"loss": 0.25}, info={"site": task.site},
        train_seconds=1.5,
    )  # fmt: skip


def task(site: str, round: int = 1, kind: TaskKind = TaskKind.FIT, parameters: bytes = b"model") -> Task:
    return Task(RUN, round, site, kind, parameters, dict(CONFIG), b"context")


def random_bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).bytes(n)


def assert_answers(reply: Reply, sent: Task) -> None:
    """The reply is for `sent`: same run, round, site and kind."""
    assert (reply.run_id, reply.round, reply.site, reply.kind) == (
        sent.run_id,
        sent.round,
        sent.site,
        sent.kind,
    )


# --- sites, keys and order ---------------------------------------------------------------------------


def test_sites_are_named_in_the_order_given(connect: Connect) -> None:
    assert list(connect([Site("b"), Site("a"), Site("c")]).transport.sites) == ["b", "a", "c"]


def test_one_reply_per_task_keyed_by_site_in_the_order_of_the_tasks(connect: Connect) -> None:
    sites = [Site("a"), Site("b"), Site("c"), Site("idle")]
    transport = connect(sites).transport
    tasks = [task("c"), task("a"), task("b")]
    replies = transport.exchange(tasks, None)
    assert list(replies) == ["c", "a", "b"] and len(replies) == 3
    for sent in tasks:
        assert_answers(replies[sent.site], sent)
        assert replies[sent.site].ok
    assert [len(s.tasks) for s in sites] == [1, 1, 1, 0]  # only the addressed sites are asked


def test_an_empty_exchange_returns_an_empty_mapping(connect: Connect) -> None:
    transport = connect([Site("a")]).transport
    assert dict(transport.exchange([], None)) == {}
    assert dict(transport.exchange([], 0.5)) == {}


def test_consecutive_exchanges_are_answered_each_for_its_round(connect: Connect) -> None:
    a = Site("a")
    transport = connect([a, Site("b")]).transport
    for rnd in (1, 2, 3):
        replies = transport.exchange([task("a", rnd), task("b", rnd)], 10.0)
        assert [replies[s].round for s in ("a", "b")] == [rnd, rnd]
    assert [t.round for t in a.tasks] == [1, 2, 3]


# --- messages arrive whole ---------------------------------------------------------------------------


def test_the_site_gets_the_task_as_sent_and_the_caller_the_reply_as_sent(connect: Connect) -> None:
    a = Site("a")
    transport = connect([a]).transport
    sent = Task(RUN, 4, "a", TaskKind.EVALUATE, b"\x00model\xff", {**CONFIG, "sizes": [1, 2.5, "x"]}, b"ctx")
    reply = transport.exchange([sent], None)["a"]
    assert a.tasks == [sent]
    assert reply == echo(sent)


@pytest.mark.parametrize("size", [20 << 20, (24 << 20) + 17])
def test_large_parameters_round_trip_byte_identical(connect: Connect, size: int) -> None:
    model, update = random_bytes(size, 1), random_bytes(size + 1000, 2)
    a = Site("a", lambda t: replace(echo(t), parameters=update))
    transport = connect([a]).transport
    sent = Task(RUN, 1, "a", TaskKind.FIT, model, dict(CONFIG), random_bytes(3 << 20, 3))
    reply = transport.exchange([sent], 120.0)["a"]
    assert reply.ok, reply.error
    assert a.tasks[0].parameters == model and a.tasks[0].context == sent.context
    assert len(reply.parameters) == len(update) and reply.parameters == update


# --- failures are data -------------------------------------------------------------------------------


def test_a_site_that_raises_gives_a_failed_reply_and_the_others_answer(connect: Connect) -> None:
    broken = Site("broken", raises=OSError("site disk unreadable"))
    transport = connect([Site("a"), broken]).transport
    replies = transport.exchange([task("a"), task("broken")], 10.0)
    assert replies["a"].ok
    failed = replies["broken"]
    assert failed.status is ReplyStatus.FAILED and "site disk unreadable" in (failed.error or "")
    assert_answers(failed, task("broken"))


def test_a_failed_answer_arrives_as_sent(connect: Connect) -> None:
    refusing = Site("a", lambda t: Reply.failure(t, ReplyStatus.FAILED, "policy: fit tasks are refused"))
    reply = connect([refusing]).transport.exchange([task("a")], None)["a"]
    assert reply.status is ReplyStatus.FAILED and reply.error == "policy: fit tasks are refused"


def test_a_site_cannot_claim_a_timeout(connect: Connect) -> None:
    """Only the transport decides a timeout; a site that says so has failed."""
    claims = Site("a", lambda t: Reply.failure(t, ReplyStatus.TIMEOUT, "I was too slow"))
    reply = connect([claims]).transport.exchange([task("a")], None)["a"]
    assert reply.status is ReplyStatus.FAILED


def test_a_reply_for_another_task_is_not_passed_off_as_this_ones(connect: Connect) -> None:
    def other(t: Task) -> Reply:
        return replace(echo(t), round=t.round + 1, kind=TaskKind.EVALUATE, run_id="another-run")

    sent = task("a")
    reply = connect([Site("a", other)]).transport.exchange([sent], None)["a"]
    assert_answers(reply, sent)


# --- deadlines ---------------------------------------------------------------------------------------


def test_silent_sites_time_out_as_data_at_the_deadline_of_the_whole_exchange(connect: Connect) -> None:
    slow, silent = Site("slow", gated=True), Site("silent", gated=True)
    transport = connect([Site("a"), slow, silent]).transport
    start = time.monotonic()
    replies = transport.exchange([task("a"), task("slow"), task("silent")], 1.0)
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 1.9  # one deadline for the exchange, not one per site
    assert replies["a"].ok
    for site in ("slow", "silent"):
        assert replies[site].status is ReplyStatus.TIMEOUT and "1 s" in (replies[site].error or "")
        assert_answers(replies[site], task(site))
    slow.gate.set()
    silent.gate.set()


def test_without_a_deadline_a_slow_site_is_waited_for(connect: Connect) -> None:
    slow = Site("slow", gated=True)
    transport = connect([slow]).transport
    threading.Timer(0.5, slow.gate.set).start()
    assert transport.exchange([task("slow")], None)["slow"].ok


# --- the first answer counts -------------------------------------------------------------------------


def test_a_late_answer_never_replaces_the_timeout(connect: Connect) -> None:
    late = Site("late", gated=True)
    connected = connect([late])
    sent = task("late")
    replies = connected.transport.exchange([sent], 0.3)
    assert replies["late"].status is ReplyStatus.TIMEOUT
    late.gate.set()
    assert late.answered.wait(10)
    outcome = connected.send_again(sent, echo(sent))  # the site's answer, arriving after the deadline
    assert outcome == ("closed" if connected.kind == "service" else "no channel")
    assert replies["late"].status is ReplyStatus.TIMEOUT  # a fresh look-up still reads the first


def test_a_site_answering_twice_the_first_answer_counts(connect: Connect) -> None:
    a = Site("a")
    connected = connect([a])
    sent = task("a")
    replies = connected.transport.exchange([sent], 10.0)
    first = replies["a"]
    assert first == echo(sent) and len(a.tasks) == 1  # each task reaches its handler once
    different = replace(echo(sent), num_samples=999, parameters=b"another update")
    again, same = connected.send_again(sent, different), connected.send_again(sent, echo(sent))
    if connected.kind == "service":  # a different answer is refused; the same one, resent, is a duplicate
        assert (again, same) == ("closed", "duplicate")
    else:  # a handler answers by returning, once
        assert (again, same) == ("no channel", "no channel")
    assert replies["a"] == first


# --- refusals before anything is sent ----------------------------------------------------------------


def test_a_task_for_an_unknown_site_raises_before_anything_is_sent(connect: Connect) -> None:
    a = Site("a")
    transport = connect([a]).transport
    with pytest.raises(KeyError):
        transport.exchange([task("a", 1), task("nobody", 1)], 5.0)
    transport.exchange([task("a", 2)], 10.0)
    assert [t.round for t in a.tasks] == [2]  # round 1 never reached the site


def test_a_second_task_for_one_site_raises_before_anything_is_sent(connect: Connect) -> None:
    a = Site("a")
    transport = connect([a, Site("b")]).transport
    with pytest.raises(ValueError, match="'a'"):
        transport.exchange([task("a", 1), task("b", 1), task("a", 1, TaskKind.EVALUATE)], 5.0)
    transport.exchange([task("a", 2)], 10.0)
    assert [t.round for t in a.tasks] == [2]


def test_close_twice_is_harmless(connect: Connect) -> None:
    transport = connect([Site("a")]).transport
    transport.exchange([task("a")], 10.0)
    transport.close()
    transport.close()


def test_a_stored_update_whose_bits_flipped_arrives_as_a_failure_naming_the_blob(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the service, the update is read from the blob store when the round looks it up: a bit flipped
    on disk since it was uploaded makes the reply a failure, and the changed bytes are never used. Power
    check: with the blob store's hash check off, the changed bytes come through as an OK reply."""
    from transports import connect_service

    from fedward.coordinator.state import blobs

    connected = connect_service([Site("a")], tmp_path)
    try:
        sent = task("a")
        replies = connected.transport.exchange([sent], 10.0)
        name = hashlib.sha256(echo(sent).parameters).hexdigest()
        stored = tmp_path / "blobs" / "blobs" / name
        data = bytearray(stored.read_bytes())
        data[3] ^= 0x10
        stored.write_bytes(bytes(data))
        reply = replies["a"]
        assert reply.status == ReplyStatus.FAILED and not reply.parameters
        assert f"stored blob {name}" in (reply.error or "") and "corrupt" in (reply.error or "")
        monkeypatch.setattr(blobs, "_check_blob", lambda sha, path, data: None)
        attacked = replies["a"]
        assert attacked.status == ReplyStatus.OK and attacked.parameters == bytes(data)
    finally:
        connected.close()
