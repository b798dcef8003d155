"""Startup kits: the folder each participant of a deployed federation starts from, and reading one back.

`fedward provision` (`fedward.deployment.provisioning`) writes the kits; the services load them here. The
layout is fixed (the services and `fedward revoke` rely on it exactly):

    KITS/_authority/   stays with the administrator; never copied to a service machine
       ca.key ca.pem crl.pem admin.key admin.pub roster.json certificates.json
    KITS/coordinator/
       kit.json federation.toml ca.pem crl.pem server.pem server.key coordinator.key admin.pub roster.json
    KITS/<site>/
       kit.json federation.toml ca.pem client.pem client.key site.key admin.pub coordinator.pub roster.json

`*.key` files are private (mode 0600), everything else 0644, and the folders 0700. `federation.toml` is
a byte copy of the federation file; `kit.json` says who the kit is for: `config_dir` is the folder of the
original federation file, so its relative paths still resolve, and a site's `train`, `test` and `policy`
may be edited when the kit moves to another machine (a relative path there is relative to the kit).

Loading fails closed: a missing file, malformed JSON, the wrong role or format, a private key others can
read, a signing key that is not the one the (verified) roster lists, or a TLS key that does not match its
certificate or CA raises `ConfigError` naming the file, so the CLI exits 2 before any connection is made.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from fedward.config import FederationConfig, coordinator_address, parse_config
from fedward.crypto import SignatureError, SigningKey, load_public_key, load_signing_key
from fedward.deployment.pki import crl_signed_by, load_certificate, load_crl, load_private_key
from fedward.errors import ConfigError
from fedward.trust import FederationKeys, HeldKeyError, Roster, RosterError

__all__ = [
    "AUTHORITY",
    "AUTHORITY_FILES",
    "CERTIFICATES_FILE",
    "COORDINATOR",
    "COORDINATOR_FILES",
    "FEDERATION_FILE",
    "KIT_FILE",
    "KIT_FORMAT",
    "ROSTER_FILE",
    "SITE_FILES",
    "CoordinatorKit",
    "SiteKit",
    "load_coordinator_kit",
    "load_kit_config",
    "load_site_kit",
]

KIT_FORMAT = "fedward-kit/1"
AUTHORITY = "_authority"
COORDINATOR = "coordinator"
KIT_FILE = "kit.json"
FEDERATION_FILE = "federation.toml"
ROSTER_FILE = "roster.json"
CERTIFICATES_FILE = "certificates.json"

_KIT = (KIT_FILE, FEDERATION_FILE, "ca.pem")
AUTHORITY_FILES = ("ca.key", "ca.pem", "crl.pem", "admin.key", "admin.pub", ROSTER_FILE, CERTIFICATES_FILE)
COORDINATOR_FILES = (
    *_KIT,
    "crl.pem",
    "server.pem",
    "server.key",
    "coordinator.key",
    "admin.pub",
    ROSTER_FILE,
)
SITE_FILES = (*_KIT, "client.pem", "client.key", "site.key", "admin.pub", "coordinator.pub", ROSTER_FILE)

_HINT = "pass a kit folder written by `fedward provision` (KITS/coordinator or KITS/SITE)"
_COMMON_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "role": (str,),
    "name": (str,),
    "federation": (str,),
    "coordinator": (str,),
    "sites": (list,),
    "config_dir": (str,),
}
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "coordinator": {**_COMMON_FIELDS, "database": (str, type(None)), "listen": (str,), "port": (int,)},
    "site": {**_COMMON_FIELDS, "train": (str,), "test": (str,), "policy": (str, type(None))},
}


class _KitFiles:
    """The files every kit has, by the layout above."""

    path: Path

    @property
    def ca_file(self) -> Path:
        return self.path / "ca.pem"

    @property
    def roster_file(self) -> Path:
        return self.path / ROSTER_FILE

    @property
    def federation_file(self) -> Path:
        return self.path / FEDERATION_FILE


@dataclass(frozen=True)
class CoordinatorKit(_KitFiles):
    """A checked coordinator kit: where to listen, its keys, and the verified roster."""

    path: Path  # absolute
    name: str  # "coordinator"
    federation: str
    coordinator: str  # https://HOST:PORT, the address the sites connect to
    sites: tuple[str, ...]  # in config order
    config_dir: Path
    database: str | None  # a SQLAlchemy URL, or None for the default SQLite inside the kit
    listen: str  # the host to bind
    port: int
    keys: FederationKeys  # admin.pub, roster.json (verified) and coordinator.key, the roster's coordinator

    @property
    def signing_key(self) -> SigningKey:
        return self.keys.coordinator_key()

    @property
    def admin_public(self) -> bytes:
        return self.keys.admin_public

    @property
    def roster(self) -> Roster:
        return self.keys.roster

    @property
    def crl_file(self) -> Path:
        return self.path / "crl.pem"

    @property
    def certificate_file(self) -> Path:
        return self.path / "server.pem"

    @property
    def key_file(self) -> Path:
        return self.path / "server.key"


@dataclass(frozen=True)
class SiteKit(_KitFiles):
    """A checked site kit: the coordinator's address, the site's data, its keys, and the verified roster."""

    path: Path  # absolute
    name: str
    federation: str
    coordinator: str  # https://HOST:PORT
    sites: tuple[str, ...]
    config_dir: Path
    train: Path
    test: Path
    policy: Path | None
    keys: FederationKeys  # admin.pub, roster.json (verified) and site.key, the key it lists for this site

    @property
    def signing_key(self) -> SigningKey:
        return self.keys.site_key(self.name)

    @property
    def admin_public(self) -> bytes:
        return self.keys.admin_public

    @property
    def coordinator_public(self) -> bytes:
        """coordinator.pub, checked at loading to be the roster's coordinator key."""
        return self.keys.coordinator_public

    @property
    def roster(self) -> Roster:
        return self.keys.roster

    @property
    def certificate_file(self) -> Path:
        return self.path / "client.pem"

    @property
    def key_file(self) -> Path:
        return self.path / "client.key"


