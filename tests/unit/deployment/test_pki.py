"""The federation's private CA (`fedward.deployment.pki`): certificates, names, usages, the CRL, key files,
and real mutual-TLS handshakes on loopback, each refusal with its power check."""

import ipaddress
import os
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tls_harness import client_context, handshake, server_context

from fedward.coordinator.service.server import server_ssl_context
from fedward.crypto import SigningKey
from fedward.deployment.pki import (
    CLOCK_SKEW,
    IssuedCertificate,
    add_revoked,
    certificate_pem,
    crl_pem,
    crl_signed_by,
    empty_crl,
    issue_client_certificate,
    issue_server_certificate,
    load_certificate,
    load_crl,
    load_private_key,
    new_authority,
    private_key_pem,
    server_names,
    write_file,
)
from fedward.errors import ConfigError

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAYS = 30


@pytest.fixture(scope="module")
def ca():
    return new_authority("oncology", NOW, DAYS)


def _common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _san(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


# --- the CA and the certificates it issues


def test_the_ca_is_a_p256_ca_that_signs_only_leaves(ca):
    cert = ca.certificate
    assert _common_name(cert) == "fedward oncology CA"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)  # self-signed
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.name == "secp256r1"
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    assert cert.not_valid_before_utc == NOW - CLOCK_SKEW
    assert cert.not_valid_after_utc == NOW + timedelta(days=DAYS)


def test_a_long_federation_name_is_shortened_to_the_64_characters_of_a_common_name():
    name = _common_name(new_authority("x" * 100, NOW, DAYS).certificate)
    assert len(name) == 64 and name.startswith("fedward xxx") and name.endswith("...")


def test_server_and_client_certificates_chain_to_the_ca_with_their_usages(ca):
    server = issue_server_certificate(ca, "oncology", "coordinator.example.org", NOW, DAYS).certificate
    client = issue_client_certificate(ca, "st-olav", NOW, DAYS).certificate
    for cert in (server, client):
        cert.verify_directly_issued_by(ca.certificate)
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.not_valid_after_utc == NOW + timedelta(days=DAYS)
    assert _eku(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _eku(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _common_name(client) == "st-olav"


def test_a_certificate_from_another_ca_does_not_chain(ca):
    other = new_authority("oncology", NOW, DAYS)
    stranger = issue_client_certificate(other, "st-olav", NOW, DAYS).certificate
    with pytest.raises(InvalidSignature):
        stranger.verify_directly_issued_by(ca.certificate)


def test_serial_numbers_are_random_and_distinct(ca):
    serials = {issue_client_certificate(ca, "a", NOW, DAYS).certificate.serial_number for _ in range(8)}
    assert len(serials) == 8 and all(s > 2**64 for s in serials)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("coordinator.example.org", [x509.DNSName("coordinator.example.org")]),
        ("10.1.2.3", [x509.IPAddress(ipaddress.ip_address("10.1.2.3"))]),
        ("2001:db8::7", [x509.IPAddress(ipaddress.ip_address("2001:db8::7"))]),
        (
            "127.0.0.1",
            [
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ],
        ),
        (
            "localhost",
            [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ],
        ),
    ],
)
def test_the_server_certificate_names_its_host_as_an_ip_or_a_dns_name(ca, host, expected):
    assert server_names(host) == expected
    cert = issue_server_certificate(ca, "oncology", host, NOW, DAYS).certificate
    assert _san(cert) == expected


def test_an_address_is_never_written_as_a_dns_name(ca):
    cert = issue_server_certificate(ca, "oncology", "192.168.0.10", NOW, DAYS).certificate
    assert not cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )


# --- the certificate revocation list


def test_an_empty_crl_is_signed_by_the_ca_and_revokes_nothing(ca):
    crl = empty_crl(ca, NOW, DAYS)
    assert len(crl) == 0 and crl_signed_by(crl, ca.certificate)
    assert crl.last_update_utc == NOW - CLOCK_SKEW and crl.next_update_utc == NOW + timedelta(days=DAYS)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1


