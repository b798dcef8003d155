"""`fedward site run KIT`: a hospital's site node in a deployed federation.

It loads the site's own data (the same loader and preprocessing as a simulation, `run.data`), builds the
same `Site` handler with the same trust state (`run.site_trust`: its policy, its signing key, the
coordinator's key and the roster, all from the kit), and runs the site's loop: connect out to the
coordinator over mutual TLS, ask for work, answer it, repeat, until the coordinator says the run is over.
The node never listens on a port. Each time it accepts a newer ledger checkpoint it writes it to
`KIT/witness/RUN_ID.json` (atomically), for `fedward ledger verify RUN --checkpoint` later.

Deny by default: a site whose federation file gives it no policy file refuses to start, unless its
operator accepts any task explicitly (`accept_any_task`, the CLI's `--accept-any-task`); that choice is
a built-in policy of its own, whose hash and `accept_any_task` check go into every manifest it signs.
`[[faults]]` are injected only under the test-only switch (`test_faults`); without it a federation file
that has them is refused, so a production site never drops out on purpose.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fedward.config import FederationConfig
from fedward.deployment.kits import SiteKit, load_kit_config, load_site_kit
from fedward.errors import ConfigError
from fedward.ledger import utc_clock
from fedward.run.data import load_site
from fedward.run.faults import FaultySite
from fedward.run.site_trust import site_trust
from fedward.site import Site
from fedward.site.policy import SitePolicy, load_policy
from fedward.site.runner import SiteRunResult, run_site
from fedward.transport.base import SiteHandler
from fedward.transport.client import CoordinatorClient, client_ssl_context

__all__ = ["POLICY_DOCS", "TEST_FAULTS_ENV", "WITNESS_DIR", "run_site_kit", "site_handler", "site_policy"]

log = logging.getLogger("fedward.site")
POLICY_DOCS = "README.md (a site policy) and docs/deployment.md (Sites)"
WITNESS_DIR = "witness"  # KIT/witness/RUN_ID.json: the latest signed checkpoint this site accepted
TEST_FAULTS_ENV = "FEDWARD_TEST_FAULTS"  # the test-only switch the CLI reads; see `site_handler`


def run_site_kit(kit_dir: Path, *, accept_any_task: bool = False, test_faults: bool = False) -> SiteRunResult:
    """Run the site of `kit_dir` until the run is finished; ConfigError (exit 2) before connecting on a
    bad kit, a missing policy (unless `accept_any_task`) or `[[faults]]` (unless `test_faults`)."""
    kit = load_site_kit(kit_dir)
    cfg = load_kit_config(kit)
    if cfg.deployment is None:
        raise ConfigError("missing [deployment] table", where=kit.path / "federation.toml")
    policy = site_policy(cfg, kit, accept_any_task=accept_any_task)
    loaded = load_site(cfg, kit.name)
    for file, reason in loaded.unreadable:  # skipped, never fatal: named so an operator can replace it
        log.warning(
            f"{file} skipped: {reason}",
            extra={"event": "file_unreadable", "site": kit.name, "file": file, "reason": reason},
        )
    trust = site_trust(cfg, kit.keys, kit.name, loaded.fingerprint, policy, utc_clock)
    trust.witness_dir = kit.path / WITNESS_DIR  # the latest checkpoint it saw, for `ledger --checkpoint`
    site = Site(kit.name, loaded.data, trust, keep_dir=kit.path / "models")
    handler = site_handler(site, cfg, kit, test_faults=test_faults)
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


def site_policy(cfg: FederationConfig, kit: SiteKit, *, accept_any_task: bool) -> SitePolicy:
    """The site's policy file; without one, the explicit accept-any-task policy or a refusal to start.
    A policy file and `accept_any_task` together are refused too: the operator must mean one of them."""
    site = next(s for s in cfg.sites if s.name == kit.name)
    if site.policy is not None:
        if accept_any_task:
            raise ConfigError(
                "--accept-any-task was given, but the site has a policy file; the policy file decides",
                where=site.policy,
                hint="drop --accept-any-task, or remove the site's 'policy' from its kit.json",
            )
        return load_policy(site.policy)
    if not accept_any_task:
        raise ConfigError(
            f"site {kit.name} has no policy file: a deployed site refuses to run without one (deny by "
            "default)",
            where=kit.path / "kit.json",
            hint=f"write a [policy] file (see {POLICY_DOCS}) and name it as the site's 'policy' in the "
            "federation file or kit.json, or start with --accept-any-task to accept any task the "
            "federation sends (recorded in every manifest this site signs)",
        )
    log.warning(
        "no policy file and --accept-any-task: this site accepts any task the federation sends",
        extra={"event": "accept_any_task", "site": kit.name},
    )
    return SitePolicy.accept_any_task()


def site_handler(site: Site, cfg: FederationConfig, kit: SiteKit, *, test_faults: bool) -> SiteHandler:
    """The handler the site loop calls: the site itself, or, under the test-only switch, the site behind
    the `[[faults]]` injector. Faults in a federation file without the switch are refused."""
    if not cfg.faults:
        return site
    if not test_faults:
        raise ConfigError(
            "[[faults]] inject dropouts for simulations and tests; a deployed site refuses to run them",
            where=kit.path / "federation.toml",
            hint=f"remove [[faults]] from the federation file (tests set {TEST_FAULTS_ENV}=1)",
        )
    log.warning(
        "TEST-ONLY: injecting [[faults]] into this site (%s=1); never set it in production",
        TEST_FAULTS_ENV,
        extra={"event": "test_faults", "site": site.name},
    )
    return FaultySite(site, cfg.faults)
