"""Byzantine-robust aggregation rules: each combines the round's individual site models so that a minority
of sites sending arbitrary updates cannot move the global model far.

- `trimmed_mean`: the coordinate-wise trimmed mean (Yin, Chen, Ramchandran & Bartlett, "Byzantine-Robust
  Distributed Learning: Towards Optimal Statistical Rates", ICML 2018): in each coordinate drop the
  k = floor(trim_fraction * n) largest and k smallest values and average the rest. It tolerates f
  attackers while k >= f.
- `krum` and `multikrum` (Blanchard, El Mhamdi, Guerraoui & Stainer, "Machine Learning with Adversaries:
  Byzantine Tolerant Gradient Descent", NeurIPS 2017): each model's score is the sum of its squared
  distances to its n - f - 2 nearest others; Krum keeps the lowest-scoring model, Multi-Krum the mean of
  the m lowest (scores computed once, as in Flower and most reimplementations). Needs n >= 2f + 3.
- `centered_clip` (Karimireddy, He & Jaggi, "Learning from History for Byzantine Robust Optimization",
  ICML 2021): v <- v + mean_i clip(x_i - v, tau), repeated `iterations` times, from v = the current global
  model (the paper starts from the previous aggregate with worker momentum; fedward sites keep none).
  Tolerates a minority of attackers (2f < n).

Every rule works on the sites' models flattened to float64, ignores sample weights (a site could inflate
its own) and needs each individual model, so none runs under secure aggregation (the config refuses it).
The tolerance each states is checked at config load against the listed sites and again here against the
sites that actually replied: too few, and `result` raises `TooFewUpdates`, which the round records as its
reason for keeping the old model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from fedward.aggregation.base import Strategy, TooFewUpdates
from fedward.core.arrays import Arrays, FloatArray, flatten, unflatten

__all__ = [
    "CenteredClip",
    "Krum",
    "MultiKrum",
    "RobustCollector",
    "TrimmedMean",
    "centered_clip",
    "krum_scores",
    "multikrum",
    "trimmed_mean",
]

Matrix = npt.NDArray[np.float64]


def trimmed_mean(x: Matrix, k: int) -> npt.NDArray[np.float64]:
    """Coordinate-wise mean of the rows of `x` after dropping the k largest and k smallest per column."""
    n = x.shape[0]
    if not 0 <= 2 * k < n:
        raise TooFewUpdates(f"trimmed mean: trimming {k} per side leaves nothing of {n} updates")
    ordered = np.sort(x, axis=0)
    out: npt.NDArray[np.float64] = ordered[k : n - k].mean(axis=0)
    return out


def krum_scores(x: Matrix, f: int) -> npt.NDArray[np.float64]:
    """Each row's Krum score: the sum of squared distances to its n - f - 2 nearest other rows."""
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    np.fill_diagonal(d2, np.inf)
    nearest = np.sort(d2, axis=1)[:, : n - f - 2]
    out: npt.NDArray[np.float64] = nearest.sum(axis=1)
    return out


def multikrum(x: Matrix, f: int, m: int) -> npt.NDArray[np.float64]:
    """The mean of the m rows with the lowest Krum scores (m = 1: Krum); ties go to the earlier row."""
    n = x.shape[0]
    if n < 2 * f + 3:
        raise TooFewUpdates(f"krum needs n >= 2f + 3 = {2 * f + 3} updates for f = {f}, got {n}")
    if m > n - f:
        raise TooFewUpdates(f"multikrum_m = {m} is more than n - f = {n - f} ({n} updates, f = {f})")
    chosen = np.argsort(krum_scores(x, f), kind="stable")[:m]
    out: npt.NDArray[np.float64] = x[chosen].mean(axis=0)
    return out


def centered_clip(x: Matrix, center: npt.NDArray[np.float64], tau: float, iterations: int) -> Matrix:
    """`iterations` steps of v <- v + mean_i(clip_tau(x_i - v)) from v = `center`."""
    v = center.astype(np.float64, copy=True)
    for _ in range(iterations):
        diff = x - v
        norms = np.linalg.norm(diff, axis=1)
        scale = np.minimum(1.0, tau / np.maximum(norms, np.finfo(np.float64).tiny))
        v = v + (diff * scale[:, None]).mean(axis=0)
    out: Matrix = v
    return out


