"""Exact (epsilon, delta) of composed full-batch Gaussian mechanisms, by Gaussian differential privacy.

k Gaussian mechanisms with L2 sensitivity 1 and noise multipliers sigma_i compose to exactly mu-GDP with
mu = sqrt(sum_i 1/sigma_i^2) (Dong, Roth & Su 2019/2022, Corollary 3.3), and mu-GDP is (epsilon, delta)-DP
for every epsilon >= 0 with exactly

    delta(epsilon) = Phi(-epsilon/mu + mu/2) - e^epsilon Phi(-epsilon/mu - mu/2)

(Dong, Roth & Su, Corollary 2.13; the same curve as the analytic Gaussian mechanism of Balle & Wang 2018).
`gdp_epsilon` inverts that curve numerically, rounding the answer up so it stays a valid bound. This is the
tight value: any correct accountant (PLD, RDP) can only report as much or more.
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.special import log_ndtr, ndtr

__all__ = ["gdp_delta", "gdp_epsilon", "gdp_mu"]

_XTOL = 1e-12
_MAX_EPSILON = 1e6


def gdp_mu(noise_multipliers_and_steps: list[tuple[float, int]]) -> float:
    """mu of the composition: sqrt(sum(steps / sigma^2)) over (sigma, steps) pairs."""
    return math.sqrt(sum(steps / sigma**2 for sigma, steps in noise_multipliers_and_steps))


def gdp_delta(epsilon: float, mu: float) -> float:
    """delta(epsilon) of mu-GDP; the second term is taken in log space so e^epsilon cannot overflow."""
    if mu == 0:
        return 0.0
    first = float(ndtr(-epsilon / mu + mu / 2))
    second = math.exp(epsilon + float(log_ndtr(-epsilon / mu - mu / 2)))
    return max(0.0, first - second)


def gdp_epsilon(mu: float, delta: float) -> float:
    """The smallest epsilon >= 0 with gdp_delta(epsilon, mu) <= delta, to about 1e-12, rounded up."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if not mu >= 0 or not math.isfinite(mu):
        raise ValueError(f"mu must be finite and >= 0, got {mu}")
    if gdp_delta(0.0, mu) <= delta:
        return 0.0
    hi = max(1.0, mu * mu)
    while gdp_delta(hi, mu) > delta:
        hi *= 2
        if hi > _MAX_EPSILON:
            return math.inf
    root = float(brentq(lambda e: gdp_delta(e, mu) - delta, 0.0, hi, xtol=_XTOL, rtol=1e-15, maxiter=500))
    while gdp_delta(root, mu) > delta:  # brentq lands within xtol on either side; keep the safe side
        root += _XTOL * max(1.0, root)
    return root
