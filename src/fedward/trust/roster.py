"""The admission roster: which sites belong to a federation, under which Ed25519 keys, and until when.

The federation administrator signs the roster with their own key; the coordinator admits an update
only from a site whose key the roster lists and which is not revoked or expired for that round. The
roster is canonical JSON (see `fedward.core.canonical`) with a detached Ed25519 signature (RFC 8032)
over a domain-separated message, so a roster signature can never be replayed as another kind of
signature by the same key:

    {"federation": str, "version": int, "issued": ISO time, "coordinator": {"public_key": hex},
     "sites": {name: {"public_key": hex, "admitted_round": int, "not_after": ISO time | null,
                      "revoked_from_round": int | null}}}

Revocation is by round, not by deletion: a revoked site's key stays in the roster so that the packages
it signed before `revoked_from_round` remain verifiable for audit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.crypto import PUBLIC_KEY_BYTES, SignatureError, SigningKey, verify
from fedward.trust.errors import RosterError
from fedward.trust.formats import (
    check_hex,
    check_int,
    check_keys,
    check_name,
    check_object,
    check_str,
    check_timestamp,
    parse_utc,
)

__all__ = [
    "MAX_ROSTER_BYTES",
    "ROSTER_SIGNING_CONTEXT",
    "Roster",
    "SignedRoster",
    "SiteEntry",
    "SiteStatus",
    "admit",
    "read_roster",
    "revoke",
    "sign_roster",
    "verify_roster",
    "write_roster",
]

ROSTER_SIGNING_CONTEXT = b"fedward/roster/v1\n"
MAX_ROSTER_BYTES = 4 << 20

_ROSTER_KEYS = {"federation", "version", "issued", "coordinator", "sites"}
_SITE_KEYS = {"public_key", "admitted_round", "not_after", "revoked_from_round"}


class SiteStatus(StrEnum):
    """A site's standing for one round at one moment."""

    OK = "ok"
    UNKNOWN = "unknown"  # not in the roster, or not yet admitted in this round
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class SiteEntry:
    """One admitted site: its raw 32-byte Ed25519 public key and the limits of its admission."""

    public_key: bytes
    admitted_round: int = 1
    not_after: str | None = None  # ISO 8601 UTC; the key is valid up to and including this moment
    revoked_from_round: int | None = None  # packages for rounds >= this are refused

    def __post_init__(self) -> None:
        try:
            _check_entry(self)
        except ValueError as exc:
            raise RosterError(f"invalid site entry: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "public_key": self.public_key.hex(),
            "admitted_round": self.admitted_round,
            "not_after": self.not_after,
            "revoked_from_round": self.revoked_from_round,
        }

    @classmethod
    def from_dict(cls, value: Any, where: str) -> SiteEntry:
        entry = check_keys(value, _SITE_KEYS, where)
        key = check_hex(entry["public_key"], f"{where}.public_key", nbytes=PUBLIC_KEY_BYTES)
        try:
            return cls(
                bytes.fromhex(key), entry["admitted_round"], entry["not_after"], entry["revoked_from_round"]
            )
        except RosterError as exc:
            raise RosterError(f"{where}: {exc}") from None