def test_revoking_lists_the_serial_in_a_new_signed_crl(ca):
    client = issue_client_certificate(ca, "st-olav", NOW, DAYS).certificate
    later = NOW + timedelta(days=3)
    crl = add_revoked(ca, empty_crl(ca, NOW, DAYS), certificate_pem(client), later, DAYS)
    assert [entry.serial_number for entry in crl] == [client.serial_number]
    assert crl.get_revoked_certificate_by_serial_number(client.serial_number) is not None
    assert crl_signed_by(crl, ca.certificate)
    assert crl.next_update_utc == later + timedelta(days=DAYS)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    again = add_revoked(ca, crl, certificate_pem(client), later, DAYS)
    assert len(again) == 1  # revoking twice lists the certificate once


def test_revocation_keeps_earlier_entries(ca):
    first, second = (issue_client_certificate(ca, n, NOW, DAYS).certificate for n in ("a", "b"))
    crl = empty_crl(ca, NOW, DAYS)
    for cert in (first, second):
        crl = add_revoked(ca, crl, certificate_pem(cert), NOW, DAYS)
    assert {e.serial_number for e in crl} == {first.serial_number, second.serial_number}


def test_a_crl_does_not_verify_with_another_ca(ca):
    other = new_authority("oncology", NOW, DAYS)
    crl = empty_crl(ca, NOW, DAYS)
    assert crl_signed_by(crl, ca.certificate)
    assert not crl_signed_by(crl, other.certificate)


def test_revoking_refuses_another_cas_certificate_or_crl(ca):
    other = new_authority("oncology", NOW, DAYS)
    stranger = issue_client_certificate(other, "a", NOW, DAYS).certificate
    with pytest.raises(ConfigError, match="not issued by this certificate authority"):
        add_revoked(ca, empty_crl(ca, NOW, DAYS), certificate_pem(stranger), NOW, DAYS)
    ours = issue_client_certificate(ca, "a", NOW, DAYS).certificate
    with pytest.raises(ConfigError, match="CRL was not signed"):
        add_revoked(ca, empty_crl(other, NOW, DAYS), certificate_pem(ours), NOW, DAYS)
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        add_revoked(ca, empty_crl(ca, NOW, DAYS), b"garbage", NOW, DAYS)


# --- files


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_key_files_are_0600_and_other_files_0644_whatever_the_umask(tmp_path, ca, umask):
    old = os.umask(umask)
    try:
        write_file(tmp_path / "ca.key", private_key_pem(ca.key), private=True)
        write_file(tmp_path / "ca.pem", certificate_pem(ca.certificate), private=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.pem").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key", "ca.pem"]  # no temporary files left


def test_writing_replaces_a_file_atomically_and_reads_back(tmp_path, ca):
    write_file(tmp_path / "crl.pem", b"old", private=False)
    crl = empty_crl(ca, NOW, DAYS)
    write_file(tmp_path / "crl.pem", crl_pem(crl), private=False)
    write_file(tmp_path / "ca.key", private_key_pem(ca.key), private=True)
    write_file(tmp_path / "ca.pem", certificate_pem(ca.certificate), private=False)
    assert load_crl(tmp_path / "crl.pem") == crl
    assert load_certificate(tmp_path / "ca.pem") == ca.certificate
    assert load_private_key(tmp_path / "ca.key").private_numbers() == ca.key.private_numbers()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key", "ca.pem", "crl.pem"]


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "missing" / "server.key"
    with pytest.raises(ConfigError) as caught:
        write_file(target, b"secret", private=True)
    assert caught.value.where == str(target)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_or_malformed_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="not found") as caught:
        load_certificate(tmp_path / "ca.pem")
    assert caught.value.where == str(tmp_path / "ca.pem")
    (tmp_path / "bad.pem").write_bytes(b"not a pem")
    for load, message in ((load_certificate, "not a PEM certificate"), (load_crl, "not a PEM CRL")):
        with pytest.raises(ConfigError, match=message):
            load(tmp_path / "bad.pem")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        load_private_key(tmp_path / "bad.pem")
    (tmp_path / "ed.key").write_bytes(SigningKey.generate().private_pem())
    with pytest.raises(ConfigError, match="not an ECDSA P-256 key"):
        load_private_key(tmp_path / "ed.key")


# --- real mutual-TLS handshakes on loopback


