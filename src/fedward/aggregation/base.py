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

__all__ = ["Accumulator", "Strategy"]


class Accumulator(Protocol):
    """Folds the round's site models in one at a time and combines them (a weighted mean, a median)."""

    @property
    def count(self) -> int: ...

    def add(self, arrays: Mapping[str, FloatArray], weight: float) -> None: ...

    def result(self) -> Arrays: ...


class Strategy(ABC):
    name: ClassVar[str]
    requires_individual_updates: ClassVar[bool] = False

    def accumulator(self) -> Accumulator:
        """How this round's site models are combined before `aggregate`: the streaming weighted mean."""
        return WeightedMean()

    def site_config(self) -> dict[str, JSONScalar]:
        """Extra training settings sent to every site with each fit task."""
        return {}

    @abstractmethod
    def aggregate(
        self, global_params: Mapping[str, FloatArray], mean_params: Mapping[str, FloatArray]
    ) -> Arrays:
        """Next global model from the current one and the sample-weighted mean of the sites' models."""

    def state_dict(self) -> dict[str, Arrays | float | int]:
        """Everything needed to resume this strategy (server optimizer moments, step count)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Arrays | float | int]) -> None:
        if state:
            raise ValueError(f"{self.name} keeps no state, got keys {sorted(state)}")
