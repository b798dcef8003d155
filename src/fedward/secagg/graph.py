"""The SecAgg+ neighbour graph: who masks with whom and who holds whose secret shares.

Bell et al., "Secure single-server aggregation with (poly)logarithmic overhead", CCS 2020, replace the
complete graph of Bonawitz et al. (CCS 2017) with a sparse k-regular graph: each site shares keys and
pairwise masks only with its k neighbours, and its secrets are shared among its neighbours and itself.
Here the graph is a Harary graph over a permutation of the sites derived from the session id, so both
sides build it identically without any message, and it changes every session.

With `degree >= n - 1` the graph is complete (the original SecAgg). Otherwise each site links to the
`degree // 2` nearest sites on each side of the ring; an odd degree adds the opposite site when `n` is
even, and is rounded up to the next even number when `n` is odd (no odd-degree regular graph exists on
an odd number of vertices), so some graphs give every site `degree + 1` neighbours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["neighbours", "shareholders"]


def neighbours(sites: Sequence[str], degree: int, session: bytes) -> dict[str, tuple[str, ...]]:
    """Each site's neighbours (sorted), for a symmetric graph without self loops.

    Raises `ValueError` for duplicated sites or a degree below 1.
    """
    if len(set(sites)) != len(sites):
        raise ValueError("the site list has duplicates")
    if degree < 1:
        raise ValueError(f"the neighbour degree must be at least 1, got {degree}")
    n = len(sites)
    if degree >= n - 1:
        return {site: tuple(sorted(other for other in sites if other != site)) for site in sites}
    ring = sorted(sites, key=lambda site: _rank(session, site))
    offsets = set(range(1, (degree + 1) // 2 + 1) if degree % 2 and n % 2 else range(1, degree // 2 + 1))
    if degree % 2 and n % 2 == 0:
        offsets.add(n // 2)
    linked: dict[str, set[str]] = {site: set() for site in sites}
    for i, site in enumerate(ring):
        for offset in offsets:
            other = ring[(i + offset) % n]
            linked[site].add(other)
            linked[other].add(site)
    return {site: tuple(sorted(linked[site])) for site in sites}


def shareholders(site: str, graph: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The holders of `site`'s secret shares, sorted: its neighbours and itself.

    A holder's share of `site`'s secrets sits at x = (its index in this tuple) + 1.
    """
    return tuple(sorted((*graph[site], site)))


def _rank(session: bytes, site: str) -> bytes:
    encoded = site.encode()
    return hashlib.sha256(session + len(encoded).to_bytes(4, "big") + encoded).digest()