def _write_issued(folder: Path, name: str, issued: IssuedCertificate) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    write_file(cert, certificate_pem(issued.certificate), private=False)
    write_file(key, private_key_pem(issued.key), private=True)
    return cert, key


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA, a coordinator for 127.0.0.1, a site, a revoked site, a stranger from another CA, and the CRL."""
    now = datetime.now(UTC)  # a TLS stack checks validity against the real clock
    folder = tmp_path_factory.mktemp("tls")
    ca = new_authority("oncology", now, DAYS)
    other = new_authority("oncology", now, DAYS)
    write_file(folder / "ca.pem", certificate_pem(ca.certificate), private=False)
    paths = {
        "server": _write_issued(
            folder, "server", issue_server_certificate(ca, "oncology", "127.0.0.1", now, DAYS)
        ),
        "site": _write_issued(folder, "site", issue_client_certificate(ca, "st-olav", now, DAYS)),
        "stranger": _write_issued(folder, "stranger", issue_client_certificate(other, "st-olav", now, DAYS)),
    }
    revoked = issue_client_certificate(ca, "haukeland", now, DAYS)
    paths["revoked"] = _write_issued(folder, "revoked", revoked)
    expired = issue_client_certificate(ca, "st-olav", now - timedelta(days=DAYS + 10), DAYS)
    paths["expired"] = _write_issued(folder, "expired", expired)
    crl = add_revoked(ca, empty_crl(ca, now, DAYS), certificate_pem(revoked.certificate), now, DAYS)
    write_file(folder / "crl.pem", crl_pem(crl), private=False)
    return folder, paths


def _server(tls, *, crl: bool = True):
    folder, paths = tls
    return server_context(folder / "ca.pem", *paths["server"], folder / "crl.pem" if crl else None)


def _client(tls, who: str | None):
    folder, paths = tls
    return client_context(folder / "ca.pem", *(paths[who] if who else (None, None)))


def test_a_site_with_a_valid_certificate_completes_the_handshake(tls):
    outcome = handshake(_server(tls), _client(tls, "site"))
    assert outcome.accepted and outcome.peer == "st-olav" and outcome.received == b"ok"


def test_a_client_without_a_certificate_is_refused(tls):
    outcome = handshake(_server(tls), _client(tls, None))
    assert not outcome.accepted and outcome.received == b""
    assert "certificate" in outcome.server_error


def test_a_certificate_from_another_ca_is_refused(tls):
    outcome = handshake(_server(tls), _client(tls, "stranger"))
    assert not outcome.accepted and "certificate verify failed" in outcome.server_error


def test_a_revoked_certificate_is_refused_and_accepted_without_the_crl_check(tls):
    refused = handshake(_server(tls), _client(tls, "revoked"))
    assert not refused.accepted and "revoked" in refused.server_error
    # power check: the same certificate gets in when the server does not check the CRL
    accepted = handshake(_server(tls, crl=False), _client(tls, "revoked"))
    assert accepted.accepted and accepted.peer == "haukeland"


def test_the_site_checks_the_coordinators_name(tls):
    assert handshake(_server(tls), _client(tls, "site"), hostname="localhost").accepted  # a loopback alias
    wrong = handshake(_server(tls), _client(tls, "site"), hostname="coordinator.example.org")
    assert not wrong.accepted


_NO_CHECK_TIME = 0x200000  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME, which Python's ssl does not name


def _coordinator(tls, *, check_time: bool = True):
    """The coordinator's own TLS context (fedward.coordinator.service.server), not the harness's."""
    folder, paths = tls
    context = server_ssl_context(folder / "ca.pem", *paths["server"], folder / "crl.pem")
    if not check_time:
        context.verify_flags = ssl.VerifyFlags(context.verify_flags | _NO_CHECK_TIME)
    return context


def test_an_expired_site_certificate_is_refused_by_the_coordinators_tls(tls):
    _folder, paths = tls
    expired = load_certificate(paths["expired"][0])
    assert expired.not_valid_after_utc < datetime.now(UTC)
    refused = handshake(_coordinator(tls), _client(tls, "expired"))
    assert not refused.accepted and "certificate has expired" in refused.server_error
    # power checks: a valid certificate of the same site gets in, and so does the expired one when the
    # server does not check validity times
    assert handshake(_coordinator(tls), _client(tls, "site")).accepted
    accepted = handshake(_coordinator(tls, check_time=False), _client(tls, "expired"))
    assert accepted.accepted and accepted.peer == "st-olav"
