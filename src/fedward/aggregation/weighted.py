"""Streaming sample-weighted mean of parameter sets (the FedAvg average, McMahan et al. 2017).

Updates are folded in one at a time, so the coordinator holds one accumulator, not every site's update.
The sum is float32 and updated in place with BLAS `saxpy` (y <- a*x + y in one pass), which keeps it
within a small factor of a plain numpy weighted sum in time and needs no temporary arrays.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.linalg.blas import saxpy

from fedward.core.arrays import Arrays, FloatArray

__all__ = ["WeightedMean"]


class WeightedMean:
    def __init__(self) -> None:
        self._sum: Arrays | None = None
        self._total = 0.0
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self, arrays: Mapping[str, FloatArray], weight: float) -> None:
        """Fold in `weight * arrays`; weight is usually the site's number of training samples."""
        if not weight > 0:
            raise ValueError(f"weight must be positive, got {weight}")
        if self._sum is None:
            self._sum = {k: np.zeros(a.shape, dtype=np.float32) for k, a in arrays.items()}
        if arrays.keys() != self._sum.keys():
            raise ValueError(f"parameter names differ: {sorted(set(arrays) ^ set(self._sum))}")
        for k, a in arrays.items():
            acc = self._sum[k]
            if a.shape != acc.shape:
                raise ValueError(f"tensor {k!r}: shape {a.shape} != {acc.shape}")
            x = np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
            out = saxpy(x, acc.reshape(-1), a=float(weight))
            if not np.shares_memory(out, acc):  # BLAS may hand back a copy for unusual layouts
                acc.reshape(-1)[...] = out
        self._total += float(weight)
        self._count += 1

    def mean(self) -> Arrays:
        """The weighted mean, in new arrays; the accumulator keeps its sum (benchmarks/overhead.py reads
        it repeatedly; the round itself uses `result`)."""
        if self._sum is None:
            raise ValueError("no updates to average")
        scale = np.float32(1.0 / self._total)
        return {k: s * scale for k, s in self._sum.items()}

    def result(self) -> Arrays:
        """The weighted mean, scaled in place in the sum (no second model-sized buffer): the round's last
        use of the accumulator, which is empty afterwards."""
        if self._sum is None:
            raise ValueError("no updates to average")
        scale = np.float32(1.0 / self._total)
        mean, self._sum = self._sum, None
        for s in mean.values():
            s *= scale
        self._total, self._count = 0.0, 0
        return mean