class RobustCollector:
    """Keeps each site's model (flattened to float64) and combines them with a robust rule at the end."""

    def __init__(self, rule: Strategy, start: Mapping[str, FloatArray]) -> None:
        self._rule, self._start = rule, start
        self._rows: list[npt.NDArray[np.float64]] = []
        self._names = frozenset(start)

    @property
    def count(self) -> int:
        return len(self._rows)

    def add(self, arrays: Mapping[str, FloatArray], weight: float) -> None:
        if not weight > 0:
            raise ValueError(f"weight must be positive, got {weight}")
        if arrays.keys() != self._names:
            raise ValueError(f"parameter names differ: {sorted(set(arrays) ^ self._names)}")
        self._rows.append(flatten(arrays))

    def result(self) -> Arrays:
        if not self._rows:
            raise ValueError("no updates to combine")
        x, self._rows = np.stack(self._rows), []
        assert isinstance(self._rule, _Robust)
        return unflatten(self._rule.combine(x, flatten(self._start)), self._start)


class _Robust(Strategy):
    """A rule over individual models: `combine` turns the stacked rows into the next model."""

    requires_individual_updates = True

    def accumulator(self, start: Mapping[str, FloatArray] | None = None) -> RobustCollector:
        if start is None:
            raise ValueError(f"{self.name} needs the round's start model to combine updates")
        return RobustCollector(self, start)

    def combine(self, x: Matrix, start: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def aggregate(
        self, global_params: Mapping[str, FloatArray], mean_params: Mapping[str, FloatArray]
    ) -> Arrays:
        return {k: np.asarray(v, dtype=np.float32) for k, v in mean_params.items()}


class TrimmedMean(_Robust):
    name = "trimmed_mean"

    def __init__(self, trim_fraction: float, byzantine_sites: int | None = None) -> None:
        if not 0 < trim_fraction < 0.5:
            raise ValueError(f"trim_fraction must be in (0, 0.5), got {trim_fraction}")
        self.trim_fraction, self.byzantine_sites = trim_fraction, byzantine_sites

    def trimmed(self, n: int) -> int:
        """How many values each side of each coordinate are dropped with n updates."""
        return math.floor(self.trim_fraction * n)

    def combine(self, x: Matrix, start: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        n, k = x.shape[0], self.trimmed(x.shape[0])
        f = self.byzantine_sites
        if f is not None and k < f:
            raise TooFewUpdates(
                f"trimmed mean with {n} updates trims {k} per side (trim_fraction = {self.trim_fraction}), "
                f"fewer than byzantine_sites = {f}"
            )
        return trimmed_mean(x, k)


class MultiKrum(_Robust):
    name = "multikrum"

    def __init__(self, byzantine_sites: int, m: int) -> None:
        if byzantine_sites < 0 or m < 1:
            raise ValueError(f"need byzantine_sites >= 0 and m >= 1, got {byzantine_sites}, {m}")
        self.byzantine_sites, self.m = byzantine_sites, m

    def combine(self, x: Matrix, start: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return multikrum(x, self.byzantine_sites, self.m)


class Krum(MultiKrum):
    name = "krum"

    def __init__(self, byzantine_sites: int) -> None:
        super().__init__(byzantine_sites, 1)


class CenteredClip(_Robust):
    name = "centered_clip"

    def __init__(self, tau: float, iterations: int, byzantine_sites: int | None = None) -> None:
        if not (math.isfinite(tau) and tau > 0) or iterations < 1:
            raise ValueError(f"need clip_tau > 0 and iterations >= 1, got {tau}, {iterations}")
        self.tau, self.iterations, self.byzantine_sites = tau, iterations, byzantine_sites

    def combine(self, x: Matrix, start: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        f, n = self.byzantine_sites, x.shape[0]
        if f is not None and 2 * f >= n:
            raise TooFewUpdates(f"centered clip needs more than 2f = {2 * f} updates, got {n}")
        return centered_clip(x, start, self.tau, self.iterations)
