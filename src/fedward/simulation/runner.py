"""`fedward simulate`: load every site's data, run the federation in-process, train the baselines, and
write the run directory.

The sites are real `Site` objects behind an `InMemoryTransport`; the coordinator runs the same
`run_federation` loop a deployment runs. The run is deterministic given the config's seed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedward.aggregation import Strategy, build_strategy
from fedward.config import FederationConfig, PrivacyConfig
from fedward.coordinator import FederationPlan, FederationResult, RoundRecord, run_federation
from fedward.core.arrays import arrays_to_bytes
from fedward.core.messages import JSONValue
from fedward.report import RunOutputs, write_run_dir
from fedward.report.html import render_report
from fedward.simulation.baselines import BaselineResult, centralized, local_only
from fedward.simulation.data import LoadedSite, load_sites
from fedward.simulation.faults import FaultySite
from fedward.simulation.privacy_checks import check_privacy_config
from fedward.simulation.summary import build_summary
from fedward.site import Site, TrainSettings
from fedward.transport import InMemoryTransport

__all__ = ["SimulationHooks", "SimulationResult", "simulate"]


@dataclass(frozen=True)
class SimulationHooks:
    """Progress callbacks for the CLI; all optional."""

    on_site_loaded: Callable[[str], None] | None = None
    on_round: Callable[[RoundRecord], None] | None = None
    on_phase: Callable[[str], None] | None = None


@dataclass(frozen=True)
class SimulationResult:
    summary: dict[str, Any]
    federation: FederationResult


def plan_for(cfg: FederationConfig, run_id: str) -> FederationPlan:
    f, s = cfg.federation, cfg.strategy
    train: dict[str, JSONValue] = {
        "epochs": s.local_epochs,
        "batch_size": s.batch_size,
        "lr": s.lr,
        "momentum": s.momentum,
        "optimizer": s.optimizer,
        "weight_decay": s.weight_decay,
        "max_grad_norm": s.max_grad_norm,
    }
    return FederationPlan(
        run_id=run_id,
        model_name=cfg.model.name,
        rounds=f.rounds,
        seed=f.seed,
        train=train,
        hidden=tuple(cfg.model.hidden),
        channels=tuple(cfg.model.channels),
        fraction=f.fraction,
        min_sites=f.min_sites,
        deadline_s=f.deadline_seconds,
        eval_every=f.eval_every,
        privacy=cfg.privacy,
    )


def _baselines(cfg: FederationConfig, result: FederationResult, sites: list[LoadedSite]) -> BaselineResult:
    start = time.perf_counter()
    s = cfg.strategy
    settings = TrainSettings(
        epochs=cfg.federation.rounds * s.local_epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        momentum=s.momentum,
        optimizer=s.optimizer,
        weight_decay=s.weight_decay,
        max_grad_norm=s.max_grad_norm,
        seed=cfg.federation.seed,
    )
    datas = {site.name: site.data for site in sites}
    spec, classes = result.setup.spec, result.setup.classes
    central = centralized(spec, datas, classes, settings, cfg.federation.seed)
    local, cross = local_only(spec, datas, classes, settings, cfg.federation.seed)
    return BaselineResult(central, local, cross, time.perf_counter() - start)


def _strategy(cfg: FederationConfig) -> Strategy:
    s = cfg.strategy
    return build_strategy(s.name, mu=s.mu, server_lr=s.server_lr, beta1=s.beta1, beta2=s.beta2, tau=s.tau)


def _federate(
    cfg: FederationConfig,
    sites: list[LoadedSite],
    strategy: Strategy,
    on_round: Callable[[RoundRecord], None] | None,
) -> FederationResult:
    handlers = [FaultySite(Site(s.name, s.data), cfg.faults) for s in sites]
    transport = InMemoryTransport(handlers)
    try:
        return run_federation(transport, plan_for(cfg, uuid.uuid4().hex), strategy, on_round)
    finally:
        transport.close()


def simulate(
    cfg: FederationConfig,
    config_path: Path,
    out: Path,
    *,
    baselines: bool = True,
    force: bool = False,
    hooks: SimulationHooks | None = None,
    sites: list[LoadedSite] | None = None,
    compare_non_private: bool = False,
) -> SimulationResult:
    """Run the federation (and baselines) and write `out`. `sites` may be passed in pre-loaded.

    With `compare_non_private`, the same federation also runs with no DP and no secure aggregation (and no
    injected faults), so the report can show what the privacy protection cost in accuracy."""
    hooks = hooks or SimulationHooks()
    start = time.perf_counter()
    if sites is None:
        sites = load_sites(cfg, hooks.on_site_loaded)
    strategy = _strategy(cfg)
    check_privacy_config(cfg, config_path)
    result = _federate(cfg, sites, strategy, hooks.on_round)
    plain = None
    if compare_non_private and cfg.privacy != PrivacyConfig():
        if hooks.on_phase is not None:
            hooks.on_phase("the same federation without privacy")
        plain_cfg = cfg.model_copy(update={"privacy": PrivacyConfig(), "faults": []})
        plain = _federate(plain_cfg, sites, _strategy(cfg), None)
    base = None
    if baselines:
        if hooks.on_phase is not None:
            hooks.on_phase("baselines")
        base = _baselines(cfg, result, sites)
    summary = build_summary(cfg, str(config_path), result, base, sites, time.perf_counter() - start, plain)
    outputs = RunOutputs(summary, [r.to_json() for r in result.rounds], arrays_to_bytes(result.params))
    write_run_dir(out, outputs, lambda o: render_report(o.summary, o.rounds), force=force)
    return SimulationResult(summary, result)
