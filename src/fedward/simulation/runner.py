"""`fedward simulate`: load every site's data, run the federation in-process, train the baselines, and
write the run directory.

The sites are real `Site` objects behind an `InMemoryTransport`; the coordinator runs the same
`run_federation` loop a deployment runs. The run is deterministic given the config's seed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedward.aggregation import Strategy, build_strategy
from fedward.config import FederationConfig, PrivacyConfig
from fedward.coordinator import FederationPlan, FederationResult, RoundRecord, run_federation
from fedward.coordinator.audit import Audit
from fedward.core.arrays import arrays_to_bytes
from fedward.core.messages import JSONValue
from fedward.ledger import LedgerWriter, utc_clock
from fedward.report import RunOutputs, check_out_dir, write_run_dir
from fedward.report.html import render_report
from fedward.simulation.baselines import BaselineResult, centralized, local_only
from fedward.simulation.data import LoadedSite, load_sites, pipeline_spec
from fedward.simulation.faults import FaultySite
from fedward.simulation.identities import federation_identities, site_trust
from fedward.simulation.privacy_checks import check_privacy_config
from fedward.simulation.summary import build_summary, loaded_site_data
from fedward.site import Site, TrainSettings
from fedward.site.trust import SiteTrust
from fedward.transport import InMemoryTransport
from fedward.trust import PackageVerifier

__all__ = ["SimulationHooks", "SimulationResult", "plan_for", "simulate", "strategy_for"]


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
        federation=f.name,
        config_sha256=cfg.sha256(),
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


def strategy_for(cfg: FederationConfig) -> Strategy:
    s = cfg.strategy
    return build_strategy(s.name, mu=s.mu, server_lr=s.server_lr, beta1=s.beta1, beta2=s.beta2, tau=s.tau)


def _federate(
    cfg: FederationConfig,
    sites: list[LoadedSite],
    strategy: Strategy,
    on_round: Callable[[RoundRecord], None] | None,
    work: Path | None = None,
) -> FederationResult:
    """One federated run; with `work`, audited: keys, ledger and releases are written under it."""
    run_id = uuid.uuid4().hex
    audit: Audit | None = None
    trusts: dict[str, SiteTrust] = {}
    if work is not None:
        audit, trusts = _audit(cfg, sites, run_id, work)
    handlers = [FaultySite(Site(s.name, s.data, trusts.get(s.name)), cfg.faults) for s in sites]
    transport = InMemoryTransport(handlers)
    try:
        return run_federation(transport, plan_for(cfg, run_id), strategy, on_round, audit)
    finally:
        transport.close()
        if audit is not None:
            audit.ledger.close()


def _audit(
    cfg: FederationConfig, sites: list[LoadedSite], run_id: str, work: Path
) -> tuple[Audit, dict[str, SiteTrust]]:
    names = [s.name for s in sites]
    ids = federation_identities(cfg, names, utc_clock())
    ids.write_public(work / "keys")
    (work / "releases").mkdir()
    ledger = LedgerWriter(work, ids.coordinator, run_id, utc_clock)
    verifier = PackageVerifier(ids.roster, cfg.federation.name, run_id)
    audit = Audit(ledger, ids.coordinator, verifier, work / "releases", utc_clock)
    prep = pipeline_spec(cfg).sha256() if cfg.federation.task == "documents" else None
    trusts = {s.name: site_trust(cfg, ids, s.name, s.fingerprint, prep, utc_clock) for s in sites}
    return audit, trusts


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
    strategy = strategy_for(cfg)
    check_privacy_config(cfg, config_path)
    check_out_dir(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work-", dir=out.parent))
    try:
        return _simulate(
            cfg, config_path, out, work, strategy, sites, hooks, baselines, force, compare_non_private, start
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _simulate(
    cfg: FederationConfig,
    config_path: Path,
    out: Path,
    work: Path,
    strategy: Strategy,
    sites: list[LoadedSite],
    hooks: SimulationHooks,
    baselines: bool,
    force: bool,
    compare_non_private: bool,
    start: float,
) -> SimulationResult:
    result = _federate(cfg, sites, strategy, hooks.on_round, work)
    plain = None
    if compare_non_private and cfg.privacy != PrivacyConfig():
        if hooks.on_phase is not None:
            hooks.on_phase("the same federation without privacy")
        plain_cfg = cfg.model_copy(update={"privacy": PrivacyConfig(), "faults": []})
        plain = _federate(plain_cfg, sites, strategy_for(cfg), None)
    base = None
    if baselines:
        if hooks.on_phase is not None:
            hooks.on_phase("baselines")
        base = _baselines(cfg, result, sites)
    elapsed = time.perf_counter() - start
    summary = build_summary(cfg, str(config_path), result, base, loaded_site_data(sites), elapsed, plain)
    audit_dirs = {name: work / name for name in ("keys", "ledger", "releases")}
    outputs = RunOutputs(
        summary, [r.to_json() for r in result.rounds], arrays_to_bytes(result.params), extra_dirs=audit_dirs
    )
    write_run_dir(out, outputs, lambda o: render_report(o.summary, o.rounds), force=force)
    return SimulationResult(summary, result)
