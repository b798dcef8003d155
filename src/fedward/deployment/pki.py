"""The federation's private certificate authority for mutual TLS: a thin wrapper over `cryptography`'s x509.

Owns the X.509 side of a deployment (RFC 5280): the CA certificate, the coordinator's server certificate,
one client certificate per site, and the certificate revocation list (CRL) that makes the coordinator
refuse a revoked site at the TLS handshake. Every key is ECDSA on P-256 with SHA-256 signatures, which
every TLS stack accepts (Ed25519 certificates are not universally supported in TLS, so the Ed25519 keys
of `fedward.crypto` sign rosters and updates, never certificates).

Time is passed in (`now`): nothing here reads a clock. Certificates and CRLs are valid from
`CLOCK_SKEW` before `now`, so a machine whose clock runs a little behind still accepts them. Files are
written atomically (temporary file, fsync, rename) with exact permissions: 0600 for private keys, which
are created that way and never widened, 0644 for everything else.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedward.core.durable import fsync_dir
from fedward.errors import ConfigError

__all__ = [
    "CLOCK_SKEW",
    "CertificateAuthority",
    "IssuedCertificate",
    "add_revoked",
    "certificate_pem",
    "crl_pem",
    "crl_signed_by",
    "empty_crl",
    "issue_client_certificate",
    "issue_server_certificate",
    "load_certificate",
    "load_crl",
    "load_private_key",
    "new_authority",
    "private_key_pem",
    "server_names",
    "write_file",
]

CLOCK_SKEW = timedelta(minutes=5)
_MAX_NAME = 64  # RFC 5280 upper bound of a common name
_LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class CertificateAuthority:
    """The CA's private key and its self-signed certificate; it signs every certificate and the CRL."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


