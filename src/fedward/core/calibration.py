"""Calibration and confidence: Wilson score intervals, the reliability diagram and expected calibration
error (ECE), and the confidence threshold that reaches a target accuracy.

- `wilson_interval(k, n)`: the Wilson score interval for a proportion (Wilson 1927, "Probable inference,
  the law of succession, and statistical inference"), at 95% by default; it stays inside [0, 1] and is
  sensible for small n and for k = 0 or k = n, where the normal interval is not.
- `reliability(confidence, correct)`: per equal-width confidence bin (15 bins on [0, 1]; bin i holds
  (i/15, (i+1)/15], bin 0 also holds 0), the count, the correct count and the summed confidence. These
  three lists are what leaves a site: from them the coordinator draws the diagram and computes the ECE
  (`ece_from_bins`), the weighted mean over bins of |accuracy - mean confidence| (Guo et al. 2017, "On
  calibration of modern neural networks").
- `choose_threshold(confidence, correct, target)`: the lowest confidence t such that the records with
  confidence >= t reach `target` accuracy: the threshold that automates the most while meeting the
  target on the split it is chosen on. None when no threshold does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "NUM_BINS",
    "Reliability",
    "choose_threshold",
    "ece_from_bins",
    "expected_calibration_error",
    "reliability",
    "wilson_interval",
]

NUM_BINS = 15
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: how many records, how many of them correct, and their summed confidence."""

    n: tuple[int, ...]
    correct: tuple[int, ...]
    confidence_sum: tuple[float, ...]

    @property
    def ece(self) -> float | None:
        return ece_from_bins(self.n, self.correct, self.confidence_sum)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for `successes` out of `n`; None when n is 0 (nothing to say)."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: {successes} successes out of {n}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, no rounding residue
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _bin_index(confidence: npt.NDArray[np.float64], bins: int) -> npt.NDArray[np.int64]:
    idx = np.ceil(confidence * bins).astype(np.int64) - 1
    return np.clip(idx, 0, bins - 1)


def reliability(confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = NUM_BINS) -> Reliability:
    """The reliability diagram's bins of `confidence` (the top class probability, in [0, 1]) and
    `correct` (whether the top class was right)."""
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    hits = np.asarray(correct, dtype=bool).ravel()
    if conf.shape != hits.shape:
        raise ValueError(f"reliability: {conf.size} confidences for {hits.size} records")
    if conf.size and (conf.min() < 0 or conf.max() > 1 or not np.isfinite(conf).all()):
        raise ValueError("reliability: confidences must lie in [0, 1]")
    idx = _bin_index(conf, bins)
    n = np.bincount(idx, minlength=bins)
    right = np.bincount(idx, weights=hits.astype(np.float64), minlength=bins)
    total = np.bincount(idx, weights=conf, minlength=bins)
    return Reliability(
        tuple(int(v) for v in n), tuple(int(v) for v in np.rint(right)), tuple(float(v) for v in total)
    )


def ece_from_bins(n: Sequence[int], correct: Sequence[int], confidence_sum: Sequence[float]) -> float | None:
    """Expected calibration error from reliability bins: sum over bins of n_b / N * |acc_b - conf_b|;
    None when the bins hold no record."""
    total = sum(n)
    if total == 0:
        return None
    gap = sum(abs(c - s) for k, c, s in zip(n, correct, confidence_sum, strict=True) if k)
    return float(gap / total)  # n_b/N * |c_b/n_b - s_b/n_b| = |c_b - s_b| / N


def expected_calibration_error(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = NUM_BINS
) -> float | None:
    return reliability(confidence, correct, bins).ece


def choose_threshold(confidence: npt.ArrayLike, correct: npt.ArrayLike, target: float) -> float | None:
    """The lowest confidence t among the records' own such that the records with confidence >= t are
    right at least a `target` share of the time; None when no record set reaches it (or no records)."""
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    hits = np.asarray(correct, dtype=bool).ravel()
    if conf.shape != hits.shape:
        raise ValueError(f"choose_threshold: {conf.size} confidences for {hits.size} records")
    if conf.size == 0:
        return None
    order = np.argsort(-conf, kind="stable")
    conf, hits = conf[order], hits[order]
    accuracy = np.cumsum(hits) / np.arange(1, conf.size + 1)
    # a threshold keeps every record of equal confidence: look only at the last of each run of ties
    last = np.append(conf[1:] != conf[:-1], True)
    ok = np.flatnonzero(last & (accuracy >= target - 1e-12))
    if ok.size == 0:
        return None
    return float(conf[ok[-1]])
