"""`SqlStateStore`: the coordinator's journal in a SQL database, through SQLAlchemy Core.

SQLite (a file inside the coordinator's kit) by default; PostgreSQL when the deployment names a
`postgresql://` URL. Each method is one transaction, so a coordinator killed with SIGKILL at any point
leaves every row either fully written or absent. On SQLite that needs the write-ahead log with
`synchronous=FULL` (a commit is on disk before it returns) and explicit `BEGIN IMMEDIATE` for writes, so
that two writers wait for each other (busy timeout) instead of failing on a lock upgrade. Writers in one
process also take a `threading.Lock` first: SQLite's busy handler waits by sleeping and retrying, which
costs far more than a queue when the coordinator's request threads write at once; the busy timeout is
still there for writers in other processes.

Methods that must have exactly one winner when two threads or processes race (`meta_once`, `recorded`,
`put_task`, `put_reply`, `put_privacy_event`, `use_nonce`) insert with `ON CONFLICT DO NOTHING`, tell from
the row count whether theirs was kept, and read back what the database kept when it was not; the
database's unique keys decide, not a lock in this process.

The schema carries a version: a database written by another schema version is refused with a
`ConfigError`, never silently migrated or misread. The tables are in tables.py.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    exc,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.schema import CreateSchema

from fedward.coordinator.state import tables
from fedward.coordinator.state.base import ReplayDivergedError, ReplyRecord, RoundRow, TaskRecord
from fedward.errors import ConfigError

__all__ = ["SqlStateStore", "mask_url", "sql_url_for"]

_BUSY_TIMEOUT_MS = 30_000
_PG_CONNECT_TIMEOUT_S = 10
_PG_OPEN_LOCK = 0x46454457  # advisory lock taken while creating tables ("FEDW")
_URL_HINT = "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def sql_url_for(path: Path) -> str:
    """The SQLite URL of the database file at `path` (made absolute; odd characters escaped)."""
    return URL.create("sqlite", database=str(Path(path).resolve())).render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """`url` with its password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def _normalize(url: str) -> URL:
    """Parse `url`, send plain PostgreSQL URLs to the psycopg (3) driver, refuse other databases."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {backend!r}", where=mask_url(url), hint=_URL_HINT)
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(
            "an in-memory SQLite database keeps nothing across a restart",
            where=mask_url(url),
            hint="give a file path (sqlite:///path/state.db), or use memory:// for tests",
        )
    return parsed


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions behind our back: `_sqlite_begin` opens them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    _write_ahead(cursor)
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _write_ahead(cursor: Any) -> None:
    """Switch the file to the write-ahead log. The switch needs the file to itself, and SQLite answers
    "locked" at once, without the busy timeout, when the first connections to a new file race: retry."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(connection: Connection) -> None:
    # A write transaction takes the write lock up front: a deferred one that read first could not
    # upgrade once another writer committed, and the busy timeout would not help.
    immediate = connection.get_execution_options().get("fedward_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S})


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class SqlStateStore:
    """The `StateStore` in SQLite or PostgreSQL. `schema` (PostgreSQL only) keeps the tables in their own
    schema, created if needed, so that several runs or test cases can share one database."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = mask_url(url)
        try:
            parsed = _normalize(url)
        except exc.ArgumentError as error:
            raise ConfigError("not a database URL", where=self.url, hint=_URL_HINT) from error
        self._pg = parsed.get_backend_name() == "postgresql"
        if schema is not None and (not self._pg or not _SCHEMA_NAME.fullmatch(schema)):
            raise ConfigError(f"bad schema {schema!r}: PostgreSQL only, lower-case letters, digits and _")
        self._schema = schema
        try:
            # rowcount says whether an INSERT ... ON CONFLICT DO NOTHING inserted; keep it for INSERTs too
            self._engine = _engine(parsed).execution_options(preserve_rowcount=True)
            if schema is not None:
                self._engine = self._engine.execution_options(schema_translate_map={None: schema})
            self._writer = self._engine.execution_options(fedward_write=True)
            # SQLite lets one writer in at a time anyway: queue this process's writers on a lock rather
            # than in SQLite's sleeping busy handler. PostgreSQL writers lock rows, not the database.
            self._write_lock: threading.Lock | nullcontext[None] = (
                nullcontext() if self._pg else threading.Lock()
            )
            self._open_schema()
        except (exc.DBAPIError, exc.NoSuchModuleError, ImportError) as error:
            self.close()
            raise self._cannot_open(error, parsed.password) from error
        except BaseException:
            self.close()
            raise

    def _cannot_open(self, error: Exception, password: str | None) -> ConfigError:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if password:
            reason = reason.replace(password, "***")
        hint = (
            "check that the PostgreSQL server is running and that the host, port, user, password and "
            "database are right (scripts/postgres.sh starts a local one)"
            if self._pg
            else "check that the directory exists and is writable"
        )
        return ConfigError(f"cannot open the coordinator database: {reason}", where=self.url, hint=hint)

    def _open_schema(self) -> None:
        """Create the tables on first use; refuse a database written by another schema version."""
        with self._writer.begin() as c:
            if self._pg:  # two coordinators or tests opening at once must not both CREATE TABLE
                c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_OPEN_LOCK})
            if self._schema is not None:
                c.execute(CreateSchema(self._schema, if_not_exists=True))
            stored = None
            if inspect(c).has_table(tables.schema_version.name, schema=self._schema):
                stored = c.execute(select(tables.schema_version.c.version)).scalar()
            if stored is not None and stored != tables.SCHEMA_VERSION:
                raise ConfigError(
                    f"the coordinator database has schema version {stored}; this fedward uses "
                    f"{tables.SCHEMA_VERSION}",
                    where=self.url,
                    hint="resume the run with the fedward version that started it, or use a new database",
                )
            tables.METADATA.create_all(c)
            if stored is None:
                c.execute(
                    self._insert(tables.schema_version)
                    .values(id=1, version=tables.SCHEMA_VERSION)
                    .on_conflict_do_nothing()
                )

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction, committed on leaving (rolled back on an exception)."""
        with self._write_lock, self._writer.begin() as c:
            yield c

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        return postgresql.insert(table) if self._pg else sqlite.insert(table)

    def _upsert(self, table: Table, keys: list[str], **values: Any) -> None:
        statement = self._insert(table).values(**values)
        updates = {name: value for name, value in values.items() if name not in keys}
        with self._write() as c:
            c.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))

    def _insert_new(self, table: Table, **values: Any) -> bool:
        """Insert a row unless its key is taken; True if this call inserted it."""
        with self._write() as c:
            return c.execute(self._insert(table).values(**values).on_conflict_do_nothing()).rowcount == 1

    # --- the run -----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self._engine.begin() as c:
            return _text(c.execute(select(tables.meta.c.value).where(tables.meta.c.key == key)).scalar())

    def set_meta(self, key: str, value: str) -> None:
        self._upsert(tables.meta, ["key"], key=key, value=value)

    def meta_once(self, key: str, make: Callable[[], str]) -> str:
        return self._once(tables.meta, tables.meta.c.key == key, make, key=key)

    def recorded(self, stream: str, index: int, make: Callable[[], str]) -> str:
        where = (tables.recorded.c.stream == stream) & (tables.recorded.c.idx == index)
        return self._once(tables.recorded, where, make, stream=stream, idx=index)

    def _once(self, table: Table, where: Any, make: Callable[[], str], **key: Any) -> str:
        """The stored value at `key`, or `make()` stored there; the database's key picks one winner.
        `make` runs outside any transaction, so it may use the store itself; when callers race, each may
        make a value, and all of them get the one the database kept."""
        with self._engine.begin() as c:
            value = c.execute(select(table.c.value).where(where)).scalar()
        if value is None:
            made = make()
            with self._write() as c:
                statement = self._insert(table).values(value=made, **key).on_conflict_do_nothing()
                if c.execute(statement).rowcount == 1:
                    return made  # ours is the one kept: no need to read it back
                value = c.execute(select(table.c.value).where(where)).scalar_one()
        return str(value)

    # --- tasks and replies ---------------------------------------------------------------------------
    def put_task(self, task: TaskRecord) -> bool:
        with self._write() as c:
            row = dict(task_id=task.task_id, site=task.site, round=task.round, kind=task.kind)
            statement = self._insert(tables.tasks).values(**row, body=task.body, body_sha256=task.body_sha256)
            if c.execute(statement.on_conflict_do_nothing()).rowcount == 1:
                return True
            kept = c.execute(
                select(tables.tasks.c.body_sha256).where(tables.tasks.c.task_id == task.task_id)
            ).scalar()
        if kept != task.body_sha256:
            raise ReplayDivergedError(
                f"task {task.task_id[:12]} for site {task.site}, round {task.round} ({task.kind}) "
                "differs from the one in the journal"
            )
        return False

    def task(self, task_id: str) -> TaskRecord | None:
        with self._engine.begin() as c:
            row = c.execute(select(tables.tasks).where(tables.tasks.c.task_id == task_id)).one_or_none()
        return None if row is None else _task_record(row)

    def open_tasks(self, site: str) -> list[TaskRecord]:
        replied = (
            select(tables.replies.c.task_id)
            .where(tables.replies.c.task_id == tables.tasks.c.task_id)
            .exists()
        )
        query = (
            select(tables.tasks).where((tables.tasks.c.site == site) & ~replied).order_by(tables.tasks.c.seq)
        )
        with self._engine.begin() as c:
            return [_task_record(row) for row in c.execute(query)]

    def put_reply(self, reply: ReplyRecord) -> bool:
        with self._write() as c:
            known = c.execute(
                select(tables.tasks.c.seq).where(tables.tasks.c.task_id == reply.task_id)
            ).first()
            if known is None:
                raise KeyError(f"no task {reply.task_id}")
            statement = self._insert(tables.replies).values(
                task_id=reply.task_id,
                site=reply.site,
                status=reply.status,
                body=reply.body,
                received=reply.received,
            )
            return c.execute(statement.on_conflict_do_nothing()).rowcount == 1

    def reply(self, task_id: str) -> ReplyRecord | None:
        with self._engine.begin() as c:
            row = c.execute(select(tables.replies).where(tables.replies.c.task_id == task_id)).one_or_none()
        if row is None:
            return None
        return ReplyRecord(
            task_id=row.task_id, site=row.site, status=row.status, body=row.body, received=row.received
        )

    # --- what happened, for people -------------------------------------------------------------------
    def put_round(self, row: RoundRow) -> None:
        self._upsert(tables.rounds, ["round"], round=row.round, body=row.body)

    def rounds(self) -> list[RoundRow]:
        with self._engine.begin() as c:
            rows = c.execute(select(tables.rounds).order_by(tables.rounds.c.round)).all()
        return [RoundRow(round=row.round, body=row.body) for row in rows]

    def put_privacy_event(self, site: str, round: int, event: str) -> bool:
        return self._insert_new(tables.privacy_events, site=site, round=round, event=event)

    def privacy_events(self, site: str) -> list[str]:
        query = (
            select(tables.privacy_events.c.event)
            .where(tables.privacy_events.c.site == site)
            .order_by(tables.privacy_events.c.round)
        )
        with self._engine.begin() as c:
            return [str(value) for value in c.execute(query).scalars()]

    def record_rejection(self, site: str, reason: str, detail: str, at: str) -> None:
        with self._write() as c:
            c.execute(tables.rejections.insert().values(site=site, reason=reason, detail=detail, at=at))

    def rejections(self) -> list[tuple[str, str, str, str]]:
        query = select(
            tables.rejections.c.site,
            tables.rejections.c.reason,
            tables.rejections.c.detail,
            tables.rejections.c.at,
        )
        with self._engine.begin() as c:
            rows = c.execute(query.order_by(tables.rejections.c.seq)).all()
        return [(row.site, row.reason, row.detail, row.at) for row in rows]

    def use_nonce(self, site: str, nonce: str, at: float) -> bool:
        return self._insert_new(tables.nonces, site=site, nonce=nonce, at=at)

    def forget_nonces(self, before: float) -> None:
        with self._write() as c:
            c.execute(delete(tables.nonces).where(tables.nonces.c.at < before))

    def seen(self, site: str, at: str) -> None:
        self._upsert(tables.sites_seen, ["site"], site=site, at=at)

    def last_seen(self) -> dict[str, str]:
        with self._engine.begin() as c:
            return {row.site: row.at for row in c.execute(select(tables.sites_seen))}

    def close(self) -> None:
        if hasattr(self, "_engine"):
            self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStateStore({self.url!r})"


def _task_record(row: Any) -> TaskRecord:
    return TaskRecord(
        task_id=row.task_id,
        site=row.site,
        round=row.round,
        kind=row.kind,
        body=row.body,
        body_sha256=row.body_sha256,
    )
