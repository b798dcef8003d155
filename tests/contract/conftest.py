"""Fixtures of the contract suite: `backend` is parametrized over memory, SQLite and PostgreSQL (see
backends.py for how the PostgreSQL cases find a server, and skip or fail without one), `durable_backend`
over the two that survive a restart, and `state_store` is a store opened on `backend`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import Backend, make_backend

from fedward.coordinator.state import StateStore


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The backends that keep state across a restart (the in-memory store does not, by design)."""
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def state_store(backend: Backend) -> StateStore:
    return backend.open()
