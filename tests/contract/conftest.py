"""Fixtures of the contract suite: `backend` is parametrized over memory, SQLite and PostgreSQL (see
backends.py for how the PostgreSQL cases find a server, and skip or fail without one), `durable_backend`
over the two that survive a restart, and `state_store` is a store opened on `backend`. `connect` is
parametrized over the transports (transports.py): it connects site handlers over one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from backends import Backend, make_backend
from transports import TRANSPORTS, Connected, connector

from fedward.coordinator.state import StateStore
from fedward.transport import SiteHandler


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


@pytest.fixture(params=TRANSPORTS)
def connect(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[Sequence[SiteHandler]], Connected]]:
    """Connects site handlers over each transport in turn; closed (sites stopped) after the test."""
    yield from connector(request.param, tmp_path)
