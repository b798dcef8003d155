"""What the SQL state store adds to the contract: durability, crash safety, and clear errors.

A store opened again on the same database sees everything (a coordinator restart); a writer killed
with SIGKILL in the middle of its loop leaves a journal with no partial rows and no reply without its
task; a database written by another schema version, an unreachable server or a bad URL is a
`ConfigError` that names the URL without its password. Run against SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from backends import Backend, postgres_url
from sqlalchemy import create_engine, text

from fedward.coordinator.state import (
    MemoryStateStore,
    ReplyRecord,
    RoundRow,
    SqlStateStore,
    StateStore,
    TaskRecord,
    open_state_store,
    sql_url_for,
)
from fedward.coordinator.state.sql import mask_url
from fedward.errors import ConfigError

# A coordinator stand-in: journals task, reply and privacy event for round after round, printing each
# round once it is stored, until it is killed.
WRITER = textwrap.dedent(
    """
    import hashlib, sys
    from fedward.coordinator.state import ReplyRecord, SqlStateStore, TaskRecord

    store = SqlStateStore(sys.argv[1], schema=sys.argv[2] or None)
    pad = "x" * 20_000  # big rows, so that a kill can land inside a write
    for i in range(1_000_000):
        body = f'{{"round": {i}, "pad": "{pad}"}}'
        sha = hashlib.sha256(body.encode()).hexdigest()
        store.put_task(TaskRecord(f"t{i:07d}", "alpha", i, "fit", body, sha))
        store.put_reply(ReplyRecord(f"t{i:07d}", "alpha", "ok", f'{{"reply": {i}, "pad": "{pad}"}}', "now"))
        store.put_privacy_event("alpha", i, f'{{"round": {i}}}')
        print(i, flush=True)
    """
)
PAD = "x" * 20_000


def fill(store: StateStore) -> None:
    """One of everything."""
    store.set_meta("state", "running")
    store.meta_once("run_id", lambda: "run-1")
    store.recorded("clock", 0, lambda: "2025-01-01T00:00:00Z")
    body = '{"round": 1}'
    store.put_task(TaskRecord("t1", "alpha", 1, "fit", body, hashlib.sha256(body.encode()).hexdigest()))
    store.put_task(TaskRecord("t2", "alpha", 1, "evaluate", body, hashlib.sha256(body.encode()).hexdigest()))
    store.put_reply(ReplyRecord("t1", "alpha", "ok", '{"ok": true}', "2025-01-01T00:00:01Z"))
    store.put_round(RoundRow(1, '{"round": 1}'))
    store.put_privacy_event("alpha", 1, '{"eps": 0.5}')
    store.record_rejection("beta", "signature", "bad signature", "2025-01-01T00:00:02Z")
    store.use_nonce("alpha", "n1", 100.0)
    store.seen("alpha", "2025-01-01T00:00:03Z")


def test_a_store_opened_again_sees_everything(durable_backend: Backend) -> None:
    first = durable_backend.open()
    fill(first)
    first.close()
    again = durable_backend.open()
    expected = MemoryStateStore()
    fill(expected)
    for read in (
        lambda s: [s.meta("state"), s.meta("run_id"), s.recorded("clock", 0, lambda: "later")],
        lambda s: [s.task("t1"), s.task("t2"), s.reply("t1"), s.reply("t2"), s.open_tasks("alpha")],
        lambda s: [s.rounds(), s.privacy_events("alpha"), s.rejections(), s.last_seen()],
        lambda s: [s.use_nonce("alpha", "n1", 101.0), s.put_privacy_event("alpha", 1, "{}")],
    ):
        assert read(again) == read(expected)


def test_stores_opened_at_once_on_a_new_database_all_work(durable_backend: Backend) -> None:
    barrier = threading.Barrier(6)

    def open_one(_: int) -> StateStore:
        barrier.wait()
        return durable_backend.open()

    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(open_one, range(6)))
    assert {store.meta_once("run_id", lambda: os.urandom(8).hex()) for store in stores} == {
        stores[0].meta("run_id")
    }


def test_a_writer_killed_mid_loop_leaves_a_consistent_journal(durable_backend: Backend) -> None:
    assert durable_backend.url is not None
    command = [sys.executable, "-c", WRITER, durable_backend.url, durable_backend.schema or ""]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as writer:
        assert writer.stdout is not None
        while int(writer.stdout.readline() or -1) < 25:
            assert writer.poll() is None, "the writer stopped before it was killed"
        random_delay = random.Random().uniform(0, 0.005)  # land anywhere in the next round's writes
        threading.Event().wait(random_delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    store = durable_backend.open()
    rounds = 0
    while (task := store.task(f"t{rounds:07d}")) is not None:
        assert task.body == f'{{"round": {rounds}, "pad": "{PAD}"}}'
        rounds += 1
    assert rounds > 25
    for i in range(rounds):
        answer = store.reply(f"t{i:07d}")
        assert answer is not None or i == rounds - 1, f"round {i} lost its reply"
        assert answer is None or answer.body == f'{{"reply": {i}, "pad": "{PAD}"}}'
    assert len(store.privacy_events("alpha")) in (rounds - 1, rounds)
    assert [t.task_id for t in store.open_tasks("alpha")] in ([], [f"t{rounds - 1:07d}"])
    store.put_task(TaskRecord("after", "alpha", 0, "fit", "{}", "0" * 64))  # and it goes on
    if durable_backend.name == "sqlite":
        database = durable_backend.url.removeprefix("sqlite:///")
        assert sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_database_of_another_schema_version_is_refused(durable_backend: Backend) -> None:
    assert durable_backend.url is not None
    durable_backend.open().close()
    table = f"{durable_backend.schema}.schema_version" if durable_backend.schema else "schema_version"
    engine = create_engine(durable_backend.url)
    with engine.begin() as c:
        c.execute(text(f"UPDATE {table} SET version = 999"))
    engine.dispose()
    with pytest.raises(ConfigError, match="schema version 999") as raised:
        durable_backend.open()
    assert raised.value.where == mask_url(durable_backend.url)
    assert durable_backend.url.split("@")[0] not in raised.value.render() or durable_backend.name == "sqlite"


def test_sqlite_writes_ahead_and_syncs_every_commit(tmp_path: Path) -> None:
    store = SqlStateStore(sql_url_for(tmp_path / "state.db"))
    with store._engine.connect() as c:  # what each of the store's connections runs with
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    store.close()


def test_sqlite_writers_in_one_process_queue_instead_of_waiting_on_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no busy timeout, two of this process's writers that met inside SQLite would fail at once
    # ("database is locked"); the store's write lock queues them before SQLite sees them.
    monkeypatch.setattr("fedward.coordinator.state.sql._BUSY_TIMEOUT_MS", 0)
    store = SqlStateStore(sql_url_for(tmp_path / "state.db"))
    store.use_nonce("warm", "up", 0.0)  # the write-ahead switch, on one connection

    def write(worker: int) -> list[bool]:
        won = []
        for i in range(40):
            won.append(store.use_nonce("alpha", f"n{i}", float(i)))  # every worker races for each nonce
            store.seen(f"site{worker}", f"2025-01-01T00:00:{i:02d}Z")
        return won

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(write, range(6)))
    assert [sum(column) for column in zip(*results, strict=True)] == [1] * 40
    assert store.last_seen() == {f"site{w}": "2025-01-01T00:00:39Z" for w in range(6)}
    store.close()


def test_sql_url_for_survives_odd_characters_in_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "a kit?#%"
    folder.mkdir()
    store = SqlStateStore(sql_url_for(folder / "state.db"))
    store.set_meta("k", "v")
    store.close()
    assert (folder / "state.db").is_file()


def test_open_state_store_picks_the_implementation(tmp_path: Path) -> None:
    assert isinstance(open_state_store("memory://"), MemoryStateStore)
    store = open_state_store(sql_url_for(tmp_path / "state.db"))
    assert isinstance(store, SqlStateStore)
    store.close()


def test_plain_postgresql_urls_go_through_psycopg() -> None:
    url = postgres_url().replace("postgresql+psycopg://", "postgresql://", 1)
    store = SqlStateStore(url)
    assert store.url.startswith("postgresql://") and ":***@" in store.url
    store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"postgresql://fedward:s3cret@127.0.0.1:{_free_port()}/fedward", "cannot open"),
        ("sqlite:////no/such/folder/state.db", "cannot open"),
        ("sqlite://", "in-memory"),
        ("mysql://fedward:s3cret@localhost/fedward", "unsupported database"),
        ("not a url", "not a database URL"),
    ],
)
def test_a_database_that_cannot_be_opened_is_a_config_error_without_the_password(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        SqlStateStore(url)
    shown = raised.value.render()
    assert "s3cret" not in shown
    assert raised.value.where is not None and raised.value.hint is not None
