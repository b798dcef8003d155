"""`provision`: make the startup kits of a federation, and the administrator's certificate authority.

Turns a federation file with a `[deployment]` table into one kit per participant plus `_authority/`, in
the layout `fedward.deployment.kits` documents. TLS keys and certificates come from
`fedward.deployment.pki` (a private CA, RFC 5280); the Ed25519 signing keys and the signed roster from
`fedward.crypto` and `fedward.trust` (RFC 8032). Each kit holds only its own private keys. Every check
runs before anything is written, and the kits are built in a hidden folder beside `--out` and renamed
into place, so a failed provision leaves nothing half written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fedward.config import DeploymentConfig, FederationConfig, coordinator_address
from fedward.crypto import public_key_pem
from fedward.deployment.kits import (
    AUTHORITY,
    CERTIFICATES_FILE,
    COORDINATOR,
    FEDERATION_FILE,
    KIT_FILE,
    KIT_FORMAT,
    ROSTER_FILE,
)
from fedward.deployment.pki import (
    IssuedCertificate,
    certificate_pem,
    crl_pem,
    empty_crl,
    issue_client_certificate,
    issue_server_certificate,
    new_authority,
    private_key_pem,
    write_file,
)
from fedward.errors import ConfigError
from fedward.trust import FederationKeys, format_utc, new_federation_keys

__all__ = ["ProvisionResult", "provision"]

# folder -> file -> (content, private); private files are written 0600, the rest 0644
_Tree = dict[str, dict[str, tuple[bytes, bool]]]


@dataclass(frozen=True)
class ProvisionResult:
    """What `provision` wrote: the kit folders (`_authority` first) and the files in each."""

    out: Path
    federation: str
    coordinator: str
    folders: dict[str, tuple[str, ...]]  # folder name -> file names, in layout order
    not_after: datetime  # every certificate (and the first CRL) is valid until then
    ca_sha256: str  # fingerprint of the CA certificate, to compare out of band


@dataclass(frozen=True)
class _Identities:
    """Every key and certificate of a fresh federation, before they are laid out in kits: the Ed25519
    key bundle (every private key held) and the TLS material of the private CA."""

    keys: FederationKeys
    ca_key: bytes
    ca: bytes
    crl: bytes
    server: IssuedCertificate
    clients: dict[str, IssuedCertificate]


def provision(
    cfg: FederationConfig, config_path: Path, out: Path, now: datetime, *, force: bool = False
) -> ProvisionResult:
    """Write the startup kits of `cfg` (read from `config_path`) into `out`, certificates valid from `now`.

    `out` must be missing or empty unless `force`, which replaces it as a whole (its old CA and keys are
    lost). Every check runs before anything is written; ConfigError names the file and what to do.
    """
    deployment = _deployment(cfg, config_path)
    _check_site_names(cfg, config_path)
    _check_out(out, force, [config_path, *_data_files(cfg)])
    config_bytes = _read_config(config_path)
    host, _ = coordinator_address(deployment.coordinator)
    ids = _identities(cfg, host, now, deployment.certificate_days)
    tree = _layout(cfg, deployment, config_path.parent.resolve(), config_bytes, ids)
    _write_tree(out, tree)
    return ProvisionResult(
        out=out,
        federation=cfg.federation.name,
        coordinator=deployment.coordinator,
        folders={folder: tuple(files) for folder, files in tree.items()},
        not_after=ids.server.certificate.not_valid_after_utc,  # every certificate shares it
        ca_sha256=hashlib.sha256(ids.ca).hexdigest(),
    )


def _deployment(cfg: FederationConfig, config_path: Path) -> DeploymentConfig:
    if cfg.deployment is None:
        raise ConfigError(
            "no [deployment] table: provisioning needs [deployment] 'coordinator' (where sites connect)",
            where=config_path,
            hint='add:  [deployment]  coordinator = "https://HOST:PORT"',
        )
    return cfg.deployment


def _check_site_names(cfg: FederationConfig, config_path: Path) -> None:
    """Each site gets a folder named after it: none may take a kit's name or differ from another in case
    only (the folders would clash on a case-insensitive file system)."""
    seen: dict[str, str] = {}
    for i, site in enumerate(cfg.sites, start=1):
        where = f"[[sites]] #{i} 'name': {site.name!r}"
        if site.name.lower() == COORDINATOR or site.name.startswith("_"):
            raise ConfigError(f"{where} is reserved for a kit folder; rename the site", where=config_path)
        other = seen.setdefault(site.name.lower(), site.name)
        if other != site.name:
            raise ConfigError(f"{where} differs from {other!r} only in case; rename one", where=config_path)


def _data_files(cfg: FederationConfig) -> list[Path]:
    return [p for s in cfg.sites for p in (s.train, s.test, s.policy) if p is not None]


def _check_out(out: Path, force: bool, protected: list[Path]) -> None:
    """Refuse a non-empty `out` unless `force`, and even then one holding the federation's own files."""
    if out.exists() and not out.is_dir():
        raise ConfigError("exists and is not a folder", where=out, hint="choose another --out")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        raise ConfigError(
            "the folder is not empty",
            where=out,
            hint="choose a new --out, or pass --force to replace it (its CA and keys are lost)",
        )
    root = out.resolve()
    for path in protected:
        if path.resolve().is_relative_to(root):
            raise ConfigError(f"--force would delete {path}, which the federation uses", where=out)


def _read_config(config_path: Path) -> bytes:
    try:
        return config_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the federation file: {exc.strerror}", where=config_path) from None


