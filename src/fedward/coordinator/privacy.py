"""The coordinator's privacy bookkeeping: noise calibration, per-site and federation accountants, and the
hard budget.

Record-level DP (`dp = "record"`): every site runs DP-SGD (Abadi et al. 2016) with its own noise
multiplier, calibrated from its Poisson sample rate (batch size / its training records) and the steps it
will take over all rounds; each site has its own accountant fed by the events its replies report. With
`[privacy] unit = "patient"` the unit sampled and clipped is the patient: the sample rate is batch size /
the site's distinct training patients (`n_patients` in its set-up description, `privacy_units`), and
epsilon is per patient.

Record-level DP with shared noise (`shared_noise = true`, secure aggregation required; distributed DP as
in Kairouz, Liu & Steinke 2021 and Truex et al. 2019): every site takes one full-batch DP-SGD step per
round (sample rate 1) and adds only its share of the noise, standard deviation `sigma * clip_norm /
sqrt(selected)`; its update is linear in its noisy gradient sum, so the sum that secure aggregation reveals
carries `sigma * clip_norm` in all, and a record's clipped gradient is protected by that. Each contributing
site's accountant records `sigma * sqrt(contributors / selected)` (dropouts leave less noise, as for
site-level DP). Each site also has an accountant for its own share alone (`epsilon_alone`): the guarantee
if secure aggregation failed or every other site colluded with the coordinator.

Site-level DP (`dp = "site"`, DP-FedAvg, McMahan et al. 2018): each round releases the sum of the
sites' clipped updates plus Gaussian noise of standard deviation `sigma * clip_norm`, one event per
round on the federation's accountant. No amplification from site sampling is claimed (sample rate 1).
Under secure aggregation each site adds its share of the noise, so when sites drop out the sum carries
less noise: the event records the effective multiplier `sigma * sqrt(contributors / selected)`, which
raises epsilon, and the round says so. The budget check before a round assumes the worst case
(`min_contributors` sites), so a round that could exceed `epsilon_budget` is never run.

Epsilon is always recomputed from the recorded events (fedward.privacy).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedward.config import DpMode, PrivacyConfig, PrivacyUnit
from fedward.coordinator.setup import FederationSetup
from fedward.core.arrays import Arrays, FloatArray, flatten, unflatten
from fedward.core.messages import JSONValue
from fedward.errors import FederationError
from fedward.privacy import (
    Accountant,
    PrivacyEvent,
    calibrate_noise_multiplier,
    dpsgd_schedule,
    secure_numpy_generator,
)
from fedward.settings import DpSettings

__all__ = ["FEDERATION", "NoisyClippedSum", "PrivacyState", "privacy_units", "record_dp_event"]

FEDERATION = "federation"  # the accountant key for site-level DP


def privacy_units(config: PrivacyConfig, setup: FederationSetup) -> dict[str, int]:
    """Each site's count of privacy units, from its set-up description: training records, or distinct
    training patients (`n_patients`) under `unit = "patient"`; a site that names no patients then stops
    the run, naming it."""
    if config.unit != PrivacyUnit.PATIENT:
        return {s: setup.descriptions[s].num_samples for s in setup.sites}
    out: dict[str, int] = {}
    for site in setup.sites:
        n = setup.descriptions[site].metrics.get("n_patients", 0.0)
        if n < 1:
            raise FederationError(
                f"site {site!r}: [privacy] unit = 'patient' but the site described no training patients",
                hint="give the site's data patient keys (labels.csv 'patient' column, [data] patient_column)",
            )
        out[site] = int(n)
    return out


def privacy_unit(config: PrivacyConfig) -> str | None:
    """Whom epsilon is for: 'record' or 'patient' under record-level DP, 'site' under site-level DP,
    None without DP."""
    if config.dp == DpMode.NONE:
        return None
    return "site" if config.dp == DpMode.SITE else config.unit.value


@dataclass(frozen=True)
class _SitePlan:
    noise_multiplier: float
    sample_rate: float
    steps_per_round: int


@dataclass
class PrivacyState:
    """What the coordinator knows and enforces about privacy spend during one run."""

    config: PrivacyConfig
    rounds: int
    min_contributors: int
    plans: dict[str, _SitePlan] = field(default_factory=dict)
    accountants: dict[str, Accountant] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None
    # where the coordinator's noise seeds come from (256 bits from `secrets`); a deployment journals them
    noise_entropy: Callable[[], int] = field(default=lambda: secrets.randbits(256))
    last_events: dict[str, PrivacyEvent] = field(default_factory=dict)  # the latest round's, by accountant
    # under shared noise: each site's spend from its own noise share alone (no trust in the others)
    alone: dict[str, Accountant] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        config: PrivacyConfig,
        *,
        rounds: int,
        epochs: int,
        batch_size: int,
        site_samples: Mapping[str, int],
        min_contributors: int,
    ) -> PrivacyState:
        state = cls(config, rounds, min_contributors)
        if config.shared_noise:
            sigma = state._noise(1.0, rounds)
            for site in site_samples:
                state.plans[site] = _SitePlan(sigma, 1.0, 1)
                state.accountants[site], state.alone[site] = Accountant(), Accountant()
        elif config.dp == DpMode.RECORD:
            cache: dict[tuple[float, int], float] = {}
            for site, n in site_samples.items():
                q, steps = dpsgd_schedule(batch_size, epochs, n)
                if (q, steps) not in cache:
                    cache[q, steps] = state._noise(q, steps * rounds)
                state.plans[site] = _SitePlan(cache[q, steps], q, steps)
                state.accountants[site] = Accountant()
        elif config.dp == DpMode.SITE:
            state.plans[FEDERATION] = _SitePlan(state._noise(1.0, rounds), 1.0, 1)
            state.accountants[FEDERATION] = Accountant()
        return state

    def _noise(self, sample_rate: float, total_steps: int) -> float:
        c = self.config
        if c.noise_multiplier is not None:
            return c.noise_multiplier
        assert c.target_epsilon is not None  # the config guarantees one of the two
        return calibrate_noise_multiplier(c.target_epsilon, c.delta, sample_rate, total_steps)

    @property
    def mode(self) -> DpMode:
        return self.config.dp

    def task_config(self, site: str, selected: int) -> dict[str, JSONValue]:
        """The privacy settings a site needs for its fit task (and checks against its policy)."""
        c = self.config
        noise_multiplier = self.plans[site].noise_multiplier if c.dp == DpMode.RECORD else None
        if c.shared_noise:
            assert noise_multiplier is not None
            noise_multiplier /= math.sqrt(selected)  # this site's share of the round's noise
        noise_std = None
        if c.dp == DpMode.SITE and c.secure_aggregation:
            # each site adds its share: `selected` shares of this variance sum to the target noise
            noise_std = self.plans[FEDERATION].noise_multiplier * c.clip_norm / math.sqrt(selected)
        return DpSettings.from_privacy(c, noise_multiplier=noise_multiplier, noise_std=noise_std).to_config()

    @property
    def central_noise_std(self) -> float:
        """Site-level DP without secure aggregation: the coordinator adds all the noise itself."""
        return self.plans[FEDERATION].noise_multiplier * self.config.clip_norm

    def blocked(self, selected: Sequence[str]) -> str | None:
        """Why the next round must not run (its worst case would exceed `epsilon_budget`), or None."""
        budget = self.config.epsilon_budget
        if budget is None or self.mode == DpMode.NONE:
            return None
        planned = self._planned_events(selected)
        for key, event in planned.items():
            eps = self.accountants[key].projected(event, self.config.delta).epsilon
            if eps > budget:
                who = "the federation" if key == FEDERATION else f"site {key}"
                return (
                    f"privacy budget: the next round would take {who} to epsilon {eps:.3f}, "
                    f"above epsilon_budget {budget:g}; stopping with the last good model"
                )
        return None

    def _planned_events(self, selected: Sequence[str]) -> dict[str, PrivacyEvent]:
        if self.config.shared_noise:
            return {s: self._shared_event(s, self.min_contributors, len(selected)) for s in selected}
        if self.mode == DpMode.RECORD:
            return {s: self._site_event(s) for s in selected}
        return {FEDERATION: self._federation_event(self.min_contributors, len(selected))}

    def _site_event(self, site: str) -> PrivacyEvent:
        p = self.plans[site]
        return PrivacyEvent(p.noise_multiplier, p.sample_rate, p.steps_per_round)

    def _shared_event(self, site: str, contributors: int, selected: int) -> PrivacyEvent:
        """A record's spend when `contributors` of `selected` sites each added a 1/selected share of the
        variance: the sum carries `sigma * sqrt(contributors / selected)` times the clip."""
        return PrivacyEvent(_shares_sum(self.plans[site].noise_multiplier, contributors, selected), 1.0, 1)

    def _federation_event(self, contributors: int, selected: int) -> PrivacyEvent:
        sigma = self.plans[FEDERATION].noise_multiplier
        if self.config.secure_aggregation:
            sigma = _shares_sum(sigma, contributors, selected)
        return PrivacyEvent(sigma, 1.0, 1)

    def record_round(
        self, site_events: Mapping[str, PrivacyEvent], contributors: int, selected: int
    ) -> str | None:
        """Record this round's spend (also kept in `last_events`); returns a note when dropouts raised
        the site-level epsilon."""
        note = None
        self.last_events = {}
        if self.config.shared_noise:
            return self._record_shared(site_events, contributors, selected)
        if self.mode == DpMode.RECORD:
            for site, event in site_events.items():
                self.accountants[site].record(event)
            self.last_events = dict(site_events)
        elif self.mode == DpMode.SITE and contributors > 0:
            event = self._federation_event(contributors, selected)
            self.accountants[FEDERATION].record(event)
            self.last_events = {FEDERATION: event}
            if contributors < selected and self.config.secure_aggregation:
                note = (
                    f"site-level DP: {contributors} of {selected} sites contributed noise; effective "
                    f"noise multiplier {event.noise_multiplier:.3f} instead of "
                    f"{self.plans[FEDERATION].noise_multiplier:.3f}"
                )
        if self.mode != DpMode.NONE:
            self.history.append(self.epsilons())
        return note

    def _record_shared(
        self, site_events: Mapping[str, PrivacyEvent], contributors: int, selected: int
    ) -> str | None:
        """Shared noise: the coordinator, not the site, knows how many shares the sum holds, so each
        contributor's event is computed here; what the site reports is its share alone."""
        note = None
        for site, own in site_events.items():
            event = self._shared_event(site, contributors, selected)
            self.accountants[site].record(event)
            self.alone[site].record(own)
            self.last_events[site] = event
        if site_events and contributors < selected:
            site = next(iter(site_events))
            sigma, planned = self.last_events[site].noise_multiplier, self.plans[site].noise_multiplier
            note = (
                f"shared noise: {contributors} of {selected} sites contributed noise; effective noise "
                f"multiplier {sigma:.3f} instead of {planned:.3f}"
            )
        self.history.append(self.epsilons())
        return note

    def epsilons(self) -> dict[str, float]:
        return {k: a.epsilon(self.config.delta).epsilon for k, a in self.accountants.items()}

    def summary(self) -> dict[str, Any]:
        c = self.config
        out: dict[str, Any] = {
            "mode": c.dp,
            "unit": privacy_unit(c),  # whom epsilon is for: record, patient, site (None without DP)
            "delta": c.delta if c.dp != DpMode.NONE else None,
        }
        if c.dp == DpMode.NONE:
            return out
        out.update(
            {
                "target_epsilon": c.target_epsilon,
                "epsilon_budget": c.epsilon_budget,
                "clip_norm": c.clip_norm,
                "noise": _noise_kind(c),
                "budget_exhausted": self.stopped is not None,
                "stopped_reason": self.stopped,
                "epsilon_by_round": self.history,
            }
        )
        entries = {k: self._entry(k) for k in self.accountants}
        if c.dp == DpMode.RECORD:
            out["sites"] = entries
        else:
            out["federation"] = entries[FEDERATION]
        return out

    def _entry(self, key: str) -> dict[str, Any]:
        acc, plan = self.accountants[key], self.plans[key]
        report = acc.epsilon(self.config.delta)
        return {
            "epsilon": report.epsilon,
            "delta": self.config.delta,
            "noise_multiplier": plan.noise_multiplier,
            "sample_rate": plan.sample_rate,
            "steps": sum(e.steps for e in acc.events),
            "accountant": report.accountant,
            "epsilon_by_accountant": dict(report.values),
            "events": [e.to_dict() for e in acc.events],
            **self._alone_entry(key),
        }

    def _alone_entry(self, key: str) -> dict[str, Any]:
        """Under shared noise, the site's epsilon from its own share alone."""
        alone = self.alone.get(key)
        if alone is None:
            return {}
        eps = alone.epsilon(self.config.delta).epsilon if alone.events else 0.0
        return {"epsilon_alone": eps}


