"""`fedward site run KIT`: a hospital's site node in a deployed federation.

It loads the site's own data (the same loader and preprocessing as a simulation), builds the same `Site`
handler with its trust state (its policy, its signing key, the coordinator's key and the roster), and
runs the site's loop: connect out to the coordinator over mutual TLS, ask for work, answer it, repeat,
until the coordinator says the run is over. The node never listens on a port.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fedward.config import FederationConfig
from fedward.crypto import load_public_key, load_signing_key
from fedward.deployment.kits import SiteKit, load_kit_config, load_site_kit
from fedward.errors import ConfigError
from fedward.ledger import utc_clock
from fedward.simulation.data import load_site, pipeline_spec
from fedward.simulation.faults import FaultySite
from fedward.site import Site
from fedward.site.policy import SitePolicy, load_policy
from fedward.site.runner import SiteRunResult, run_site
from fedward.site.trust import SiteTrust
from fedward.transport.client import CoordinatorClient, client_ssl_context
from fedward.trust import RosterError, read_roster

__all__ = ["run_site_kit"]

log = logging.getLogger("fedward.site")


def run_site_kit(kit_dir: Path) -> SiteRunResult:
    kit = load_site_kit(kit_dir)
    cfg = load_kit_config(kit)
    if cfg.deployment is None:
        raise ConfigError("missing [deployment] table", where=kit.path / "federation.toml")
    loaded = load_site(cfg, kit.name)
    trust = _trust(kit, cfg, loaded.fingerprint)
    handler = FaultySite(Site(kit.name, loaded.data, trust), cfg.faults)
    client = CoordinatorClient(
        kit.coordinator,
        kit.name,
        cfg.federation.name,
        trust.key,
        ssl_context=client_ssl_context(kit.path / "ca.pem", kit.path / "client.pem", kit.path / "client.key"),
        chunk_bytes=int(cfg.deployment.chunk_mib * (1 << 20)),
    )
    log.info(
        "site started", extra={"event": "site_started", "site": kit.name, "coordinator": kit.coordinator}
    )
    try:
        return run_site(client, handler, kit.path / "outbox", poll_seconds=cfg.deployment.poll_seconds)
    finally:
        client.close()


def _trust(kit: SiteKit, cfg: FederationConfig, fingerprint: str) -> SiteTrust:
    try:
        key = load_signing_key(kit.path / "site.key")
        admin = load_public_key(kit.path / "admin.pub")
        coordinator = load_public_key(kit.path / "coordinator.pub")
        roster = read_roster(kit.path / "roster.json", admin)
    except (OSError, ValueError, RosterError) as exc:
        raise ConfigError(f"cannot load the site's keys or roster: {exc}", where=kit.path) from None
    if roster.coordinator_public_key != coordinator:
        raise ConfigError("coordinator.pub is not the coordinator the roster names", where=kit.path)
    if kit.name not in roster.sites or roster.public_key(kit.name) != key.public:
        raise ConfigError(f"site.key is not the key the roster admits for {kit.name}", where=kit.path)
    site = next(s for s in cfg.sites if s.name == kit.name)
    if site.policy is None:
        log.warning(
            "no policy file: this site accepts any task the federation sends",
            extra={"event": "no_policy", "site": kit.name},
        )
    policy = SitePolicy.simulation_default() if site.policy is None else load_policy(site.policy)
    prep = pipeline_spec(cfg).sha256() if cfg.federation.task == "documents" else None
    return SiteTrust(
        name=kit.name,
        key=key,
        coordinator_key=coordinator,
        policy=policy,
        federation=cfg.federation.name,
        dataset_fingerprint=fingerprint,
        preprocessing_sha256=prep,
        clock=utc_clock,
        peer_keys={s: roster.public_key(s) for s in roster.sites},
    )
