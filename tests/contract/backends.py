"""The places coordinator state can live, for the contract suite: memory, SQLite and PostgreSQL.

PostgreSQL needs a server: `FEDWARD_TEST_POSTGRES_URL` names one, and
`eval "$(scripts/postgres.sh start)"` starts one on loopback. Without it the PostgreSQL cases are skipped
with a reason that says so, except under CI=true, where they fail: CI must run them. Each PostgreSQL
test gets a schema of its own, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.schema import DropSchema

from fedward.coordinator.state import MemoryStateStore, SqlStateStore, StateStore, sql_url_for

POSTGRES_ENV = "FEDWARD_TEST_POSTGRES_URL"
NO_POSTGRES = "PostgreSQL not available: set FEDWARD_TEST_POSTGRES_URL or run scripts/postgres.sh"


@dataclass
class Backend:
    """One place state lives. `open()` opens another store on it, as a restarted coordinator would."""

    name: str
    url: str | None = None  # None for memory
    schema: str | None = None  # PostgreSQL: this test's own schema
    opened: list[StateStore] = field(default_factory=list)

    def open(self) -> StateStore:
        store: StateStore = (
            MemoryStateStore() if self.url is None else SqlStateStore(self.url, schema=self.schema)
        )
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


def postgres_url() -> str:
    """The test server's URL; skips the test (fails it under CI=true) when there is none."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{NO_POSTGRES} (CI=true: the PostgreSQL contract tests must run)")
        pytest.skip(NO_POSTGRES)
    return url


def _drop_schema(url: str, schema: str) -> None:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed)
    try:
        with engine.begin() as c:
            c.execute(DropSchema(schema, cascade=True, if_exists=True))
    finally:
        engine.dispose()


def make_backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty backend of kind `name`; cleaned up when the generator is closed."""
    if name == "memory":
        chosen = Backend("memory")
    elif name == "sqlite":
        chosen = Backend("sqlite", url=sql_url_for(tmp_path / "state.db"))
    else:
        chosen = Backend("postgresql", url=postgres_url(), schema=f"test_{uuid.uuid4().hex[:16]}")
    yield chosen
    chosen.close_all()
    if chosen.schema is not None and chosen.url is not None:
        _drop_schema(chosen.url, chosen.schema)