def load_coordinator_kit(path: Path) -> CoordinatorKit:
    """Read and check the coordinator kit at `path`; ConfigError naming the file otherwise."""
    kit = Path(path).resolve()
    doc = _read_kit_json(kit, "coordinator")
    _check_files(kit, COORDINATOR_FILES)
    signing_key = _signing_key(kit / "coordinator.key", "coordinator signing key")
    keys = _keys(kit, doc, coordinator=signing_key)
    ca = _check_tls(kit, "server.pem", "server.key")
    if not crl_signed_by(load_crl(kit / "crl.pem"), ca):
        raise ConfigError("the CRL is not signed by the kit's CA (ca.pem)", where=kit / "crl.pem")
    return CoordinatorKit(
        path=kit,
        name=COORDINATOR,
        federation=doc["federation"],
        coordinator=doc["coordinator"],
        sites=tuple(doc["sites"]),
        config_dir=Path(doc["config_dir"]),
        database=doc["database"],
        listen=doc["listen"],
        port=doc["port"],
        keys=keys,
    )


def load_site_kit(path: Path) -> SiteKit:
    """Read and check a site's kit at `path`; ConfigError naming the file otherwise."""
    kit = Path(path).resolve()
    doc = _read_kit_json(kit, "site")
    _check_files(kit, SITE_FILES)
    name = doc["name"]
    signing_key = _signing_key(kit / "site.key", f"signing key of site {name!r}")
    keys = _keys(kit, doc, sites={name: signing_key})
    coordinator_public = _public_key(kit / "coordinator.pub", "coordinator public key")
    if coordinator_public != keys.coordinator_public:
        where = kit / "coordinator.pub"
        raise ConfigError("coordinator.pub is not the coordinator key roster.json lists", where=where)
    _check_tls(kit, "client.pem", "client.key")
    return SiteKit(
        path=kit,
        name=name,
        federation=doc["federation"],
        coordinator=doc["coordinator"],
        sites=tuple(doc["sites"]),
        config_dir=Path(doc["config_dir"]),
        train=kit / doc["train"],
        test=kit / doc["test"],
        policy=None if doc["policy"] is None else kit / doc["policy"],
        keys=keys,
    )


def load_kit_config(kit: CoordinatorKit | SiteKit) -> FederationConfig:
    """The kit's federation.toml, parsed as if it were still in `config_dir` (so its relative paths
    resolve as in the original); for a site kit, that site's data and policy are the kit.json values."""
    path = kit.federation_file
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the federation file: {exc.strerror}", where=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=path) from None
    try:
        cfg = parse_config(raw, source=kit.config_dir / FEDERATION_FILE)
    except ConfigError as exc:
        raise ConfigError(str(exc), where=path, hint=exc.hint) from None
    if cfg.attacks:
        raise ConfigError(
            "[[attacks]] poison updates for robustness simulations only; a deployed coordinator or site "
            "refuses a federation file that has them",
            where=path,
            hint="remove [[attacks]] from the federation file",
        )
    if cfg.federation.name != kit.federation or tuple(s.name for s in cfg.sites) != kit.sites:
        raise ConfigError("the federation or its sites differ from the kit's kit.json", where=path)
    if isinstance(kit, CoordinatorKit):
        return cfg
    paths = {"train": kit.train, "test": kit.test, "policy": kit.policy}
    sites = [s.model_copy(update=paths) if s.name == kit.name else s for s in cfg.sites]
    return cfg.model_copy(update={"sites": sites})


