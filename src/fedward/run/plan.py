"""From a federation file to what the round loop runs: the `FederationPlan` and the `Strategy`.

Simulation and deployment both call these two functions, so the same file gives the same plan (and, with
the same seed, the same model bytes) whichever transport carries the tasks.
"""

from __future__ import annotations

from fedward.aggregation import Strategy, build_strategy
from fedward.config import FederationConfig
from fedward.coordinator import FederationPlan
from fedward.settings import TrainSettings

__all__ = ["plan_for", "strategy_for"]


def plan_for(cfg: FederationConfig, run_id: str) -> FederationPlan:
    """The round loop's plan for run `run_id` of `cfg`: rounds, model, selection, training settings."""
    f, s = cfg.federation, cfg.strategy
    return FederationPlan(
        run_id=run_id,
        model_name=cfg.model.name,
        rounds=f.rounds,
        seed=f.seed,
        train=TrainSettings.from_strategy(s),
        hidden=tuple(cfg.model.hidden),
        channels=tuple(cfg.model.channels),
        fraction=f.fraction,
        min_sites=f.min_sites,
        deadline_s=f.deadline_seconds,
        eval_every=f.eval_every,
        privacy=cfg.privacy,
        federation=f.name,
        config_sha256=cfg.sha256(),
    )


def strategy_for(cfg: FederationConfig) -> Strategy:
    """The `[strategy]` table as a fresh `Strategy` (FedAvg, FedProx, FedOpt or FedMedian)."""
    s = cfg.strategy
    return build_strategy(s.name, mu=s.mu, server_lr=s.server_lr, beta1=s.beta1, beta2=s.beta2, tau=s.tau)
