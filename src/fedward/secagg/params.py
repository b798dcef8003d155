"""The parameters of one secure-aggregation session, identical at the coordinator and at every site.

A session is one round of one run: the coordinator draws a fresh random `session` id, selects `sites`,
and sends these parameters in the task; every site rebuilds the same neighbour graph from them
(Bell et al., CCS 2020). `threshold` is the number t of live shareholders needed to reconstruct a
site's secrets (Bonawitz et al., CCS 2017): it must be at least 2, at most the smallest shareholder set
(neighbours + itself), and a strict majority of the largest one, so that a coordinator which tells
different shareholders different alive/dropped stories can never gather t shares of both secrets of
one site (each shareholder answers one unmask request, so the two groups are disjoint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from fedward.secagg import wire
from fedward.secagg.errors import ProtocolError, SecAggConfigError
from fedward.secagg.graph import neighbours, shareholders
from fedward.secagg.quantize import ring_dtype

__all__ = ["MAX_LENGTH", "MAX_SITES", "SESSION_BYTES", "SessionParams"]

SESSION_BYTES = (16, 64)
"""Smallest and largest session id; 32 random bytes per run and round is the intended choice."""
MAX_SITES = 10_000
MAX_LENGTH = 1 << 31
_KIND = "secagg/params"
_KEYS = ("degree", "length", "ring_bits", "session", "sites", "threshold")


@dataclass(frozen=True)
class SessionParams:
    """Session id, selected sites (sorted), threshold t, SecAgg+ degree, vector length and ring size."""

    session: bytes
    sites: tuple[str, ...]
    threshold: int
    degree: int
    length: int
    ring_bits: Literal[32, 64]
    graph: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    holders: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_shape()
        graph = neighbours(self.sites, self.degree, self.session)
        object.__setattr__(self, "graph", graph)
        object.__setattr__(self, "holders", {site: shareholders(site, graph) for site in self.sites})
        sizes = [len(members) + 1 for members in graph.values()]
        low, high = min(sizes), max(sizes)
        if not 2 <= self.threshold <= low or 2 * self.threshold <= high:
            raise SecAggConfigError(
                f"threshold {self.threshold} must be at least 2, at most {low} (the smallest set of a site's "
                f"neighbours and itself at degree {self.degree}) and more than half of {high}",
                hint=f"use threshold {high // 2 + 1}..{low}" if high // 2 + 1 <= low else "raise degree",
            )

    @classmethod
    def create(
        cls,
        session: bytes,
        sites: tuple[str, ...] | list[str],
        *,
        degree: int,
        length: int,
        ring_bits: Literal[32, 64],
        threshold: int | None = None,
    ) -> SessionParams:
        """Sort `sites`; by default take the smallest valid threshold (the most dropouts tolerated)."""
        ordered = tuple(sorted(sites))
        if threshold is None:
            graph = neighbours(ordered, degree, session) if degree >= 1 and ordered else {}
            threshold = max((len(members) + 1 for members in graph.values()), default=0) // 2 + 1
        return cls(session, ordered, threshold, degree, length, ring_bits)

    def _check_shape(self) -> None:
        if (
            not isinstance(self.session, bytes)
            or not SESSION_BYTES[0] <= len(self.session) <= SESSION_BYTES[1]
        ):
            raise SecAggConfigError(f"the session id must be {SESSION_BYTES[0]}..{SESSION_BYTES[1]} bytes")
        if not 2 <= len(self.sites) <= MAX_SITES:
            raise SecAggConfigError(f"secure aggregation needs 2..{MAX_SITES} sites, got {len(self.sites)}")
        try:
            for name in self.sites:
                wire.check_site_name(name)
        except ProtocolError as exc:
            raise SecAggConfigError(str(exc)) from exc
        if list(self.sites) != sorted(set(self.sites)):
            raise SecAggConfigError("sites must be sorted and unique")
        for key, low, high in (
            ("threshold", 0, MAX_SITES),
            ("degree", 1, MAX_SITES),
            ("length", 1, MAX_LENGTH),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SecAggConfigError(f"secure aggregation {key} must be an integer in {low}..{high}")
        ring_dtype(self.ring_bits)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The ring dtype (uint32 or uint64) of the vectors in this session."""
        return ring_dtype(self.ring_bits)

    def neighbours_of(self, site: str) -> tuple[str, ...]:
        """The sites `site` shares keys and pairwise masks with (sorted)."""
        return self.graph[site]

    def shareholders_of(self, site: str) -> tuple[str, ...]:
        """The holders of `site`'s secret shares: its neighbours and itself (sorted)."""
        return self.holders[site]

    def share_x(self, owner: str, holder: str) -> int:
        """The x coordinate of `holder`'s share of `owner`'s secrets."""
        return self.shareholders_of(owner).index(holder) + 1

    def to_bytes(self) -> bytes:
        """Canonical JSON, for the task that carries the parameters to the sites."""
        fields = {key: getattr(self, key) for key in _KEYS if key not in ("session", "sites")}
        return wire.dumps(_KIND, {**fields, "session": wire.b64(self.session), "sites": list(self.sites)})

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionParams:
        """Parse `to_bytes` output; `ProtocolError` for bad encoding, `SecAggConfigError` for bad values."""
        body = wire.loads(data, _KIND, _KEYS)
        ring_bits = wire.read_int(body, "ring_bits", 32, 64)
        if ring_bits not in (32, 64):
            raise ProtocolError("field 'ring_bits' must be 32 or 64")
        return cls(
            session=wire.read_bytes(body["session"], "field 'session'", max_size=SESSION_BYTES[1]),
            sites=wire.read_names(body, "sites"),
            threshold=wire.read_int(body, "threshold", 0, MAX_SITES),
            degree=wire.read_int(body, "degree", 0, MAX_SITES),
            length=wire.read_int(body, "length", 0, MAX_LENGTH),
            ring_bits=32 if ring_bits == 32 else 64,
        )
