"""The key bundle (`trust.FederationKeys`): one class for every party's keys. Its roster is verified when
it is built, and every private key held must be the one the roster names (power checks: the matching key
is accepted, so each refusal comes from the mismatch)."""

from pathlib import Path

import pytest

from fedward.crypto import SigningKey, load_public_key
from fedward.trust import FederationKeys, HeldKeyError, RosterError, new_federation_keys

SITES = ["st-olav", "haukeland"]
NOW = "2025-03-01T12:00:00Z"


@pytest.fixture(scope="module")
def keys() -> FederationKeys:
    return new_federation_keys("oncology", SITES, NOW)


def test_fresh_keys_hold_every_private_key_and_a_signed_roster(keys: FederationKeys) -> None:
    assert keys.admin_key().public == keys.admin_public
    assert keys.coordinator_key().public == keys.coordinator_public == keys.roster.coordinator_public_key
    assert {n: keys.site_key(n).public for n in SITES} == keys.peer_keys()
    assert keys.roster.federation == "oncology" and keys.roster.version == 1


@pytest.mark.parametrize("role", ["coordinator", "site"])
def test_each_party_holds_only_its_own_key(keys: FederationKeys, role: str) -> None:
    if role == "coordinator":
        party = FederationKeys(keys.admin_public, keys.roster_file, keys.coordinator_key())
        with pytest.raises(RosterError, match="site 'st-olav'"):
            party.site_key("st-olav")
    else:
        party = FederationKeys(
            keys.admin_public, keys.roster_file, sites={"st-olav": keys.site_key("st-olav")}
        )
        with pytest.raises(RosterError, match="coordinator"):
            party.coordinator_key()
        with pytest.raises(RosterError, match="site 'haukeland'"):
            party.site_key("haukeland")
    with pytest.raises(RosterError, match="administrator"):
        party.admin_key()
    assert party.roster == keys.roster and party.peer_keys() == keys.peer_keys()


def test_a_coordinator_key_the_roster_does_not_name_is_refused(keys: FederationKeys) -> None:
    with pytest.raises(HeldKeyError) as caught:
        FederationKeys(keys.admin_public, keys.roster_file, SigningKey.generate())
    assert caught.value.holder == "coordinator"


@pytest.mark.parametrize("name", ["st-olav", "elsewhere"])
def test_a_site_key_the_roster_does_not_admit_is_refused(keys: FederationKeys, name: str) -> None:
    with pytest.raises(HeldKeyError) as caught:
        FederationKeys(keys.admin_public, keys.roster_file, sites={name: SigningKey.generate()})
    assert caught.value.holder == name


def test_a_roster_signed_by_another_administrator_is_refused(keys: FederationKeys) -> None:
    other = new_federation_keys("oncology", SITES, NOW)
    with pytest.raises(RosterError, match="signature does not verify"):
        FederationKeys(other.admin_public, keys.roster_file)
    tampered = keys.roster_file.replace(b'"version":1', b'"version":2')
    assert tampered != keys.roster_file
    with pytest.raises(RosterError, match="signature does not verify"):
        FederationKeys(keys.admin_public, tampered)


def test_write_public_writes_what_a_verifier_needs(keys: FederationKeys, tmp_path: Path) -> None:
    keys.write_public(tmp_path / "keys")
    assert {p.name for p in (tmp_path / "keys").iterdir()} == {"admin.pub", "coordinator.pub", "roster.json"}
    assert load_public_key(tmp_path / "keys" / "admin.pub") == keys.admin_public
    assert load_public_key(tmp_path / "keys" / "coordinator.pub") == keys.coordinator_public
    assert (tmp_path / "keys" / "roster.json").read_bytes() == keys.roster_file
