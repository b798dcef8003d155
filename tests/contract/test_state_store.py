"""The `StateStore` contract, run against every implementation: memory, SQLite and PostgreSQL.

Each method's promise (fedward/coordinator/state/base.py), the races that must have exactly one winner
(threads, on their own connections, and two store objects on one database as two processes would be),
and durability: a store opened again on the same database sees everything, and a writer killed with
SIGKILL mid-loop leaves a consistent journal.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from backends import Backend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedward.coordinator.state import (
    ReplayDivergedError,
    ReplyRecord,
    RoundRow,
    StateStore,
    TaskRecord,
)

THREADS = 8


def task(task_id: str, site: str = "alpha", round: int = 1, body: str = "{}") -> TaskRecord:
    sha = hashlib.sha256(body.encode()).hexdigest()
    return TaskRecord(task_id=task_id, site=site, round=round, kind="fit", body=body, body_sha256=sha)


def reply(task_id: str, site: str = "alpha", body: str = '{"ok": true}') -> ReplyRecord:
    return ReplyRecord(task_id=task_id, site=site, status="ok", body=body, received="2025-01-01T00:00:00Z")


def race(backend: Backend, store: StateStore, call: Callable[[StateStore, int], object]) -> list[object]:
    """`call(store, i)` on THREADS threads at once, released together by a barrier. Each thread has its
    own database connection; for a database, half of them go through a second store object, as a
    second coordinator process would."""
    stores = [store, backend.open()] if backend.url is not None else [store]
    barrier = threading.Barrier(THREADS)

    def run(i: int) -> object:
        barrier.wait()
        return call(stores[i % len(stores)], i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


# --- the run ---------------------------------------------------------------------------------------------
def test_meta_is_none_until_set_and_set_meta_overwrites(state_store: StateStore) -> None:
    assert state_store.meta("round") is None
    state_store.set_meta("round", "1")
    state_store.set_meta("round", "2")
    assert state_store.meta("round") == "2"


def test_meta_once_keeps_the_first_value_and_calls_make_only_when_absent(state_store: StateStore) -> None:
    assert state_store.meta_once("run_id", lambda: "first") == "first"
    assert state_store.meta_once("run_id", lambda: pytest.fail("make called again")) == "first"
    assert state_store.meta("run_id") == "first"


def test_meta_once_has_one_winner_when_callers_race(backend: Backend, state_store: StateStore) -> None:
    results = race(backend, state_store, lambda s, i: s.meta_once("run_id", lambda: f"value-{i}"))
    assert len(set(results)) == 1
    assert state_store.meta("run_id") == results[0]


def test_make_may_use_the_store_itself(state_store: StateStore) -> None:
    def make_run_id() -> str:
        return "run-" + state_store.recorded("seed", 0, lambda: state_store.meta_once("salt", lambda: "s"))

    assert state_store.meta_once("run_id", make_run_id) == "run-s"
    assert state_store.recorded("seed", 0, lambda: "other") == "s"


def test_recorded_reads_back_the_first_value_per_stream_and_index(state_store: StateStore) -> None:
    assert state_store.recorded("clock", 0, lambda: "t0") == "t0"
    assert state_store.recorded("clock", 1, lambda: "t1") == "t1"
    assert state_store.recorded("seed", 0, lambda: "s0") == "s0"
    assert state_store.recorded("clock", 0, lambda: "other") == "t0"


def test_recorded_has_one_winner_when_callers_race(backend: Backend, state_store: StateStore) -> None:
    assert len(set(race(backend, state_store, lambda s, i: s.recorded("seed", 7, lambda: f"seed-{i}")))) == 1


# --- tasks and replies ------------------------------------------------------------------------------------
def test_put_task_is_idempotent_and_task_reads_it_back(state_store: StateStore) -> None:
    sent = task("t1", body='{"round": 1}')
    assert state_store.put_task(sent) is True
    assert state_store.put_task(sent) is False
    assert state_store.task("t1") == sent
    assert state_store.task("unknown") is None


def test_a_replayed_task_with_other_content_raises(state_store: StateStore) -> None:
    state_store.put_task(task("t1", body='{"lr": 0.1}'))
    with pytest.raises(ReplayDivergedError, match="differs"):
        state_store.put_task(task("t1", body='{"lr": 0.2}'))
    assert state_store.task("t1") == task("t1", body='{"lr": 0.1}')


def test_put_task_has_one_winner_when_callers_race(backend: Backend, state_store: StateStore) -> None:
    assert sorted(race(backend, state_store, lambda s, i: s.put_task(task("t1"))), key=bool) == [False] * (
        THREADS - 1
    ) + [True]


def test_open_tasks_are_the_sites_unanswered_tasks_oldest_first(state_store: StateStore) -> None:
    for task_id in ("t9", "t3", "t5"):  # sent in this order, which is not the order of their ids
        state_store.put_task(task(task_id))
    state_store.put_task(task("b1", site="beta"))
    assert [t.task_id for t in state_store.open_tasks("alpha")] == ["t9", "t3", "t5"]
    state_store.put_reply(reply("t3"))
    assert [t.task_id for t in state_store.open_tasks("alpha")] == ["t9", "t5"]
    state_store.put_reply(reply("t9"))
    state_store.put_reply(reply("t5"))
    assert state_store.open_tasks("alpha") == []
    assert [t.task_id for t in state_store.open_tasks("beta")] == ["b1"]
    assert state_store.open_tasks("nobody") == []


def test_the_first_reply_wins(state_store: StateStore) -> None:
    state_store.put_task(task("t1"))
    assert state_store.reply("t1") is None
    assert state_store.put_reply(reply("t1", body='{"first": 1}')) is True
    assert state_store.put_reply(reply("t1", body='{"second": 2}')) is False
    assert state_store.reply("t1") == reply("t1", body='{"first": 1}')


def test_a_reply_to_an_unknown_task_raises_key_error(state_store: StateStore) -> None:
    with pytest.raises(KeyError):
        state_store.put_reply(reply("never-sent"))
    assert state_store.reply("never-sent") is None


def test_put_reply_has_one_winner_when_callers_race(backend: Backend, state_store: StateStore) -> None:
    state_store.put_task(task("t1"))
    results = race(backend, state_store, lambda s, i: s.put_reply(reply("t1", body=f'{{"i": {i}}}')))
    assert results.count(True) == 1
    stored = state_store.reply("t1")
    assert stored is not None and stored.body == f'{{"i": {results.index(True)}}}'


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["task", "reply"]), st.integers(0, 5)), max_size=30))
def test_open_tasks_are_always_the_tasks_without_replies(
    state_store: StateStore, operations: list[tuple[str, int]]
) -> None:
    site = f"site-{uuid.uuid4().hex}"  # each example gets a site of its own in the shared store
    sent: list[str] = []
    answered: set[str] = set()
    for operation, n in operations:
        task_id = f"{site}/{n}"
        if operation == "task":
            assert state_store.put_task(task(task_id, site=site)) is (task_id not in sent)
            sent += [] if task_id in sent else [task_id]
        elif task_id not in sent:
            with pytest.raises(KeyError):
                state_store.put_reply(reply(task_id, site=site))
        else:
            assert state_store.put_reply(reply(task_id, site=site)) is (task_id not in answered)
            answered.add(task_id)
    assert [t.task_id for t in state_store.open_tasks(site)] == [t for t in sent if t not in answered]


# --- what happened, for people -----------------------------------------------------------------------------
def test_rounds_come_in_order_and_a_replayed_round_replaces_its_row(state_store: StateStore) -> None:
    for number in (2, 1, 3):
        state_store.put_round(RoundRow(round=number, body=f'{{"round": {number}}}'))
    state_store.put_round(RoundRow(round=2, body='{"round": 2, "again": true}'))
    assert state_store.rounds() == [
        RoundRow(1, '{"round": 1}'),
        RoundRow(2, '{"round": 2, "again": true}'),
        RoundRow(3, '{"round": 3}'),
    ]


def test_privacy_events_are_never_counted_twice(state_store: StateStore) -> None:
    assert state_store.put_privacy_event("alpha", 2, '{"eps": 2}') is True
    assert state_store.put_privacy_event("alpha", 1, '{"eps": 1}') is True
    assert state_store.put_privacy_event("alpha", 1, '{"eps": 99}') is False
    assert state_store.put_privacy_event("beta", 1, '{"eps": 3}') is True
    assert state_store.privacy_events("alpha") == ['{"eps": 1}', '{"eps": 2}']
    assert state_store.privacy_events("beta") == ['{"eps": 3}']
    assert state_store.privacy_events("gamma") == []


def test_put_privacy_event_has_one_winner_when_callers_race(
    backend: Backend, state_store: StateStore
) -> None:
    assert (
        race(backend, state_store, lambda s, i: s.put_privacy_event("alpha", 1, f'{{"i": {i}}}')).count(True)
        == 1
    )
    assert len(state_store.privacy_events("alpha")) == 1


def test_rejections_are_kept_oldest_first(state_store: StateStore) -> None:
    assert state_store.rejections() == []
    state_store.record_rejection("beta", "signature", "bad signature", "2025-01-01T00:00:02Z")
    state_store.record_rejection("alpha", "oversize", "body of 9 GB", "2025-01-01T00:00:01Z")
    state_store.record_rejection("beta", "signature", "bad signature", "2025-01-01T00:00:02Z")
    assert state_store.rejections() == [
        ("beta", "signature", "bad signature", "2025-01-01T00:00:02Z"),
        ("alpha", "oversize", "body of 9 GB", "2025-01-01T00:00:01Z"),
        ("beta", "signature", "bad signature", "2025-01-01T00:00:02Z"),
    ]


def test_a_replayed_nonce_is_refused_until_forgotten(state_store: StateStore) -> None:
    assert state_store.use_nonce("alpha", "n1", 100.0) is True
    assert state_store.use_nonce("alpha", "n1", 150.0) is False
    assert state_store.use_nonce("beta", "n1", 100.0) is True  # nonces are per site
    assert state_store.use_nonce("alpha", "n2", 200.0) is True
    state_store.forget_nonces(before=200.0)
    assert state_store.use_nonce("alpha", "n1", 300.0) is True  # forgotten: older than the window
    assert state_store.use_nonce("alpha", "n2", 300.0) is False  # at the boundary: kept


def test_use_nonce_has_one_winner_when_callers_race(backend: Backend, state_store: StateStore) -> None:
    assert race(backend, state_store, lambda s, i: s.use_nonce("alpha", "n1", 1.0)).count(True) == 1


def test_last_seen_keeps_each_sites_latest_request(state_store: StateStore) -> None:
    assert state_store.last_seen() == {}
    state_store.seen("alpha", "2025-01-01T00:00:01Z")
    state_store.seen("beta", "2025-01-01T00:00:02Z")
    state_store.seen("alpha", "2025-01-01T00:00:03Z")
    assert state_store.last_seen() == {"alpha": "2025-01-01T00:00:03Z", "beta": "2025-01-01T00:00:02Z"}
