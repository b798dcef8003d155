"""The federation's key bundle: the one object that says which Ed25519 keys (RFC 8032) a party holds.

Every party of a federation sees the same public half: the administrator's public key and the roster it
signed (so every site's key and the coordinator's). Each holds a different private half: a simulation
and `fedward provision` hold them all, a coordinator only its own, a site only its own. One class covers
every case, so the checks that tie a private key to the roster are written once:

- the roster is verified against the administrator's key when the bundle is built, never later;
- every private key held must be the one the roster names for its holder (`HeldKeyError` names which).

A bundle therefore cannot exist with an unverified roster or a key the roster does not admit. Callers
turn `RosterError` into the `ConfigError` of their own file layout (a kit, a `[trust] keys` folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from fedward.crypto import SigningKey, public_key_pem
from fedward.trust.errors import RosterError
from fedward.trust.roster import Roster, SignedRoster, SiteEntry, sign_roster, verify_roster

__all__ = ["COORDINATOR", "ROSTER_FILE", "FederationKeys", "HeldKeyError", "new_federation_keys"]

ROSTER_FILE = "roster.json"
COORDINATOR = "coordinator"  # the holder name of the coordinator's key in `HeldKeyError`


class HeldKeyError(RosterError):
    """A private key held is not the one the roster names; `holder` is "coordinator" or a site name."""

    def __init__(self, holder: str, message: str) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class FederationKeys:
    """The administrator's public key, the signed roster exactly as written, and the private keys held.

    `roster` is derived (verified against `admin_public` in `__post_init__`); `coordinator`, `sites` and
    `admin` hold only the private keys this party has. Raises `RosterError` (or `HeldKeyError`) when the
    roster does not verify or a held key is not the roster's.
    """

    admin_public: bytes
    roster_file: bytes  # the signed roster, byte for byte (written into run directories and kits)
    coordinator: SigningKey | None = None
    sites: Mapping[str, SigningKey] = field(default_factory=dict)
    admin: SigningKey | None = None
    roster: Roster = field(init=False, compare=False)

    def __post_init__(self) -> None:
        roster = verify_roster(SignedRoster.from_bytes(self.roster_file), self.admin_public)
        object.__setattr__(self, "roster", roster)
        object.__setattr__(self, "sites", MappingProxyType(dict(self.sites)))
        _check_held(self, roster)

    @property
    def coordinator_public(self) -> bytes:
        return self.roster.coordinator_public_key

    def admin_key(self) -> SigningKey:
        """The administrator's private key; `RosterError` if this party does not hold it."""
        if self.admin is None:
            raise RosterError("this party does not hold the administrator's signing key")
        return self.admin

    def coordinator_key(self) -> SigningKey:
        """The coordinator's private key; `RosterError` if this party does not hold it."""
        if self.coordinator is None:
            raise RosterError("this party does not hold the coordinator's signing key")
        return self.coordinator

    def site_key(self, name: str) -> SigningKey:
        """Site `name`'s private key; `RosterError` if this party does not hold it."""
        key = self.sites.get(name)
        if key is None:
            raise RosterError(f"this party does not hold the signing key of site {name!r}")
        return key

    def peer_keys(self) -> dict[str, bytes]:
        """Every admitted site's public key, revoked or not (old signatures stay verifiable)."""
        return {name: entry.public_key for name, entry in self.roster.sites.items()}

    def write_public(self, folder: Path) -> None:
        """admin.pub, coordinator.pub and roster.json into a new `folder`: what a verifier needs."""
        folder.mkdir(parents=True)
        (folder / "admin.pub").write_bytes(public_key_pem(self.admin_public))
        (folder / "coordinator.pub").write_bytes(public_key_pem(self.coordinator_public))
        (folder / ROSTER_FILE).write_bytes(self.roster_file)


def _check_held(keys: FederationKeys, roster: Roster) -> None:
    if keys.admin is not None and keys.admin.public != keys.admin_public:
        raise HeldKeyError("admin", "the administrator's private key is not the one that signed the roster")
    if keys.coordinator is not None and keys.coordinator.public != roster.coordinator_public_key:
        message = "the coordinator's private key is not the coordinator the roster names"
        raise HeldKeyError(COORDINATOR, message)
    for name, key in keys.sites.items():
        if name not in roster.sites:
            raise HeldKeyError(name, f"site {name!r} is not admitted in the roster")
        if roster.public_key(name) != key.public:
            raise HeldKeyError(name, f"the private key of site {name!r} is not the key the roster admits")


def new_federation_keys(federation: str, sites: list[str], issued: str) -> FederationKeys:
    """Fresh keys for the administrator, the coordinator and every site, and the roster (version 1,
    signed by the administrator) admitting them: every private key held."""
    admin, coordinator = SigningKey.generate(), SigningKey.generate()
    site_keys = {name: SigningKey.generate() for name in sites}
    roster = Roster(
        federation=federation,
        version=1,
        issued=issued,
        coordinator_public_key=coordinator.public,
        sites={name: SiteEntry(key.public) for name, key in site_keys.items()},
    )
    signed = sign_roster(roster, admin).to_bytes()
    return FederationKeys(admin.public, signed, coordinator, site_keys, admin)
