"""Which sites train in a round: a seeded sample of `ceil(fraction * n)` sites, at least `min_sites`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["select_sites"]


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
