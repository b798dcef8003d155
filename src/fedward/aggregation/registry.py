"""Strategy names as they appear in the config file, and how to build one from its settings."""

from __future__ import annotations

from fedward.aggregation.base import Strategy
from fedward.aggregation.fedavg import FedAvg, FedProx
from fedward.aggregation.fedopt import FedAdagrad, FedAdam, FedYogi
from fedward.aggregation.median import FedMedian
from fedward.aggregation.robust import CenteredClip, Krum, MultiKrum, TrimmedMean

__all__ = ["ROBUST_NAMES", "STRATEGY_NAMES", "build_strategy"]

ROBUST_NAMES = ("fedmedian", "trimmed_mean", "krum", "multikrum", "centered_clip")
STRATEGY_NAMES = ("fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad", *ROBUST_NAMES)


def build_strategy(
    name: str,
    *,
    mu: float,
    server_lr: float,
    beta1: float,
    beta2: float,
    tau: float,
    trim_fraction: float = 0.1,
    byzantine_sites: int | None = None,
    multikrum_m: int | None = None,
    clip_tau: float = 1.0,
    clip_iterations: int = 3,
) -> Strategy:
    if name == "fedavg":
        return FedAvg()
    if name == "fedprox":
        return FedProx(mu)
    if name == "fedmedian":
        return FedMedian()
    if name == "trimmed_mean":
        return TrimmedMean(trim_fraction, byzantine_sites)
    if name in ("krum", "multikrum"):
        if byzantine_sites is None:
            raise ValueError(f"{name} needs byzantine_sites (the f it tolerates)")
        if name == "krum":
            return Krum(byzantine_sites)
        if multikrum_m is None:
            raise ValueError("multikrum needs multikrum_m")
        return MultiKrum(byzantine_sites, multikrum_m)
    if name == "centered_clip":
        return CenteredClip(clip_tau, clip_iterations, byzantine_sites)
    opt = {"fedadam": FedAdam, "fedyogi": FedYogi, "fedadagrad": FedAdagrad}.get(name)
    if opt is None:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    return opt(server_lr=server_lr, beta1=beta1, beta2=beta2, tau=tau)
