"""Aggregation strategies: how the coordinator turns the sites' weighted mean into the next global model."""

from fedward.aggregation.base import Accumulator, Strategy
from fedward.aggregation.registry import STRATEGY_NAMES, build_strategy
from fedward.aggregation.weighted import WeightedMean

__all__ = ["STRATEGY_NAMES", "Accumulator", "Strategy", "WeightedMean", "build_strategy"]
