"""The tables of the coordinator's journal (SQLAlchemy Core), and the schema version they make.

One table per kind of record of fedward/coordinator/state/base.py. The unique keys are the contract:
`tasks.task_id`, `replies.task_id`, `privacy_events (site, round)`, `nonces (site, nonce)`, `meta.key`
and `recorded (stream, idx)` are what make the first writer win when several race. `tasks.seq` keeps
the order tasks were sent. Change a table and `SCHEMA_VERSION` must change with it: `SqlStateStore`
refuses a database written with another version.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, ForeignKey, Integer, MetaData, Table, Text

__all__ = [
    "METADATA",
    "SCHEMA_VERSION",
    "meta",
    "nonces",
    "privacy_events",
    "recorded",
    "rejections",
    "replies",
    "rounds",
    "schema_version",
    "sites_seen",
    "tasks",
]

SCHEMA_VERSION = 1

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY
METADATA = MetaData()
meta = Table("meta", METADATA, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))
recorded = Table(
    "recorded",
    METADATA,
    Column("stream", Text, primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Text, nullable=False),
)
tasks = Table(
    "tasks",
    METADATA,
    Column("seq", _ID, primary_key=True, autoincrement=True),  # the order tasks were sent
    Column("task_id", Text, nullable=False, unique=True),
    Column("site", Text, nullable=False, index=True),
    Column("round", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("body_sha256", Text, nullable=False),
    sqlite_autoincrement=True,
)
replies = Table(
    "replies",
    METADATA,
    Column("task_id", Text, ForeignKey("tasks.task_id"), primary_key=True),
    Column("site", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("received", Text, nullable=False),
)
rounds = Table(
    "rounds",
    METADATA,
    Column("round", Integer, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
)
privacy_events = Table(
    "privacy_events",
    METADATA,
    Column("site", Text, primary_key=True),
    Column("round", Integer, primary_key=True, autoincrement=False),
    Column("event", Text, nullable=False),
)
rejections = Table(
    "rejections",
    METADATA,
    Column("seq", _ID, primary_key=True, autoincrement=True),
    Column("site", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", Text, nullable=False),
    sqlite_autoincrement=True,
)
nonces = Table(
    "nonces",
    METADATA,
    Column("site", Text, primary_key=True),
    Column("nonce", Text, primary_key=True),
    Column("at", Double, nullable=False, index=True),
)
sites_seen = Table(
    "sites_seen", METADATA, Column("site", Text, primary_key=True), Column("at", Text, nullable=False)
)
schema_version = Table(
    "schema_version",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)
