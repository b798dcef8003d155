"""The Strategy interface, after Flower's strategy shape: the coordinator asks it how sites should train
(`site_config`) and how to combine their average into the next global model (`aggregate`).

Strategies here consume only the sample-weighted mean of the sites' models. That is deliberate: it is
all that secure aggregation reveals, so every strategy in this package runs under it. A strategy that
needs individual updates (a coordinate median, say) must set `requires_individual_updates`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar, Protocol

from fedward.aggregation.weighted import WeightedMean
from fedward.core.arrays import Arrays, FloatArray
from fedward.core.messages import JSONScalar

__all__ = ["Accumulator", "Strategy", "TooFewUpdates"]


class TooFewUpdates(ValueError):
    """A robust rule's tolerance does not hold for the updates that arrived (e.g. Krum with n < 2f + 3):
    raised by an accumulator's `result`; the round keeps its model and records this as the reason."""


class Accumulator(Protocol):
    """Folds the round's site models in one at a time and combines them (a weighted mean, a median)."""

    @property
    def count(self) -> int: ...

    def add(self, arrays: Mapping[str, FloatArray], weight: float) -> None: ...

    def result(self) -> Arrays: ...


class Strategy(ABC):
    """How the coordinator turns a round's combined model into the next global model.

    Contract (every strategy):
    - `site_config()` is the same on every call of a run (it is part of the training code's hash that
      sites' policies pin, core/provenance.py) and holds JSON scalars only.
    - `accumulator()` returns a fresh, empty accumulator for one round; by default the streaming
      sample-weighted mean. A strategy whose accumulator needs each site's model (not just their sum)
      sets `requires_individual_updates`, and the config refuses it with secure aggregation. Its
      `result` may raise `TooFewUpdates` when its tolerance does not hold for the updates that arrived.
    - `aggregate(global, mean)` is deterministic given its inputs and the strategy's own state: it
      returns arrays with the global model's names and shapes and leaves `global` unchanged; `mean` is
      fresh each round and the coordinator's last use of it, so it may become the new model as is.
      It is called once per round that aggregated, in round order; a deployed
      coordinator rebuilds the strategy's state by replaying the rounds, so no other state is saved.
    - Errors it raises are the coordinator's own and stop the run; they are never blamed on a site.
    """

    name: ClassVar[str]
    requires_individual_updates: ClassVar[bool] = False

    def accumulator(self, start: Mapping[str, FloatArray] | None = None) -> Accumulator:
        """How this round's site models are combined before `aggregate`: the streaming weighted mean.
        `start` is the round's global model (rules that measure updates against it need it)."""
        return WeightedMean()

    def site_config(self) -> dict[str, JSONScalar]:
        """Extra training settings sent to every site with each fit task."""
        return {}

    @abstractmethod
    def aggregate(
        self, global_params: Mapping[str, FloatArray], mean_params: Mapping[str, FloatArray]
    ) -> Arrays:
        """Next global model from the current one and the sample-weighted mean of the sites' models."""
