"""Noise calibration: the smallest noise multiplier whose reported epsilon meets a target.

The answer is checked with the very function that will later account for the spend (`compute_epsilon`),
so a calibrated run can never report more than its target. Each stage brackets the answer between a noise
multiplier that fails and one that meets the target, solves by Brent's method in log-log coordinates, and
keeps the smallest evaluated point that meets it:

1. with the RDP bound alone (milliseconds per evaluation; Mironov 2017), an upper bound on the reported
   epsilon, so its answer already meets the target;
2. full batches: with the exact Gaussian-DP curve (Dong, Roth & Su 2019), which is what `compute_epsilon`
   reports for them. Subsampled: with PLD on a 10x coarser grid (10x cheaper, still a valid bound, within
   about 0.3% of the reported value), then one evaluation of the reported value a factor (1 + rtol) lower
   shows the answer is tight; where it is not, the search goes on with the reported value itself.

For a single full-batch release this is the analytic Gaussian mechanism of Balle & Wang (2018), e.g. sigma
= 3.7306 at epsilon 1, delta 1e-5. The classic sigma = sqrt(2 ln(1.25/delta))/epsilon (Dwork & Roth 2014,
Theorem A.1) is never used: it is loose below epsilon 1 and invalid above it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.optimize import brentq

from fedward.privacy.accountant import compute_epsilon, rdp_epsilon
from fedward.privacy.events import PrivacyEvent
from fedward.privacy.gaussian_dp import gdp_epsilon

__all__ = ["MAX_NOISE_MULTIPLIER", "MIN_NOISE_MULTIPLIER", "calibrate_noise_multiplier"]

MIN_NOISE_MULTIPLIER = 0.1  # search floor: a target met even here gets the floor, i.e. more noise than needed
MAX_NOISE_MULTIPLIER = 1e4

_Epsilon = Callable[[float], float]


def _memo(fn: _Epsilon) -> _Epsilon:
    seen: dict[float, float] = {}

    def wrapped(sigma: float) -> float:
        if sigma not in seen:
            seen[sigma] = fn(sigma)
        return seen[sigma]

    return wrapped


def _solve(eps: _Epsilon, target: float, lo: float, hi: float, rtol: float) -> float:
    """Smallest evaluated sigma in [lo, hi] with eps(sigma) <= target; needs eps(lo) > target >= eps(hi)."""
    feasible = [hi]

    def gap(log_sigma: float) -> float:
        sigma = math.exp(log_sigma)
        value = eps(sigma)
        if value <= target:
            feasible.append(sigma)
        return math.log(min(max(value, 1e-300), 1e300) / target)  # log-log is close to linear: fewer steps

    brentq(gap, math.log(lo), math.log(hi), xtol=rtol / 2, maxiter=200)
    return min(feasible)


def _bracket(eps: _Epsilon, target: float, start: float, factor: float) -> tuple[float, float]:
    """(lo, hi) with eps(hi) <= target and either eps(lo) > target or lo at the floor.

    Walks up from `start` by `factor` until the target is met, then guesses lo from the rough law
    epsilon ~ 1/sigma (an undershoot where epsilon falls faster, as it does under subsampling) and walks
    down by `factor` while the guess still meets the target.
    """
    hi = start
    while eps(hi) > target:
        if hi >= MAX_NOISE_MULTIPLIER:
            raise ValueError(
                f"target epsilon {target} is unreachable: even noise_multiplier {MAX_NOISE_MULTIPLIER:g} "
                f"gives epsilon {eps(hi):.4g}; spend fewer steps, sample less, or relax the target"
            )
        hi = min(hi * factor, MAX_NOISE_MULTIPLIER)
    lo = max(min(hi * eps(hi) / target, hi) / 1.02, MIN_NOISE_MULTIPLIER)
    while lo > MIN_NOISE_MULTIPLIER and eps(lo) <= target:
        hi, lo = lo, max(lo / factor, MIN_NOISE_MULTIPLIER)
    return lo, hi


def _search(eps: _Epsilon, target: float, start: float, factor: float, rtol: float) -> float:
    lo, hi = _bracket(eps, target, start, factor)
    return lo if eps(lo) <= target else _solve(eps, target, lo, hi, rtol)  # eps(lo) <= target: the floor


def _validate(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> None:
    if not (math.isfinite(target_epsilon) and target_epsilon > 0):
        raise ValueError(f"target epsilon must be a finite number > 0, got {target_epsilon}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    PrivacyEvent(1.0, sample_rate, steps)  # validates sample_rate and steps


def _polish(reported: _Epsilon, target: float, start: float, rtol: float) -> float:
    """Finish a search done with a looser bound: `start` meets the target under that bound, so it almost
    always meets it under `reported` too; one more evaluation, a factor (1 + rtol) lower, shows whether
    it is also tight. Falls back to a full search where it is not."""
    if reported(start) > target:  # the looser bound was not looser here: search upwards
        return _search(reported, target, start, 1.15, rtol)
    lo = start / (1 + rtol)
    if lo < MIN_NOISE_MULTIPLIER or reported(lo) > target:
        return start
    return _search(reported, target, lo, 1.15, rtol)


def calibrate_noise_multiplier(
    target_epsilon: float, delta: float, sample_rate: float, steps: int, *, rtol: float = 2e-3
) -> float:
    """The smallest noise multiplier, to within a factor (1 + rtol), such that
    `compute_epsilon([PrivacyEvent(sigma, sample_rate, steps)], delta).epsilon <= target_epsilon`.

    Raises ValueError for a target no noise multiplier up to `MAX_NOISE_MULTIPLIER` reaches. Returns
    `MIN_NOISE_MULTIPLIER` when even that meets the target.
    """
    _validate(target_epsilon, delta, sample_rate, steps)

    def events(sigma: float) -> list[PrivacyEvent]:
        return [PrivacyEvent(sigma, sample_rate, steps)]

    reported = _memo(lambda sigma: compute_epsilon(events(sigma), delta).epsilon)
    rdp = _memo(lambda sigma: rdp_epsilon(events(sigma), delta))
    sigma = _search(rdp, target_epsilon, 1.0, 2.0, 1e-2)
    if sample_rate == 1.0:  # the exact curve is what `reported` gives for full batches, without PLD work
        exact = _memo(lambda sigma: gdp_epsilon(math.sqrt(steps) / sigma, delta))
        sigma = _search(exact, target_epsilon, sigma, 1.15, rtol / 4)
    else:  # PLD at a 10x coarser grid is 10x cheaper and lies within about 0.3% of the reported value
        coarse = _memo(lambda sigma: compute_epsilon(events(sigma), delta, pld_discretization=1e-3).epsilon)
        sigma = _polish(
            reported, target_epsilon, _search(coarse, target_epsilon, sigma, 1.15, rtol / 4), rtol
        )
    for _ in range(100):  # the final word belongs to the reporting function itself
        if reported(sigma) <= target_epsilon:
            return sigma
        sigma *= 1 + rtol
    raise RuntimeError(f"calibration did not converge for target epsilon {target_epsilon}")