def _check_entry(entry: SiteEntry) -> None:
    if not isinstance(entry.public_key, bytes) or len(entry.public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public_key: expected {PUBLIC_KEY_BYTES} raw bytes")
    check_int(entry.admitted_round, "admitted_round", minimum=1)
    if entry.not_after is not None:
        check_timestamp(entry.not_after, "not_after")
    if entry.revoked_from_round is not None:
        check_int(entry.revoked_from_round, "revoked_from_round", minimum=1)


@dataclass(frozen=True)
class Roster:
    """The federation's admission list; immutable (changes make a new version via `admit`/`revoke`)."""

    federation: str
    version: int
    issued: str  # ISO 8601 UTC
    coordinator_public_key: bytes
    sites: Mapping[str, SiteEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            check_str(self.federation, "federation", max_len=256)
            check_int(self.version, "version", minimum=1)
            check_timestamp(self.issued, "issued")
            key = self.coordinator_public_key
            if not isinstance(key, bytes) or len(key) != PUBLIC_KEY_BYTES:
                raise ValueError(f"coordinator public key: expected {PUBLIC_KEY_BYTES} raw bytes")
            for name, entry in self.sites.items():
                check_name(name, "site name")
                if not isinstance(entry, SiteEntry):
                    raise ValueError(f"site {name!r}: expected a SiteEntry")
        except ValueError as exc:
            raise RosterError(f"invalid roster: {exc}") from None
        object.__setattr__(self, "sites", MappingProxyType(dict(sorted(self.sites.items()))))

    def status(self, site: str, round: int, now: str) -> SiteStatus:
        """May `site` contribute to `round` at time `now` (ISO 8601 UTC)? Revocation wins over expiry."""
        entry = self.sites.get(site)
        if entry is None or round < entry.admitted_round:
            return SiteStatus.UNKNOWN
        if entry.revoked_from_round is not None and round >= entry.revoked_from_round:
            return SiteStatus.REVOKED
        if entry.not_after is not None and parse_utc(now) > parse_utc(entry.not_after):
            return SiteStatus.EXPIRED
        return SiteStatus.OK

    def public_key(self, site: str) -> bytes:
        """The site's raw public key, revoked or not (old signatures stay verifiable for audit)."""
        entry = self.sites.get(site)
        if entry is None:
            raise RosterError(f"site {site!r} is not in the roster of federation {self.federation!r}")
        return entry.public_key

    def to_dict(self) -> dict[str, Any]:
        return {
            "federation": self.federation,
            "version": self.version,
            "issued": self.issued,
            "coordinator": {"public_key": self.coordinator_public_key.hex()},
            "sites": {name: entry.to_dict() for name, entry in self.sites.items()},
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = MAX_ROSTER_BYTES) -> Roster:
        """Parse canonical roster bytes strictly; raises `RosterError`."""
        try:
            return cls.from_dict(parse_canonical(data, max_bytes=max_bytes))
        except (CanonicalError, ValueError) as exc:
            raise RosterError(f"malformed roster: {exc}") from None

    @classmethod
    def from_dict(cls, value: Any) -> Roster:
        doc = check_keys(value, _ROSTER_KEYS, "roster")
        coordinator = check_keys(doc["coordinator"], {"public_key"}, "roster.coordinator")
        key = check_hex(coordinator["public_key"], "coordinator.public_key", nbytes=PUBLIC_KEY_BYTES)
        sites = check_object(doc["sites"], "roster.sites")
        entries = {name: SiteEntry.from_dict(entry, f"sites.{name}") for name, entry in sites.items()}
        return cls(doc["federation"], doc["version"], doc["issued"], bytes.fromhex(key), entries)


@dataclass(frozen=True)
class SignedRoster:
    """Canonical roster bytes and the administrator's detached Ed25519 signature over them."""

    roster_bytes: bytes
    signature: bytes

    def to_bytes(self) -> bytes:
        """The file form: canonical `{"roster": {...}, "signature": hex}`."""
        roster = parse_canonical(self.roster_bytes, max_bytes=MAX_ROSTER_BYTES)
        return canonical_bytes({"roster": roster, "signature": self.signature.hex()})

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = MAX_ROSTER_BYTES) -> SignedRoster:
        """Parse the file form strictly (canonical, no unknown keys); the signature is not checked here."""
        try:
            doc = check_keys(parse_canonical(data, max_bytes=max_bytes), {"roster", "signature"}, "file")
            signature = check_hex(doc["signature"], "signature", nbytes=64)
            return cls(canonical_bytes(doc["roster"]), bytes.fromhex(signature))
        except (CanonicalError, ValueError) as exc:
            raise RosterError(f"malformed signed roster: {exc}") from None


def sign_roster(roster: Roster, admin_key: SigningKey) -> SignedRoster:
    roster_bytes = roster.to_bytes()
    return SignedRoster(roster_bytes, admin_key.sign(ROSTER_SIGNING_CONTEXT + roster_bytes))


def verify_roster(signed: SignedRoster, admin_public: bytes) -> Roster:
    """The roster, if `admin_public` signed exactly these bytes; raises `RosterError` otherwise."""
    try:
        verify(admin_public, ROSTER_SIGNING_CONTEXT + signed.roster_bytes, signed.signature)
    except SignatureError:
        raise RosterError(
            "the roster's signature does not verify with the administrator's public key",
            hint="the roster was changed after signing, or it was signed by another key",
        ) from None
    except Exception as exc:  # fail closed: anything odd in verification rejects the roster
        raise RosterError(f"the roster's signature cannot be checked: {exc}") from None
    try:
        return Roster.from_bytes(signed.roster_bytes)
    except RosterError:
        raise
    except Exception as exc:  # fail closed, as above
        raise RosterError(f"malformed roster: {exc}") from None


def admit(
    roster: Roster,
    site: str,
    public_key: bytes,
    *,
    admitted_round: int = 1,
    not_after: str | None = None,
    issued: str | None = None,
) -> Roster:
    """A new roster version with `site` added; a site already listed is an error (revoke it instead)."""
    if site in roster.sites:
        raise RosterError(f"site {site!r} is already in the roster; revoke it and admit a new name")
    sites = {**roster.sites, site: SiteEntry(public_key, admitted_round, not_after)}
    return replace(roster, version=roster.version + 1, issued=issued or roster.issued, sites=sites)


def revoke(roster: Roster, site: str, from_round: int, *, issued: str | None = None) -> Roster:
    """A new roster version in which `site` may not contribute to rounds >= `from_round`.

    Revocation never shrinks: revoking again from a later round keeps the earlier one.
    """
    entry = roster.sites.get(site)
    if entry is None:
        raise RosterError(f"cannot revoke {site!r}: it is not in the roster of {roster.federation!r}")
    try:
        check_int(from_round, "from_round", minimum=1)
    except ValueError as exc:
        raise RosterError(f"cannot revoke {site!r}: {exc}") from None
    earliest = from_round if entry.revoked_from_round is None else min(entry.revoked_from_round, from_round)
    sites = {**roster.sites, site: replace(entry, revoked_from_round=earliest)}
    return replace(roster, version=roster.version + 1, issued=issued or roster.issued, sites=sites)


def write_roster(path: Path, signed: SignedRoster) -> None:
    """Write the signed roster atomically (temporary file in the same folder, then rename).

    The roster is public, so the file is world-readable (0644); a reader never sees half a roster.
    """
    path = Path(path)
    data = signed.to_bytes()
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RosterError(f"cannot write the roster: {exc.strerror}", where=path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise RosterError(f"cannot write the roster: {exc.strerror}", where=path) from None


def read_roster(path: Path, admin_public: bytes) -> Roster:
    """Read, parse and verify a roster file; every failure is a `RosterError` naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_ROSTER_BYTES + 1)
    except OSError as exc:
        raise RosterError(f"cannot read the roster: {exc.strerror}", where=path) from None
    try:
        return verify_roster(SignedRoster.from_bytes(data), admin_public)
    except RosterError as exc:
        raise RosterError(str(exc), where=path, hint=exc.hint) from None