def _read_kit_json(kit: Path, role: str) -> dict[str, Any]:
    path = kit / KIT_FILE
    if not kit.is_dir():
        raise ConfigError("kit folder not found", where=kit, hint=_HINT)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError("not a startup kit: kit.json is missing", where=path, hint=_HINT) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the kit description: {exc.strerror}", where=path) from None
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", where=path) from None
    try:
        _check_kit_doc(doc, role)
    except ValueError as exc:
        raise ConfigError(str(exc), where=path, hint=_HINT) from None
    return doc  # type: ignore[no-any-return]


def _check_kit_doc(doc: Any, role: str) -> None:
    """kit.json has the format, role, and exactly the keys of `role`, each of its type; ValueError if not."""
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    if doc.get("format") != KIT_FORMAT:
        raise ValueError(f"'format' is {doc.get('format')!r}; this fedward reads {KIT_FORMAT!r}")
    if doc.get("role") != role:
        raise ValueError(f"this is a kit for the role {doc.get('role')!r}, not a {role} kit")
    fields = _FIELDS[role]
    unknown, missing = sorted(set(doc) - set(fields)), sorted(set(fields) - set(doc))
    if unknown or missing:
        raise ValueError(f"unknown keys {unknown}, missing keys {missing}")
    for key, kinds in fields.items():
        if type(doc[key]) not in kinds:
            raise ValueError(f"'{key}' has the wrong type ({type(doc[key]).__name__})")
    if not doc["sites"] or not all(isinstance(s, str) for s in doc["sites"]):
        raise ValueError("'sites' must be a non-empty list of site names")
    if role == "coordinator" and not (doc["name"] == COORDINATOR and 0 < doc["port"] < 65536):
        raise ValueError("'name' must be 'coordinator' and 'port' between 1 and 65535")
    if role == "site" and doc["name"] not in doc["sites"]:
        raise ValueError(f"'name': {doc['name']!r} is not one of 'sites'")
    if not Path(doc["config_dir"]).is_absolute():
        raise ValueError("'config_dir' must be an absolute path")
    try:
        coordinator_address(doc["coordinator"])
    except ValueError as exc:
        raise ValueError(f"'coordinator' {exc}") from None


def _check_files(kit: Path, names: tuple[str, ...]) -> None:
    """Every file of the layout is there, and no private key is readable by other users."""
    for name in names:
        path = kit / name
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ConfigError(f"the kit has no {name}", where=path, hint=_HINT) from None
        if name.endswith(".key") and os.name == "posix" and mode & 0o077:
            raise ConfigError(
                f"private key is readable by other users (mode {stat.S_IMODE(mode):04o})",
                where=path,
                hint=f"chmod 600 {path}",
            )


def _keys(
    kit: Path,
    doc: dict[str, Any],
    *,
    coordinator: SigningKey | None = None,
    sites: dict[str, SigningKey] | None = None,
) -> FederationKeys:
    """The kit's key bundle: admin.pub, the roster (verified with it, of this federation) and the private
    key the kit holds, which must be the one the roster lists."""
    admin_public = _public_key(kit / "admin.pub", "administrator public key")
    path = kit / ROSTER_FILE
    try:
        keys = FederationKeys(admin_public, path.read_bytes(), coordinator, sites or {})
    except OSError as exc:
        raise ConfigError(f"cannot read the roster: {exc.strerror}", where=path) from None
    except HeldKeyError as exc:
        if exc.holder == COORDINATOR:
            msg = "coordinator.key is not the coordinator key roster.json lists"
            raise ConfigError(msg, where=kit / "coordinator.key") from None
        msg = f"site.key is not the key roster.json lists for site {exc.holder!r}"
        raise ConfigError(msg, where=kit / "site.key") from None
    except RosterError as exc:
        raise ConfigError(str(exc), where=path, hint=exc.hint) from None
    if keys.roster.federation != doc["federation"]:
        raise ConfigError(
            f"the roster is of federation {keys.roster.federation!r}, not {doc['federation']!r}", where=path
        )
    return keys


def _signing_key(path: Path, what: str) -> SigningKey:
    try:
        return load_signing_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", where=path) from None
    except SignatureError:
        raise ConfigError(f"the {what} is not an Ed25519 private key (PEM)", where=path) from None


def _public_key(path: Path, what: str) -> bytes:
    try:
        return load_public_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", where=path) from None
    except SignatureError:
        raise ConfigError(f"the {what} is not an Ed25519 public key (PEM)", where=path) from None


def _check_tls(kit: Path, certificate_name: str, key_name: str) -> x509.Certificate:
    """The TLS key matches its certificate, which the kit's CA issued; returns the CA certificate."""
    ca = load_certificate(kit / "ca.pem", "CA certificate")
    certificate = load_certificate(kit / certificate_name, "TLS certificate")
    key = load_private_key(kit / key_name)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise ConfigError(f"{key_name} is not the key of {certificate_name}", where=kit / key_name)
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        where = kit / certificate_name
        raise ConfigError("the certificate was not issued by the kit's CA (ca.pem)", where=where) from None
    return ca
