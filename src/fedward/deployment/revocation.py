"""`revoke_site`: take a site out of a deployed federation, at the TLS handshake and in the roster.

Two records say a site belongs, and revocation changes both, signed by the administrator's keys in
`KITS/_authority/`: the certificate revocation list (RFC 5280 section 5; the CA re-signs it with the
site's client certificate added, so the coordinator refuses the site's TLS handshake at once) and the
signed roster (a new version in which the site's updates are refused from a round on, RFC 8032
signatures; its key stays listed so that what it signed before stays verifiable for audit).

The new `crl.pem` and `roster.json` go into `_authority/` and, when it is there, `coordinator/`; each
file is replaced atomically, and every check (keys, signatures, the site) runs before any is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fedward.crypto import SignatureError, SigningKey, load_public_key, load_signing_key
from fedward.deployment.kits import AUTHORITY, CERTIFICATES_FILE, COORDINATOR, ROSTER_FILE
from fedward.deployment.pki import (
    CLOCK_SKEW,
    CertificateAuthority,
    add_revoked,
    crl_pem,
    load_certificate,
    load_crl,
    load_private_key,
    write_file,
)
from fedward.errors import ConfigError
from fedward.trust import Roster, RosterError, format_utc, read_roster, revoke, sign_roster

__all__ = ["RevokeResult", "revoke_site"]

_AUTHORITY_HINT = (
    "run `fedward revoke` where the administrator keeps KITS/_authority (made by `fedward provision`)"
)


@dataclass(frozen=True)
class RevokeResult:
    """What `revoke_site` changed."""

    site: str
    serial: str  # the revoked client certificate's serial number, hex
    from_round: int  # the round from which the roster refuses the site (the earliest, if revoked before)
    roster_version: int
    crl_number: int
    written: tuple[Path, ...]  # every file replaced


def revoke_site(kits: Path, site: str, from_round: int, now: datetime) -> RevokeResult:
    """Revoke `site`'s client certificate and its roster entry (refused from `from_round` on).

    The CRL's validity keeps its length (`certificate_days` at provisioning) counted from `now`.
    ConfigError naming the file for a missing `_authority/`, a bad key or signature, or an unknown site.
    """
    authority = Path(kits) / AUTHORITY
    if not authority.is_dir():
        raise ConfigError(
            "no certificate authority here: the folder has no _authority/", where=kits, hint=_AUTHORITY_HINT
        )
    ca = _authority(authority)
    admin = _admin_key(authority)
    roster = _roster(authority, admin.public)
    certificate = _site_certificate(authority, site, sorted(roster.sites))
    old_crl = load_crl(authority / "crl.pem")
    crl = add_revoked(ca, old_crl, certificate, now, _crl_days(old_crl))
    try:
        updated = revoke(roster, site, from_round, issued=format_utc(now))
    except RosterError as exc:
        raise ConfigError(str(exc), where=authority / ROSTER_FILE) from None
    files = {"crl.pem": crl_pem(crl), ROSTER_FILE: sign_roster(updated, admin).to_bytes()}
    folders = [authority] + [f for f in [Path(kits) / COORDINATOR] if f.is_dir()]
    written = []
    for folder in folders:
        for name, data in files.items():
            write_file(folder / name, data, private=False)
            written.append(folder / name)
    entry = updated.sites[site]
    assert entry.revoked_from_round is not None  # `revoke` just set it
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    serial = format(x509.load_pem_x509_certificate(certificate).serial_number, "x")
    return RevokeResult(site, serial, entry.revoked_from_round, updated.version, number, tuple(written))


def _authority(authority: Path) -> CertificateAuthority:
    key = load_private_key(authority / "ca.key", "CA private key")
    certificate = load_certificate(authority / "ca.pem", "CA certificate")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise ConfigError("ca.key is not the key of ca.pem", where=authority / "ca.key")
    return CertificateAuthority(key, certificate)


def _admin_key(authority: Path) -> SigningKey:
    """admin.key, which must be the private half of admin.pub (the key every kit verifies rosters with)."""
    try:
        key = load_signing_key(authority / "admin.key")
        public = load_public_key(authority / "admin.pub")
    except FileNotFoundError as exc:
        raise ConfigError("the administrator's key file is missing", where=exc.filename) from None
    except (OSError, SignatureError) as exc:
        raise ConfigError(f"cannot load the administrator's keys: {exc}", where=authority) from None
    if key.public != public:
        raise ConfigError("admin.pub is not the public half of admin.key", where=authority / "admin.pub")
    return key


def _roster(authority: Path, admin_public: bytes) -> Roster:
    try:
        return read_roster(authority / ROSTER_FILE, admin_public)
    except RosterError as exc:
        raise ConfigError(str(exc), where=exc.where, hint=exc.hint) from None


def _site_certificate(authority: Path, site: str, known: list[str]) -> bytes:
    """The PEM client certificate of `site` recorded in certificates.json."""
    path = authority / CERTIFICATES_FILE
    try:
        records = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError("the record of issued certificates is missing", where=path) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the record of issued certificates: {exc}", where=path) from None
    record = records.get(site) if isinstance(records, dict) else None
    if site not in known or not isinstance(record, dict) or not isinstance(record.get("pem"), str):
        raise ConfigError(
            f"unknown site {site!r}; the federation's sites are: {', '.join(known)}",
            where=path,
            hint="name a site exactly as in the [[sites]] of the federation file",
        )
    pem: str = record["pem"]
    return pem.encode()


def _crl_days(crl: x509.CertificateRevocationList) -> int:
    """The validity length, in days, the CRL was issued with (`certificate_days` at provisioning)."""
    if crl.next_update_utc is None:
        raise ConfigError("the CRL has no next update time; it was not written by `fedward provision`")
    return max(1, round((crl.next_update_utc - crl.last_update_utc - CLOCK_SKEW).total_seconds() / 86400))
