"""Privacy accounting: (epsilon, delta) of a sequence of privacy events, always recomputed from the events.

`compute_epsilon` composes the events with two accountants from Google's dp-accounting library, both for
the add/remove-one relation and both valid upper bounds:

- RDP (Renyi DP; Mironov 2017; Mironov, Talwar & Zhang 2019 for the sampled Gaussian mechanism), cheap;
- PLD (privacy loss distributions; Koskela et al. 2020; Doroshenko et al. 2022), pessimistic
  discretization with interval 1e-4, tighter but costlier (about 0.3 s for 2250 steps here).

When every event has sample_rate 1 (full-batch Gaussian), the exact value from Gaussian DP
(`gaussian_dp`; Dong, Roth & Su 2019) is computed as well. The report gives the smallest of the valid
bounds and names the accountant it came from; when the exact value exists it is the one reported, since no
correct bound lies below it.

PLD is skipped where RDP already says epsilon > `PLD_EPSILON_CAP`: with small noise the PLD grid grows to
gigabytes and minutes (sigma 0.1, q 0.04, 2250 steps: 5 GB, 40 s), and such an epsilon protects no one,
so the RDP bound is reported there.

`Accountant` is the append-only log of events a coordinator or site keeps; a restarted coordinator
rebuilds it by replaying its journal, so it has no saved state of its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import dp_accounting as dpa
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant

from fedward.privacy.events import PrivacyEvent
from fedward.privacy.gaussian_dp import gdp_epsilon, gdp_mu

__all__ = [
    "PLD_DISCRETIZATION",
    "PLD_EPSILON_CAP",
    "Accountant",
    "AccountantName",
    "EpsilonReport",
    "compute_epsilon",
    "projected_epsilon",
    "rdp_epsilon",
]

AccountantName = Literal["exact", "pld", "rdp"]

PLD_DISCRETIZATION = 1e-4
PLD_EPSILON_CAP = 64.0
_RELATION = dpa.NeighboringRelation.ADD_OR_REMOVE_ONE


@dataclass(frozen=True)
class EpsilonReport:
    """The reported epsilon at `delta`, which accountant gave it, and every value computed."""

    epsilon: float
    delta: float
    accountant: AccountantName
    values: Mapping[AccountantName, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, str | float | dict[str, float]]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "accountant": self.accountant,
            "values": {str(name): value for name, value in self.values.items()},
        }


def _check_delta(delta: float) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
        raise ValueError(f"delta must be a number in (0, 1), got {delta!r}")


def _groups(events: Iterable[PrivacyEvent]) -> dict[tuple[float, float], int]:
    """Total steps per (noise_multiplier, sample_rate): equal events compose as one self-composition."""
    out: dict[tuple[float, float], int] = {}
    for e in events:
        key = (e.noise_multiplier, e.sample_rate)
        out[key] = out.get(key, 0) + e.steps
    return out


def _dp_event(groups: Mapping[tuple[float, float], int]) -> dpa.DpEvent:
    parts: list[dpa.DpEvent] = [
        dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)
        for (sigma, q), steps in groups.items()
    ]
    return parts[0] if len(parts) == 1 else dpa.ComposedDpEvent(parts)


class _DropConvergenceNotice(logging.Filter):
    """dp-accounting logs a warning each time a fractional RDP order fails to converge; it then drops
    that order, which only loosens the bound (still valid). Calibration meets it dozens of times."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "_compute_log_a_frac failed to converge" not in record.getMessage()


@contextmanager
def _quiet_rdp() -> Iterator[None]:
    logger, notice = logging.getLogger("absl"), _DropConvergenceNotice()
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


def _rdp(groups: Mapping[tuple[float, float], int], delta: float) -> float:
    accountant = RdpAccountant(neighboring_relation=_RELATION)
    with _quiet_rdp():  # the RDP orders are evaluated while composing
        accountant.compose(_dp_event(groups))
        return float(accountant.get_epsilon(delta))


def _pld(groups: Mapping[tuple[float, float], int], delta: float, discretization: float) -> float:
    accountant = PLDAccountant(neighboring_relation=_RELATION, value_discretization_interval=discretization)
    accountant.compose(_dp_event(groups))
    return float(accountant.get_epsilon(delta))


def rdp_epsilon(events: Iterable[PrivacyEvent], delta: float) -> float:
    """The RDP bound alone: a cheap upper bound on what `compute_epsilon` reports (to bracket searches)."""
    _check_delta(delta)
    groups = _groups(events)
    return _rdp(groups, delta) if groups else 0.0


def compute_epsilon(
    events: Iterable[PrivacyEvent], delta: float, *, pld_discretization: float = PLD_DISCRETIZATION
) -> EpsilonReport:
    """Epsilon at `delta` of all `events` composed: the smallest valid bound among RDP, PLD and, for
    full-batch events only, the exact Gaussian-DP value.

    A coarser `pld_discretization` is faster (10x at 1e-3) and still a valid, slightly looser, bound:
    the pessimistic PLD rounds every privacy loss up to its grid. Accounting uses the default.
    """
    _check_delta(delta)
    if not (math.isfinite(pld_discretization) and 0 < pld_discretization <= 0.1):
        raise ValueError(f"pld_discretization must be in (0, 0.1], got {pld_discretization}")
    groups = _groups(events)
    if not groups:
        return EpsilonReport(0.0, delta, "exact", {"exact": 0.0})
    values: dict[AccountantName, float] = {"rdp": _rdp(groups, delta)}
    if values["rdp"] <= PLD_EPSILON_CAP:
        values["pld"] = _pld(groups, delta, pld_discretization)
    if all(q == 1.0 for _, q in groups):
        values["exact"] = gdp_epsilon(gdp_mu([(sigma, steps) for (sigma, _), steps in groups.items()]), delta)
        return EpsilonReport(values["exact"], delta, "exact", values)
    best: AccountantName = min(values, key=lambda name: values[name])
    return EpsilonReport(values[best], delta, best, values)


def projected_epsilon(events: Iterable[PrivacyEvent], extra: PrivacyEvent, delta: float) -> EpsilonReport:
    """What `compute_epsilon` would report once `extra` is spent too: check a budget before spending."""
    return compute_epsilon([*events, extra], delta)


class Accountant:
    """Append-only log of privacy events; epsilon is recomputed from the log (memoized per length)."""

    def __init__(self, events: Iterable[PrivacyEvent] = ()) -> None:
        self._events: tuple[PrivacyEvent, ...] = ()
        self._memo: dict[tuple[int, float], EpsilonReport] = {}
        for event in events:
            self.record(event)

    @property
    def events(self) -> tuple[PrivacyEvent, ...]:
        return self._events

    def record(self, event: PrivacyEvent) -> None:
        if not isinstance(event, PrivacyEvent):
            raise TypeError(f"expected a PrivacyEvent, got {type(event).__name__}")
        self._events = (*self._events, event)

    def epsilon(self, delta: float) -> EpsilonReport:
        key = (len(self._events), delta)  # the log only grows, so its length identifies its content
        if key not in self._memo:
            self._memo[key] = compute_epsilon(self._events, delta)
        return self._memo[key]

    def projected(self, extra: PrivacyEvent, delta: float) -> EpsilonReport:
        return projected_epsilon(self._events, extra, delta)
