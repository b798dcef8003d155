"""FedMedian: the coordinate-wise median of the sites' models (Yin et al., ICML 2018), robust to a
minority of sites sending arbitrary updates.

Unlike every other strategy here it needs each site's individual model, so it keeps all of them in
memory for the round and cannot run under secure aggregation (the config refuses that combination).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fedward.aggregation.base import Strategy
from fedward.core.arrays import Arrays, FloatArray

__all__ = ["CoordinateMedian", "FedMedian"]


class CoordinateMedian:
    """Collects whole parameter sets and returns their coordinate-wise median (weights are ignored)."""

    def __init__(self) -> None:
        self._updates: list[Arrays] = []

    @property
    def count(self) -> int:
        return len(self._updates)

    def add(self, arrays: Mapping[str, FloatArray], weight: float) -> None:
        if not weight > 0:
            raise ValueError(f"weight must be positive, got {weight}")
        if self._updates and arrays.keys() != self._updates[0].keys():
            raise ValueError(f"parameter names differ: {sorted(set(arrays) ^ set(self._updates[0]))}")
        self._updates.append({k: np.array(v, dtype=np.float32) for k, v in arrays.items()})

    def result(self) -> Arrays:
        if not self._updates:
            raise ValueError("no updates to combine")
        first = self._updates[0]
        return {
            k: np.median(np.stack([u[k] for u in self._updates]), axis=0).astype(np.float32) for k in first
        }


class FedMedian(Strategy):
    name = "fedmedian"
    requires_individual_updates = True

    def accumulator(self, start: Mapping[str, FloatArray] | None = None) -> CoordinateMedian:
        return CoordinateMedian()

    def aggregate(
        self, global_params: Mapping[str, FloatArray], mean_params: Mapping[str, FloatArray]
    ) -> Arrays:
        return {k: np.asarray(v, dtype=np.float32) for k, v in mean_params.items()}