@dataclass(frozen=True)
class IssuedCertificate:
    """A participant's TLS private key and the certificate the CA issued for it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def _common_name(text: str) -> x509.Name:
    """A subject of one common name, shortened with '...' to the 64 characters RFC 5280 allows."""
    name = text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 3] + "..."
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey, now: datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def new_authority(federation: str, now: datetime, days: int) -> CertificateAuthority:
    """A fresh CA named "fedward FEDERATION CA": CA=true with path length 0 (it signs only leaves)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _common_name(f"fedward {federation} CA")
    certificate = (
        _builder(name, name, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key, certificate)


def _issue(
    ca: CertificateAuthority,
    common_name: str,
    usage: x509.ObjectIdentifier,
    now: datetime,
    days: int,
    names: list[x509.GeneralName] | None = None,
) -> IssuedCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key = ca.key.public_key()
    builder = (
        _builder(_common_name(common_name), ca.certificate.subject, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return IssuedCertificate(key, builder.sign(ca.key, hashes.SHA256()))


def server_names(host: str) -> list[x509.GeneralName]:
    """The subject alternative names for the coordinator's `host`: an IP address when it parses as one,
    else a DNS name; a loopback host also gets "localhost", 127.0.0.1 and ::1, so a one-machine test
    works whichever of them the sites use. ConfigError for a host that is not a valid DNS name."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        names: list[x509.GeneralName] = [x509.IPAddress(address)]
    else:
        try:
            names = [x509.DNSName(host.encode("idna").decode("ascii").lower())]
        except UnicodeError:
            raise ConfigError(f"[deployment] 'coordinator': {host!r} is not a valid host name") from None
    if host.lower() in _LOOPBACK_NAMES or (address is not None and address.is_loopback):
        for extra in (
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ):
            if extra not in names:
                names.append(extra)
    return names


def issue_server_certificate(
    ca: CertificateAuthority, federation: str, host: str, now: datetime, days: int
) -> IssuedCertificate:
    """The coordinator's certificate for `host` (see `server_names`), for TLS server authentication."""
    names = server_names(host)
    return _issue(ca, f"fedward {federation} coordinator", ExtendedKeyUsageOID.SERVER_AUTH, now, days, names)


def issue_client_certificate(
    ca: CertificateAuthority, site: str, now: datetime, days: int
) -> IssuedCertificate:
    """A site's certificate (common name = the site name) for TLS client authentication."""
    return _issue(ca, site, ExtendedKeyUsageOID.CLIENT_AUTH, now, days)


def _sign_crl(
    ca: CertificateAuthority, revoked: list[x509.RevokedCertificate], number: int, now: datetime, days: int
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now - CLOCK_SKEW)
        .next_update(now + timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(ca.key, hashes.SHA256())


def empty_crl(ca: CertificateAuthority, now: datetime, days: int) -> x509.CertificateRevocationList:
    """CRL number 1, revoking nothing: the coordinator needs a CRL to check leaves against from day one."""
    return _sign_crl(ca, [], 1, now, days)


def add_revoked(
    ca: CertificateAuthority,
    crl: x509.CertificateRevocationList,
    certificate: bytes,
    now: datetime,
    days: int,
) -> x509.CertificateRevocationList:
    """A new CRL (number + 1, re-signed, valid `days` from `now`) that also revokes the PEM `certificate`.

    Both the old CRL and the certificate must come from this CA (ConfigError otherwise): revoking a
    serial of another CA's certificate would revoke an unrelated certificate of ours that shares it.
    """
    cert = _parse_certificate(certificate, "the certificate to revoke")
    _check_issued(ca, cert)
    if not crl_signed_by(crl, ca.certificate):
        raise ConfigError("the CRL was not signed by this certificate authority")
    revoked = list(crl)
    if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is None:
        entry = (
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build()
        )
        revoked.append(entry)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    return _sign_crl(ca, revoked, number + 1, now, days)


def crl_signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    """Whether the CA of certificate `ca` signed `crl` (an ECDSA CA, the kind `new_authority` makes)."""
    public = ca.public_key()
    return isinstance(public, ec.EllipticCurvePublicKey) and crl.is_signature_valid(public)


def _check_issued(ca: CertificateAuthority, cert: x509.Certificate) -> None:
    try:
        cert.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise ConfigError(
            f"certificate {cert.subject.rfc4514_string()!r} was not issued by this certificate authority"
        ) from None


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM: the services start unattended, so the file's 0600 mode is the protection."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", where=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", where=path) from None


def _parse_certificate(data: bytes, what: str, where: Path | None = None) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{what} is not a PEM certificate", where=where) from None


def load_certificate(path: Path, what: str = "certificate") -> x509.Certificate:
    """A PEM certificate; ConfigError naming the file when it is missing or malformed."""
    return _parse_certificate(_read(path, what), what, path)


def load_private_key(path: Path, what: str = "TLS private key") -> ec.EllipticCurvePrivateKey:
    """An unencrypted PEM P-256 private key; ConfigError naming the file otherwise."""
    try:
        key = serialization.load_pem_private_key(_read(path, what), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{what} is not an unencrypted PEM private key", where=path) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != ec.SECP256R1.name:
        raise ConfigError(f"{what} is not an ECDSA P-256 key", where=path)
    return key


def load_crl(path: Path, what: str = "certificate revocation list") -> x509.CertificateRevocationList:
    """A PEM CRL; ConfigError naming the file when it is missing or malformed."""
    try:
        return x509.load_pem_x509_crl(_read(path, what))
    except ValueError:
        raise ConfigError(f"{what} is not a PEM CRL", where=path) from None


def write_file(path: Path, data: bytes, *, private: bool) -> None:
    """Write `data` to `path` atomically with mode 0600 (`private`) or 0644.

    The temporary file is created 0600 (a private key is never readable by others, not even for a
    moment), fsynced, given its final mode, and renamed over `path`; the folder is fsynced so the rename
    survives a crash. ConfigError naming the file when the disk refuses.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o600 if private else 0o644)
        os.replace(temp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the file: {exc.strerror}", where=path) from None
