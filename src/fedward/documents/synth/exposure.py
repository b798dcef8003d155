"""Who sent each page a hospital scanned, and when: each hospital's skewed exposure to the shared sender pool
over a timeline in which its test split comes after its training split.

Each hospital has its own Dirichlet weights over the pool (some senders frequent, some absent), the way
Hsu et al. 2019 skew labels across clients, here applied to senders. Its pages lie on a timeline: training
pages cover [0, 1 - test share), test pages the rest, in page order. Some senders start sending to a
hospital only in its test period (new relationships), and each sender's next form version reaches each
hospital at its own time (a regional rollout), so a test split holds senders and form versions its own
training split never had. A test page is only drawn from (sender, form version) pairs that some hospital's
training split holds, so what is new to one hospital is something another has already seen.

A page of a class no outside sender writes (or with no active sender) comes from the hospital itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedward.documents.synth.senders import Sender, SenderSettings

__all__ = ["Exposure", "PageSource", "draw_exposures", "page_times", "plan_sources"]

_EXPOSURE_STREAM = 4
_SOURCE_STREAM = 5
_ROLLOUT_START = 0.1


@dataclass(frozen=True)
class Exposure:
    """One hospital's relationship with each sender of the pool (tuples in pool order)."""

    weights: tuple[float, ...]  # 0: the sender never sends here
    arriving: tuple[bool, ...]  # True: the sender starts sending only in the test period
    rollout: tuple[tuple[float, ...], ...]  # per sender, when each later form version reaches this hospital

    def version_at(self, sender: int, time: float) -> int:
        """The form version sender `sender` uses at this hospital at `time`."""
        return sum(1 for t in self.rollout[sender] if t <= time)

    def to_json(self, pool: Sequence[Sender]) -> dict[str, Any]:
        return {
            s.name: {
                "weight": round(w, 6),
                "arriving": a,
                "rollout": [round(t, 4) for t in r],
            }
            for s, w, a, r in zip(pool, self.weights, self.arriving, self.rollout, strict=True)
        }


@dataclass(frozen=True)
class PageSource:
    """Who sent one page: a pool index (None: the hospital itself) and the sender's form version."""

    sender: int | None
    version: int = 0


def draw_exposures(seed: int, sites: int, pool: Sequence[Sender], settings: SenderSettings) -> list[Exposure]:
    """Every hospital's exposure to the pool, each from its own seeded stream."""
    return [_exposure(seed, h, pool, settings) for h in range(sites)]


def _exposure(seed: int, h: int, pool: Sequence[Sender], settings: SenderSettings) -> Exposure:
    rng = np.random.default_rng(np.random.SeedSequence([seed, _EXPOSURE_STREAM, h]))
    n = len(pool)
    weights = rng.dirichlet(np.full(n, settings.alpha)) * (rng.random(n) >= settings.absent_rate)
    arriving = rng.random(n) < settings.arriving_rate
    rollout = np.sort(rng.uniform(_ROLLOUT_START, settings.rollout_end, (n, settings.versions - 1)), axis=1)
    return Exposure(
        weights=tuple(float(w) for w in weights),
        arriving=tuple(bool(a) for a in arriving),
        rollout=tuple(tuple(float(t) for t in row) for row in rollout),
    )


def page_times(n_train: int, n_test: int) -> list[float]:
    """Times of a hospital's pages in page order: training evenly over [0, cut), test over [cut, 1)."""
    cut = n_train / (n_train + n_test)
    return [cut * (i + 0.5) / n_train for i in range(n_train)] + [
        cut + (1 - cut) * (j + 0.5) / n_test for j in range(n_test)
    ]


def plan_sources(
    seed: int,
    labels: Sequence[dict[str, list[str]]],
    pool: Sequence[Sender],
    exposures: Sequence[Exposure],
    settings: SenderSettings,
) -> list[dict[str, list[PageSource]]]:
    """Who sent each page: per hospital, per split, in page order. All training splits are drawn first,
    so that a test page only ever comes from a (sender, version) pair some training split holds."""
    plans: list[dict[str, list[PageSource]]] = []
    rngs = [
        np.random.default_rng(np.random.SeedSequence([seed, _SOURCE_STREAM, h])) for h in range(len(labels))
    ]
    for h, split_labels in enumerate(labels):
        times = page_times(len(split_labels["train"]), len(split_labels["test"]))
        draw = _Drawer(pool, exposures[h], settings, rngs[h], None)
        plans.append({"train": [draw(c, t) for c, t in zip(split_labels["train"], times, strict=False)]})
    trained = {(s.sender, s.version) for plan in plans for s in plan["train"] if s.sender is not None}
    for h, split_labels in enumerate(labels):
        n_train = len(split_labels["train"])
        times = page_times(n_train, len(split_labels["test"]))[n_train:]
        draw = _Drawer(pool, exposures[h], settings, rngs[h], trained)
        plans[h]["test"] = [draw(c, t) for c, t in zip(split_labels["test"], times, strict=True)]
    return plans


@dataclass
class _Drawer:
    """Draws the source of one page of a hospital; `trained` (test pages only) limits the choice to the
    (sender, version) pairs that some hospital's training split holds."""

    pool: Sequence[Sender]
    exposure: Exposure
    settings: SenderSettings
    rng: np.random.Generator
    trained: set[tuple[int, int]] | None

    def __call__(self, label: str, time: float) -> PageSource:
        outside = self.rng.random() < self.settings.outside_share
        pick = self.rng.random()  # drawn for every page, so one page's choice never shifts the next's
        candidates = [(s, self.exposure.version_at(s, time)) for s in self._active(label)]
        if self.trained is not None:
            candidates = [c for c in candidates if c in self.trained]
        if not outside or not candidates:
            return PageSource(None)
        weights = np.array([self._weight(s) for s, _ in candidates])
        cumulative = np.cumsum(weights / weights.sum())
        index = min(int(np.searchsorted(cumulative, pick, side="right")), len(candidates) - 1)
        return PageSource(*candidates[index])

    def _active(self, label: str) -> list[int]:
        """Pool indices of the senders writing `label` that send to this hospital in this period."""
        testing = self.trained is not None
        return [
            i
            for i, s in enumerate(self.pool)
            if label in s.classes
            and self.exposure.weights[i] > 0
            and (testing or not self.exposure.arriving[i])
        ]

    def _weight(self, sender: int) -> float:
        boost = self.settings.arrival_boost if self.exposure.arriving[sender] else 1.0
        return self.exposure.weights[sender] * boost
