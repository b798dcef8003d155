"""Which sites train in a round: among the sites still admitted that round, a seeded sample of
`ceil(fraction * n)` of them, at least `min_sites`.

A site that is revoked or whose key expired (the observer no longer admits it, coordinator/observer.py)
leaves the selection from the next round on: the sample is drawn from the admitted sites in set-up order
with the same seeded procedure, `n` being how many are admitted. While no site drops out the selection is
exactly what it always was; once the eligible list shrinks, the rounds after draw from the shorter list
(still a pure function of the seed, the round and that list, so a replay selects the same sites).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["admitted_sites", "select_sites"]


def admitted_sites(sites: Sequence[str], admitted: Callable[[str, int], bool], round_: int) -> list[str]:
    """The sites `admitted(site, round_)` still admits, in `sites` order: the only ones a round may ask."""
    return [s for s in sites if admitted(s, round_)]


def select_sites(
    sites: Sequence[str], fraction: float, min_sites: int, *, seed: int, round_: int
) -> list[str]:
    """Sample without replacement, deterministically from (seed, round); result keeps `sites` order."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n = len(sites)
    k = min(n, max(min_sites, math.ceil(fraction * n)))
    if k == n:
        return list(sites)
    rng = np.random.default_rng(np.random.SeedSequence([seed, round_, 0x5E1EC7]))
    chosen = set(rng.choice(n, size=k, replace=False).tolist())
    return [s for i, s in enumerate(sites) if i in chosen]
