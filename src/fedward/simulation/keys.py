"""A simulation's keys: it plays every role in one process, so its `FederationKeys` hold every private
key. With `[trust] keys = DIR` they are the keys and roster a person made with `fedward keys new` and
`fedward roster create` (so a revocation in the roster takes effect in the run); otherwise they are fresh
for the run. Either way the public half goes into the run directory's `keys/` (`run.audit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fedward.config import FederationConfig
from fedward.crypto import SignatureError, load_public_key, load_signing_key
from fedward.errors import ConfigError
from fedward.trust import FederationKeys, HeldKeyError, PackageError, RosterError, new_federation_keys

__all__ = ["simulation_keys"]

ROSTER_FILE = "roster.json"


def simulation_keys(cfg: FederationConfig, names: Sequence[str], now: str) -> FederationKeys:
    """The keys of every role for a run of `cfg` with sites `names` (fresh unless `[trust] keys`)."""
    if cfg.trust.keys is not None:
        return _load(cfg.trust.keys, names)
    return new_federation_keys(cfg.federation.name, list(names), now)


def _load(folder: Path, names: Sequence[str]) -> FederationKeys:
    """admin.pub, roster.json, coordinator.key and NAME.key from `folder`; ConfigError naming the file."""
    try:
        admin_public = load_public_key(folder / "admin.pub")
        raw = (folder / ROSTER_FILE).read_bytes()  # read once: the roster verified is the roster recorded
        coordinator = load_signing_key(folder / "coordinator.key")
        sites = {name: load_signing_key(folder / f"{name}.key") for name in names}
        return FederationKeys(admin_public, raw, coordinator, sites)
    except HeldKeyError as exc:
        file = f"{exc.holder}.key"
        raise ConfigError(f"[trust] 'keys': {file}: {exc}", where=folder / file) from None
    except (OSError, SignatureError, PackageError, RosterError) as exc:
        raise ConfigError(f"[trust] 'keys': {exc}", where=folder) from None
