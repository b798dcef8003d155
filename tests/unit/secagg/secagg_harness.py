"""Drive whole secure-aggregation sessions in memory for the tests, with sites dropping at chosen stages.

A site "drops" at a stage by never answering that stage's message; a site that refuses a message
(raises `ProtocolError`) is treated the same way, as a transport would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fedward.secagg import ProtocolError, SecAggCoordinator, SecAggSite, SessionParams


@dataclass(frozen=True)
class Drops:
    """Which sites stay silent at which stage."""

    before_advertise: frozenset[str] = frozenset()
    before_shares: frozenset[str] = frozenset()
    before_upload: frozenset[str] = frozenset()
    after_upload: frozenset[str] = frozenset()

    def at(self, stage: int) -> frozenset[str]:
        return (self.before_advertise, self.before_shares, self.before_upload, self.after_upload)[stage]


@dataclass
class Session:
    """A coordinator, its sites, their input vectors, and what each site refused."""

    params: SessionParams
    coordinator: SecAggCoordinator
    sites: dict[str, SecAggSite]
    vectors: dict[str, npt.NDArray[Any]]
    refused: dict[str, str] = field(default_factory=dict)

    def exact_sum(self, names: tuple[str, ...] | list[str]) -> npt.NDArray[Any]:
        total = np.zeros(self.params.length, dtype=self.params.dtype)
        for name in names:
            total += self.vectors[name]
        return total

    def deliver(self, outgoing: dict[str, bytes], silent: frozenset[str] = frozenset()) -> None:
        """Hand each message to its site and the reply back to the coordinator, skipping `silent` sites."""
        for name, message in sorted(outgoing.items()):
            if name in silent:
                continue
            try:
                reply = self.sites[name].receive(message)
            except ProtocolError as exc:
                self.refused[name] = str(exc)
                continue
            self.coordinator.receive(name, reply)


def site_names(n: int) -> tuple[str, ...]:
    return tuple(f"site-{i:02d}" for i in range(n))


def make_params(
    n: int,
    *,
    degree: int | None = None,
    threshold: int | None = None,
    length: int = 7,
    ring_bits: int = 32,
    session: bytes | None = None,
) -> SessionParams:
    return SessionParams.create(
        session if session is not None else os.urandom(32),
        site_names(n),
        degree=degree if degree is not None else n - 1,
        length=length,
        ring_bits=32 if ring_bits == 32 else 64,
        threshold=threshold,
    )


def random_vectors(params: SessionParams, seed: int) -> dict[str, npt.NDArray[Any]]:
    rng = np.random.default_rng(seed)
    high = 1 << params.ring_bits
    return {name: rng.integers(0, high, params.length, dtype=params.dtype) for name in params.sites}


def new_session(params: SessionParams, vectors: dict[str, npt.NDArray[Any]] | None = None) -> Session:
    vectors = vectors if vectors is not None else random_vectors(params, seed=len(params.sites))
    sites = {name: SecAggSite(params, name, vectors[name]) for name in params.sites}
    return Session(params, SecAggCoordinator(params), sites, vectors)


def advance_to(session: Session, stage: int, drops: Drops = Drops()) -> dict[str, bytes]:
    """Run the session up to the coordinator's messages that open `stage`.

    Stage 1 is the key directories, 2 the inboxes, 3 the unmask requests; sites in `drops.at(s)` stay
    silent when stage s is delivered, and `drops.before_advertise` never start.
    """
    for name in session.params.sites:
        if name not in drops.before_advertise:
            session.coordinator.receive(name, session.sites[name].start())
    outgoing = session.coordinator.advance()
    for step in range(1, stage):
        session.deliver(outgoing, drops.at(step))
        outgoing = session.coordinator.advance()
    return outgoing


def run_session(params: SessionParams, drops: Drops = Drops(), seed: int = 0) -> Session:
    """A full session; raises `AbortError` where the coordinator aborts."""
    session = new_session(params, random_vectors(params, seed))
    outgoing = advance_to(session, 3, drops)
    session.deliver(outgoing, drops.after_upload)
    assert session.coordinator.advance() == {}
    return session