def _shares_sum(sigma: float, contributors: int, selected: int) -> float:
    """The noise multiplier of a sum holding `contributors` of the `selected` sites' noise shares, each a
    1/selected part of the variance of `sigma` (site-level DP and shared record-level noise alike)."""
    return sigma * math.sqrt(min(contributors, selected) / selected)


def _noise_kind(c: PrivacyConfig) -> str:
    """Who adds the noise: the sites each in full, the sites in shares of one sum, or the federation."""
    if c.shared_noise:
        return "shared"
    return "per_site" if c.dp == DpMode.RECORD else "federation"


def record_dp_event(info: Mapping[str, JSONValue]) -> PrivacyEvent:
    """The DP-SGD spend a site reports with its update (noise multiplier, sample rate, steps)."""
    return PrivacyEvent.from_reply_info(info)


class NoisyClippedSum:
    """Site-level DP-FedAvg without secure aggregation: the coordinator clips each site's update to
    `clip_norm` (whatever the site did), sums them, adds Gaussian noise of std `noise_std` from a
    cryptographically seeded generator, and divides by the number of selected sites (a constant fixed
    before the round, so the division is post-processing)."""

    def __init__(
        self, start: Arrays, clip_norm: float, noise_std: float, selected: int, entropy: int | None = None
    ) -> None:
        self._entropy = entropy
        self._start = start
        self._base = flatten(start)
        self._sum = np.zeros_like(self._base)
        self._clip, self._std, self._selected = clip_norm, noise_std, selected
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self, arrays: Mapping[str, FloatArray], weight: float) -> None:
        delta = flatten(arrays) - self._base
        norm = float(np.linalg.norm(delta))
        if norm > self._clip:
            delta *= self._clip / norm
        self._sum += delta
        self._count += 1

    def result(self) -> Arrays:
        noise = secure_numpy_generator(self._entropy).normal(0.0, self._std, size=self._sum.shape)
        return unflatten(self._base + (self._sum + noise) / self._selected, self._start)
