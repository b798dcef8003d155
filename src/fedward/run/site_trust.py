"""A site's trust state for a run, built the same way in a simulation and in a deployed site node: its
own signing key, the coordinator's public key and every peer's from the roster, its policy, the
fingerprint of its data and the hash of its preprocessing (what its signed manifests record).

Which policy a site runs under is the caller's decision, not this module's: a simulation may fall back
to the built-in simulation policy; a deployed site refuses to start without one it was given
(deny by default; `deployment/site.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from fedward.config import FederationConfig
from fedward.run.data import preprocessing_sha256
from fedward.site.policy import SitePolicy
from fedward.site.trust import SiteTrust
from fedward.trust import FederationKeys

__all__ = ["site_trust"]


def site_trust(
    cfg: FederationConfig,
    keys: FederationKeys,
    name: str,
    fingerprint: str,
    policy: SitePolicy,
    clock: Callable[[], str],
) -> SiteTrust:
    """Site `name`'s trust state; `keys` must hold its private key (`RosterError` otherwise)."""
    return SiteTrust(
        name=name,
        key=keys.site_key(name),
        coordinator_key=keys.coordinator_public,
        policy=policy,
        federation=cfg.federation.name,
        dataset_fingerprint=fingerprint,
        preprocessing_sha256=preprocessing_sha256(cfg),
        clock=clock,
        peer_keys=keys.peer_keys(),
    )
