"""Strategy names as they appear in the config file, and how to build one from its settings."""

from __future__ import annotations

from fedward.aggregation.base import Strategy
from fedward.aggregation.fedavg import FedAvg, FedProx
from fedward.aggregation.fedopt import FedAdagrad, FedAdam, FedYogi
from fedward.aggregation.median import FedMedian

__all__ = ["STRATEGY_NAMES", "build_strategy"]

STRATEGY_NAMES = ("fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad", "fedmedian")


def build_strategy(
    name: str, *, mu: float, server_lr: float, beta1: float, beta2: float, tau: float
) -> Strategy:
    if name == "fedavg":
        return FedAvg()
    if name == "fedprox":
        return FedProx(mu)
    if name == "fedmedian":
        return FedMedian()
    opt = {"fedadam": FedAdam, "fedyogi": FedYogi, "fedadagrad": FedAdagrad}.get(name)
    if opt is None:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    return opt(server_lr=server_lr, beta1=beta1, beta2=beta2, tau=tau)
