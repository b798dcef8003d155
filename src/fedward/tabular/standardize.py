"""Federated feature standardization: each site shares only its row count and the per-feature sums and
sums of squares of its training data; the coordinator combines them into the global mean and standard
deviation. The combination is exact (it equals standardizing the pooled rows) up to float64 rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureStats", "combine_stats", "feature_sums"]


@dataclass(frozen=True)
class FeatureStats:
    mean: npt.NDArray[np.float32]
    scale: npt.NDArray[np.float32]  # standard deviation, with constant features given scale 1

    def as_arrays(self) -> dict[str, npt.NDArray[np.float32]]:
        return {"feature_mean": self.mean, "feature_scale": self.scale}


def feature_sums(x: npt.NDArray[np.floating]) -> dict[str, npt.NDArray[np.float64]]:
    """What one site shares: its row count and per-feature sums and sums of squares (float64), and the
    per-feature count of non-missing cells (`present`); missing (NaN) cells are left out of the sums."""
    x64 = np.asarray(x, dtype=np.float64)
    return {
        "count": np.array([len(x64)], dtype=np.float64),
        "sum": np.nansum(x64, axis=0),
        "sumsq": np.nansum(x64 * x64, axis=0),
        "present": (~np.isnan(x64)).sum(axis=0).astype(np.float64),
    }


def combine_stats(parts: Iterable[Mapping[str, npt.NDArray[np.floating]]]) -> FeatureStats:
    """Combine per-site `count`, `sum` and `sumsq` arrays into the pooled mean and population std."""
    count = 0.0
    total: npt.NDArray[np.float64] | None = None
    total_sq: npt.NDArray[np.float64] | None = None
    for part in parts:
        count += float(part["count"][0])
        s, sq = np.asarray(part["sum"], np.float64), np.asarray(part["sumsq"], np.float64)
        total = s.copy() if total is None else total + s
        total_sq = sq.copy() if total_sq is None else total_sq + sq
    if total is None or total_sq is None or count <= 0:
        raise ValueError("no site statistics to combine")
    mean = total / count
    var = np.maximum(total_sq / count - mean * mean, 0.0)
    std = np.sqrt(var)
    scale = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return FeatureStats(mean.astype(np.float32), scale.astype(np.float32))
