"""Norm bounding (`[strategy] norm_bound`): every site's update, its model minus the round's global model,
is clipped to L2 norm `bound` before it is combined. Against model replacement and backdoor attacks
this is the defence of Sun, Kairouz, Suresh & McMahan, "Can You Really Backdoor Federated Learning?"
(2019): an attacker can no longer scale its update up to outweigh the honest sites.

Without secure aggregation the coordinator enforces it here, whatever the site did; under secure
aggregation only the sites can (`fedward.site.protect`), and each records the bound in its signed
manifest.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedward.aggregation.base import Accumulator
from fedward.core.arrays import Arrays, FloatArray, add, subtract
from fedward.privacy import clip_l2

__all__ = ["NormBounded", "bound_update"]


def bound_update(start: Mapping[str, FloatArray], model: Mapping[str, FloatArray], bound: float) -> Arrays:
    """`model`, moved back towards `start` so that model - start has L2 norm at most `bound`."""
    clipped, norm = clip_l2(subtract(model, start), bound)
    return dict(model) if norm <= bound else add(start, clipped)


class NormBounded:
    """An accumulator that clips each site model's update to `bound` before handing it to `inner`."""

    def __init__(self, inner: Accumulator, start: Mapping[str, FloatArray], bound: float) -> None:
        self._inner, self._start, self._bound = inner, start, bound

    @property
    def count(self) -> int:
        return self._inner.count

    def add(self, arrays: Mapping[str, FloatArray], weight: float) -> None:
        self._inner.add(bound_update(self._start, arrays, self._bound), weight)

    def result(self) -> Arrays:
        return self._inner.result()