def _identities(cfg: FederationConfig, host: str, now: datetime, days: int) -> _Identities:
    federation = cfg.federation.name
    ca = new_authority(federation, now, days)
    keys = new_federation_keys(federation, [site.name for site in cfg.sites], format_utc(now))
    return _Identities(
        keys=keys,
        ca_key=private_key_pem(ca.key),
        ca=certificate_pem(ca.certificate),
        crl=crl_pem(empty_crl(ca, now, days)),
        server=issue_server_certificate(ca, federation, host, now, days),
        clients={name: issue_client_certificate(ca, name, now, days) for name in keys.sites},
    )


def _layout(
    cfg: FederationConfig, deployment: DeploymentConfig, config_dir: Path, config: bytes, ids: _Identities
) -> _Tree:
    """Every file of every kit, by folder, in the documented order."""
    keys = ids.keys
    admin_pub = public_key_pem(keys.admin_public)
    tree: _Tree = {
        AUTHORITY: {
            "ca.key": (ids.ca_key, True),
            "ca.pem": (ids.ca, False),
            "crl.pem": (ids.crl, False),
            "admin.key": (keys.admin_key().private_pem(), True),
            "admin.pub": (admin_pub, False),
            ROSTER_FILE: (keys.roster_file, False),
            CERTIFICATES_FILE: (_certificates(ids.clients), False),
        },
        COORDINATOR: {
            KIT_FILE: (_json(_coordinator_kit(cfg, deployment, config_dir)), False),
            FEDERATION_FILE: (config, False),
            "ca.pem": (ids.ca, False),
            "crl.pem": (ids.crl, False),
            "server.pem": (certificate_pem(ids.server.certificate), False),
            "server.key": (private_key_pem(ids.server.key), True),
            "coordinator.key": (keys.coordinator_key().private_pem(), True),
            "admin.pub": (admin_pub, False),
            ROSTER_FILE: (keys.roster_file, False),
        },
    }
    for site in cfg.sites:
        kit = _json(_site_kit(cfg, deployment, config_dir, site.name))
        tree[site.name] = _site_files(site.name, kit, config, ids)
    return tree


def _site_files(name: str, kit: bytes, config: bytes, ids: _Identities) -> dict[str, tuple[bytes, bool]]:
    client = ids.clients[name]
    return {
        KIT_FILE: (kit, False),
        FEDERATION_FILE: (config, False),
        "ca.pem": (ids.ca, False),
        "client.pem": (certificate_pem(client.certificate), False),
        "client.key": (private_key_pem(client.key), True),
        "site.key": (ids.keys.site_key(name).private_pem(), True),
        "admin.pub": (public_key_pem(ids.keys.admin_public), False),
        "coordinator.pub": (public_key_pem(ids.keys.coordinator_public), False),
        ROSTER_FILE: (ids.keys.roster_file, False),
    }


def _json(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _certificates(clients: dict[str, IssuedCertificate]) -> bytes:
    """certificates.json: each site's client certificate (serial, kit path and the PEM itself, so the
    certificate can be revoked after its kit left this machine)."""
    return _json(
        {
            name: {
                "serial": format(issued.certificate.serial_number, "x"),
                "path": f"{name}/client.pem",
                "pem": certificate_pem(issued.certificate).decode(),
            }
            for name, issued in clients.items()
        }
    )


def _common_kit(
    role: str, name: str, cfg: FederationConfig, deployment: DeploymentConfig, config_dir: Path
) -> dict[str, Any]:
    return {
        "format": KIT_FORMAT,
        "role": role,
        "name": name,
        "federation": cfg.federation.name,
        "coordinator": deployment.coordinator,
        "sites": [site.name for site in cfg.sites],
        "config_dir": str(config_dir),
    }


def _coordinator_kit(cfg: FederationConfig, deployment: DeploymentConfig, config_dir: Path) -> dict[str, Any]:
    host, port = coordinator_address(deployment.coordinator)
    doc = _common_kit(COORDINATOR, COORDINATOR, cfg, deployment, config_dir)
    return {**doc, "database": deployment.database, "listen": deployment.listen or host, "port": port}


def _site_kit(
    cfg: FederationConfig, deployment: DeploymentConfig, config_dir: Path, name: str
) -> dict[str, Any]:
    site = next(s for s in cfg.sites if s.name == name)
    doc = _common_kit("site", name, cfg, deployment, config_dir)
    paths = {"train": site.train, "test": site.test, "policy": site.policy}
    return {**doc, **{key: p and str(config_dir / p) for key, p in paths.items()}}


def _write_tree(out: Path, tree: _Tree) -> None:
    """Write `tree` into a hidden folder beside `out`, then rename it into place (replacing `out`)."""
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise ConfigError(f"cannot create the kits folder: {exc.strerror}", where=out) from None
    try:
        for folder, files in tree.items():
            (staging / folder).mkdir(mode=0o700)
            for name, (data, private) in files.items():
                write_file(staging / folder / name, data, private=private)
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; a non-empty `out` is moved aside first and restored if that fails."""
    try:
        if not out.is_dir() or not any(out.iterdir()):
            os.rename(staging, out)  # POSIX rename replaces an empty folder
            return
        trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.absolute().parent))
        os.rename(out, trash / out.name)
        try:
            os.rename(staging, out)
        except OSError:
            os.rename(trash / out.name, out)
            raise
        shutil.rmtree(trash, ignore_errors=True)
    except OSError as exc:
        raise ConfigError(f"cannot move the kits into place: {exc.strerror}", where=out) from None
