"""From a federation file to what the round loop runs: the `FederationPlan` and the `Strategy`.

Simulation and deployment both call these two functions, so the same file gives the same plan (and, with
the same seed, the same model bytes) whichever transport carries the tasks.
"""

from __future__ import annotations

from fedward.aggregation import Strategy, build_strategy
from fedward.config import BUILTIN_PREFIX, FederationConfig
from fedward.coordinator import FederationPlan
from fedward.core.compress import CompressionSettings
from fedward.errors import ConfigError
from fedward.models import USER_CODE, InitModel, UserCode, read_init_model, read_user_code
from fedward.models.builtin import builtin_model
from fedward.release.gates import ReleaseGates
from fedward.run.data import pipeline_spec
from fedward.settings import PersonalizeSettings, TrainSettings

__all__ = ["init_model_for", "model_code_for", "plan_for", "strategy_for"]


def init_model_for(cfg: FederationConfig) -> InitModel | None:
    """The `[model] init` file (or the shipped base model "builtin:NAME", its hash checked against its
    card), read and parsed (ConfigError if it cannot be), or None without one.
    Read once per run, so the federation, its baselines and every record see the same bytes."""
    init = cfg.model.init
    if init is None:
        return None
    if str(init).startswith(BUILTIN_PREFIX):
        try:
            path, _card = builtin_model(str(init))
        except ValueError as exc:
            raise ConfigError(f"[model] 'init': {exc}") from None
        return read_init_model(path)
    return read_init_model(init)


def model_code_for(cfg: FederationConfig) -> UserCode | None:
    """The `[model] code` file, read and compiled (not run; ConfigError naming it if it cannot be), or
    None with a built-in model. Its source and hash travel in every task (fedward.models.usercode)."""
    if cfg.model.code is None:
        return None
    return read_user_code(cfg.model.code, "image" if cfg.federation.task == "documents" else "features")


def plan_for(
    cfg: FederationConfig, run_id: str, init: InitModel | None, gates: ReleaseGates | None = None
) -> FederationPlan:
    """The round loop's plan for run `run_id` of `cfg`: rounds, model, selection, training settings;
    `init` is `init_model_for(cfg)` (passed in, so a caller that needs it too reads the file once);
    `gates` is `release_gates(cfg.release, coordinator key)` (its baseline verified), for an audited run."""
    if (init is None) != (cfg.model.init is None):
        raise ValueError("plan_for: pass init_model_for(cfg), the [model] init file, exactly when it is set")
    f, s = cfg.federation, cfg.strategy
    init_sha256 = None if init is None else init.sha256
    code = model_code_for(cfg)
    return FederationPlan(
        run_id=run_id,
        model_name=USER_CODE if code is not None else str(cfg.model.name),
        rounds=f.rounds,
        seed=f.seed,
        train=TrainSettings.from_strategy(s, train_part=cfg.model.train, init_model_sha256=init_sha256),
        hidden=tuple(cfg.model.hidden),
        channels=tuple(cfg.model.channels),
        fraction=f.fraction,
        min_sites=f.min_sites,
        deadline_s=f.deadline_seconds,
        eval_every=f.eval_every,
        privacy=cfg.privacy,
        federation=f.name,
        config_sha256=cfg.sha256(),
        init_model=init,
        class_weights=s.class_weights,
        personalize=_personalize(cfg),
        target_accuracy=cfg.validation.target_accuracy,
        gates=gates,
        compression=CompressionSettings(cfg.compression.kind, cfg.compression.topk_fraction),
        preprocessing=pipeline_spec(cfg).to_dict() if f.task == "documents" else None,
        model_code=code,
        missing=cfg.data.missing,
    )


def _personalize(cfg: FederationConfig) -> PersonalizeSettings | None:
    """`[personalization]` as the sites' task settings: fine-tuning up to `epochs`, the site's own model
    up to the federation's budget (`rounds * local_epochs`, the local-only baseline's)."""
    p = cfg.personalization
    if not p.enabled:
        return None
    budget = cfg.federation.rounds * cfg.strategy.local_epochs
    return PersonalizeSettings(
        epochs=p.epochs, train_part=p.train, local_epochs=budget, local_seed=cfg.federation.seed
    )


def strategy_for(cfg: FederationConfig) -> Strategy:
    """The `[strategy]` table as a fresh `Strategy` (FedAvg, FedProx, FedOpt, or a robust rule)."""
    s = cfg.strategy
    return build_strategy(
        s.name,
        mu=s.mu,
        server_lr=s.server_lr,
        beta1=s.beta1,
        beta2=s.beta2,
        tau=s.tau,
        trim_fraction=s.trim_fraction,
        byzantine_sites=s.byzantine_sites,
        multikrum_m=s.multikrum_m,
        clip_tau=s.clip_tau,
        clip_iterations=s.clip_iterations,
    )
