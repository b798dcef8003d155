"""Who is who in a simulated federation: the administrator's, the coordinator's and every site's Ed25519
keys, the signed roster, and each site's policy and trust state.

A simulation plays every role in one process, so it holds every private key. With `[trust] keys = DIR`
it uses the keys and roster a person made with `fedward keys new` and `fedward roster create` (so a
revocation in the roster takes effect in the run); otherwise it makes fresh keys for the run. Either way
the public half (admin.pub, coordinator.pub, roster.json) is written into the run directory's `keys/`,
so the ledger and the releases can be verified afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fedward.config import FederationConfig
from fedward.crypto import SignatureError, SigningKey, load_public_key, load_signing_key, public_key_pem
from fedward.errors import ConfigError
from fedward.site.policy import SitePolicy, load_policy
from fedward.site.trust import SiteTrust
from fedward.trust import (
    PackageError,
    Roster,
    RosterError,
    SignedRoster,
    new_federation_keys,
    verify_roster,
)

__all__ = ["Identities", "federation_identities", "site_trust"]

ROSTER_FILE = "roster.json"


@dataclass(frozen=True)
class Identities:
    admin_public: bytes
    coordinator: SigningKey
    sites: dict[str, SigningKey]
    roster: Roster
    roster_file: bytes  # the signed roster as written

    def write_public(self, folder: Path) -> None:
        """admin.pub, coordinator.pub and roster.json: what a verifier needs."""
        folder.mkdir(parents=True)
        (folder / "admin.pub").write_bytes(public_key_pem(self.admin_public))
        (folder / "coordinator.pub").write_bytes(public_key_pem(self.coordinator.public))
        (folder / ROSTER_FILE).write_bytes(self.roster_file)


def federation_identities(cfg: FederationConfig, names: Sequence[str], now: str) -> Identities:
    if cfg.trust.keys is not None:
        return _load(cfg.trust.keys, names)
    keys = new_federation_keys(cfg.federation.name, list(names), now)
    return Identities(keys.admin.public, keys.coordinator, keys.sites, keys.roster, keys.signed.to_bytes())


def _load(folder: Path, names: Sequence[str]) -> Identities:
    """Keys made by `fedward keys new` and a roster signed by `fedward roster create`."""
    try:
        admin_public = load_public_key(folder / "admin.pub")
        raw = (folder / ROSTER_FILE).read_bytes()  # read once: the roster verified is the roster recorded
        roster = verify_roster(SignedRoster.from_bytes(raw), admin_public)
        coordinator = load_signing_key(folder / "coordinator.key")
        sites = {name: load_signing_key(folder / f"{name}.key") for name in names}
    except (OSError, SignatureError, PackageError, RosterError) as exc:
        raise ConfigError(f"[trust] 'keys': {exc}", where=folder) from None
    if roster.coordinator_public_key != coordinator.public:
        raise ConfigError(
            "[trust] 'keys': coordinator.key is not the coordinator in roster.json", where=folder
        )
    for name, key in sites.items():
        if name not in roster.sites:
            raise ConfigError(f"[trust] 'keys': site {name} is not admitted in roster.json", where=folder)
        if roster.public_key(name) != key.public:
            raise ConfigError(f"[trust] 'keys': {name}.key is not the key roster.json admits", where=folder)
    return Identities(admin_public, coordinator, sites, roster, raw)


def site_trust(
    cfg: FederationConfig,
    ids: Identities,
    name: str,
    fingerprint: str,
    preprocessing_sha256: str | None,
    clock: Callable[[], str],
) -> SiteTrust:
    site = next(s for s in cfg.sites if s.name == name)
    policy = SitePolicy.simulation_default() if site.policy is None else load_policy(site.policy)
    return SiteTrust(
        name=name,
        key=ids.sites[name],
        coordinator_key=ids.coordinator.public,
        policy=policy,
        federation=cfg.federation.name,
        dataset_fingerprint=fingerprint,
        preprocessing_sha256=preprocessing_sha256,
        clock=clock,
        peer_keys={site: ids.roster.public_key(site) for site in ids.roster.sites},
    )
