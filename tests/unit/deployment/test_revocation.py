"""Revoking a site (`fedward.deployment.revoke_site`): the CRL and the roster re-signed for the
administrator and the coordinator, the earliest round kept, nothing changed when it cannot be done, and a
real TLS handshake refused for the revoked site only (its power check: accepted before the revocation)."""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from kit_harness import NOW, listing, mode, provisioned
from tls_harness import client_context, handshake, server_context

from fedward.deployment import load_coordinator_kit, load_site_kit, revoke_site
from fedward.deployment.pki import crl_signed_by, load_certificate, load_crl
from fedward.errors import ConfigError
from fedward.trust import SiteStatus, format_utc


def _crl(kits: Path, folder: str) -> x509.CertificateRevocationList:
    return load_crl(kits / folder / "crl.pem")


def test_revoking_updates_the_crl_and_the_roster_for_the_administrator_and_the_coordinator(kits):
    site_kit = listing(kits / "haukeland")
    later = NOW + timedelta(days=2)
    result = revoke_site(kits, "haukeland", 3, later)
    serial = load_certificate(kits / "haukeland" / "client.pem").serial_number
    assert (result.site, result.serial, result.from_round) == ("haukeland", format(serial, "x"), 3)
    assert (result.roster_version, result.crl_number) == (2, 2)
    for folder in ("_authority", "coordinator"):
        crl = _crl(kits, folder)
        assert [e.serial_number for e in crl] == [serial]
        assert crl_signed_by(crl, load_certificate(kits / "_authority" / "ca.pem"))
        assert crl.next_update_utc == later + timedelta(days=30)  # the provisioned validity, from now
        assert mode(kits / folder / "crl.pem") == mode(kits / folder / "roster.json") == 0o644
    assert (kits / "coordinator" / "roster.json").read_bytes() == (
        kits / "_authority" / "roster.json"
    ).read_bytes()
    kit = load_coordinator_kit(kits / "coordinator")  # still a valid kit
    assert (kit.roster.version, kit.roster.issued) == (2, format_utc(later))
    assert kit.roster.status("haukeland", 2, format_utc(later)) is SiteStatus.OK
    assert kit.roster.status("haukeland", 3, format_utc(later)) is SiteStatus.REVOKED
    assert kit.roster.status("st-olav", 3, format_utc(later)) is SiteStatus.OK
    assert listing(kits / "haukeland") == site_kit  # the site's own kit is not touched
    assert set(result.written) == {
        kits / f / n for f in ("_authority", "coordinator") for n in ("crl.pem", "roster.json")
    }


def test_revoking_again_keeps_the_earliest_round_and_lists_the_certificate_once(kits):
    revoke_site(kits, "haukeland", 3, NOW)
    result = revoke_site(kits, "haukeland", 5, NOW)
    assert (result.from_round, result.roster_version, result.crl_number) == (3, 3, 3)
    assert len(_crl(kits, "coordinator")) == 1
    assert revoke_site(kits, "haukeland", 1, NOW).from_round == 1


def test_revoking_works_after_the_site_kit_left_and_without_a_coordinator_kit(kits):
    shutil.rmtree(kits / "haukeland")
    shutil.rmtree(kits / "coordinator")
    result = revoke_site(kits, "haukeland", 1, NOW)
    assert {p.parent.name for p in result.written} == {"_authority"}
    assert len(_crl(kits, "_authority")) == 1


@pytest.mark.parametrize(
    ("damage", "site", "message"),
    [
        (lambda k: None, "nobody", "unknown site 'nobody'; the federation's sites are: haukeland, st-olav"),
        (lambda k: shutil.rmtree(k / "_authority"), "haukeland", "has no _authority"),
        (
            lambda k: (k / "_authority" / "admin.key").unlink(),
            "haukeland",
            "administrator's key file is missing",
        ),
        (
            lambda k: shutil.copy(k / "coordinator" / "coordinator.key", k / "_authority" / "admin.key"),
            "haukeland",
            "admin.pub is not the public half of admin.key",
        ),
        (
            lambda k: shutil.copy(k / "coordinator" / "server.key", k / "_authority" / "ca.key"),
            "haukeland",
            "ca.key is not the key of ca.pem",
        ),
    ],
)
def test_a_revocation_that_cannot_be_done_changes_nothing(kits, damage, site, message):
    damage(kits)
    before = listing(kits)
    with pytest.raises(ConfigError, match=message):
        revoke_site(kits, site, 1, NOW)
    assert listing(kits) == before


def test_a_revoked_site_is_refused_at_the_handshake_and_the_others_are_not(tmp_path):
    kits = provisioned(tmp_path, now=datetime.now(UTC))  # a TLS stack checks validity against the real clock
    coordinator = load_coordinator_kit(kits / "coordinator")

    def connect(site: str) -> bool:
        server = server_context(
            coordinator.ca_file, coordinator.certificate_file, coordinator.key_file, coordinator.crl_file
        )
        kit = load_site_kit(kits / site)
        client = client_context(kit.ca_file, kit.certificate_file, kit.key_file)
        outcome = handshake(server, client, hostname="127.0.0.1")
        assert not outcome.accepted or outcome.peer == site
        return outcome.accepted

    assert connect("haukeland") and connect("st-olav")
    revoke_site(kits, "haukeland", 1, datetime.now(UTC))
    assert not connect("haukeland") and connect("st-olav")
