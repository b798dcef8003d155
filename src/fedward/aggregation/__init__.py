"""Aggregation strategies: how the coordinator turns the sites' weighted mean into the next global model."""

from fedward.aggregation.base import Accumulator, Strategy, TooFewUpdates
from fedward.aggregation.norm_bound import NormBounded
from fedward.aggregation.registry import ROBUST_NAMES, STRATEGY_NAMES, build_strategy
from fedward.aggregation.weighted import WeightedMean

__all__ = [
    "ROBUST_NAMES",
    "STRATEGY_NAMES",
    "Accumulator",
    "NormBounded",
    "Strategy",
    "TooFewUpdates",
    "WeightedMean",
    "build_strategy",
]
