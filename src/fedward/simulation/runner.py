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

from fedward.aggregation import Strategy
from fedward.config import FederationConfig, PrivacyConfig
from fedward.coordinator import FederationResult, RoundRecord, run_federation
from fedward.coordinator.audit import Audit
from fedward.ledger import utc_clock
from fedward.models import InitModel, initial_arrays
from fedward.release.gates import release_gates
from fedward.report import check_out_dir
from fedward.run.audit import open_audit
from fedward.run.data import LoadedSite, load_sites
from fedward.run.faults import FaultySite
from fedward.run.outputs import write_run
from fedward.run.plan import init_model_for, model_code_for, plan_for, strategy_for
from fedward.run.privacy_checks import check_privacy_config
from fedward.run.site_trust import site_trust
from fedward.run.summary import BaselineResult, build_summary, loaded_site_data
from fedward.simulation.attacks import AttackersLast, simulated_sites
from fedward.simulation.baselines import centralized, local_only
from fedward.simulation.keys import simulation_keys
from fedward.site import TrainSettings
from fedward.site.policy import SitePolicy, load_policy
from fedward.site.trust import SiteTrust
from fedward.transport import InMemoryTransport
from fedward.transport.base import Transport

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


def _baselines(
    cfg: FederationConfig, result: FederationResult, sites: list[LoadedSite], init: InitModel | None
) -> BaselineResult:
    """Centralized and local-only, with the federation's budget, trained part, initial model and class
    weight mode."""
    start = time.perf_counter()
    s, seed = cfg.strategy, cfg.federation.seed
    epochs = cfg.federation.rounds * s.local_epochs
    settings = TrainSettings.from_strategy(s, epochs=epochs, seed=seed, train_part=cfg.model.train)
    datas = {site.name: site.data for site in sites}
    spec, classes = result.setup.spec, result.setup.classes
    start_model = None if init is None else initial_arrays(spec, seed, init)
    mode = s.class_weights
    central = centralized(spec, datas, classes, settings, seed, start_model, mode)
    local, cross = local_only(spec, datas, classes, settings, seed, start_model, mode)
    return BaselineResult(central, local, cross, time.perf_counter() - start)


def _federate(
    cfg: FederationConfig,
    sites: list[LoadedSite],
    strategy: Strategy,
    on_round: Callable[[RoundRecord], None] | None,
    init: InitModel | None,
    work: Path | None = None,
) -> tuple[FederationResult, Audit | None]:
    """One federated run from `init` (the `[model] init` file, or None: from the seed); with `work`,
    audited: keys, ledger and releases are written under it (and the audit, which signs the run
    directory's manifest, comes back with the result)."""
    run_id = uuid.uuid4().hex
    audit: Audit | None = None
    trusts: dict[str, SiteTrust] = {}
    if work is not None:
        audit, trusts = _audit(cfg, sites, run_id, work)
    simulated, attackers = simulated_sites([(s.name, s.data) for s in sites], trusts, cfg.attacks)
    handlers = [FaultySite(site, cfg.faults) for site in simulated]
    inner = InMemoryTransport(handlers)
    transport: Transport = AttackersLast(inner, attackers) if attackers else inner
    try:
        gates = None if audit is None else release_gates(cfg.release, audit.key.public)
        return run_federation(transport, plan_for(cfg, run_id, init, gates), strategy, on_round, audit), audit
    finally:
        transport.close()
        if audit is not None:
            audit.ledger.close()


def _audit(
    cfg: FederationConfig, sites: list[LoadedSite], run_id: str, work: Path
) -> tuple[Audit, dict[str, SiteTrust]]:
    keys = simulation_keys(cfg, [s.name for s in sites], utc_clock())
    audit = open_audit(work, keys, cfg.federation.name, run_id, utc_clock)
    trusts = {
        s.name: site_trust(cfg, keys, s.name, s.fingerprint, _policy(cfg, s.name), utc_clock) for s in sites
    }
    return audit, trusts


def _policy(cfg: FederationConfig, name: str) -> SitePolicy:
    """The site's policy file, or the built-in simulation policy (a simulation plays every hospital; a
    deployed site has no such fallback)."""
    site = next(s for s in cfg.sites if s.name == name)
    if site.policy is not None:
        return load_policy(site.policy)
    code = model_code_for(cfg)  # the built-in policy runs the configured model code, and only it
    return SitePolicy.simulation_default(None if code is None else code.sha256)


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
    init = init_model_for(cfg)  # read once: the federation, the comparison and the baselines share it
    check_out_dir(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work-", dir=out.parent))
    try:
        return _simulate(
            cfg,
            config_path,
            out,
            work,
            strategy,
            init,
            sites,
            hooks,
            baselines,
            force,
            compare_non_private,
            start,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _simulate(
    cfg: FederationConfig,
    config_path: Path,
    out: Path,
    work: Path,
    strategy: Strategy,
    init: InitModel | None,
    sites: list[LoadedSite],
    hooks: SimulationHooks,
    baselines: bool,
    force: bool,
    compare_non_private: bool,
    start: float,
) -> SimulationResult:
    result, audit = _federate(cfg, sites, strategy, hooks.on_round, init, work)
    plain = None
    if compare_non_private and cfg.privacy != PrivacyConfig():
        if hooks.on_phase is not None:
            hooks.on_phase("the same federation without privacy")
        plain_cfg = cfg.model_copy(update={"privacy": PrivacyConfig(), "faults": [], "attacks": []})
        plain, _ = _federate(plain_cfg, sites, strategy_for(cfg), None, init)
    base = None
    if baselines:
        if hooks.on_phase is not None:
            hooks.on_phase("baselines")
        base = _baselines(cfg, result, sites, init)
    elapsed = time.perf_counter() - start
    summary = build_summary(cfg, str(config_path), result, base, loaded_site_data(sites), elapsed, plain)
    write_run(out, summary, result, work, force=force, audit=audit)
    return SimulationResult(summary, result)
