"""Startup kits (`fedward.deployment`): the exact layout and permissions, each kit holding only its own
private keys, loading a kit back (and every way a kit can be wrong), and provisioning's refusals: no
[deployment], a reserved site name, a non-empty folder without `--force`, and nothing written on error."""

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from kit_harness import NOW, SITES, listing, mode, provisioned, write_federation

from fedward.config import load_config
from fedward.crypto import load_public_key, load_signing_key
from fedward.deployment import load_coordinator_kit, load_kit_config, load_site_kit, provision
from fedward.deployment import pki as pki_module
from fedward.deployment import provisioning as provisioning_module
from fedward.deployment.pki import crl_signed_by, load_certificate, load_crl
from fedward.errors import ConfigError
from fedward.trust import format_utc, read_roster

LAYOUT = {
    "_authority": {
        "ca.key", "ca.pem", "crl.pem", "admin.key", "admin.pub", "roster.json", "certificates.json",
    },
    "coordinator": {
        "kit.json", "federation.toml", "ca.pem", "crl.pem", "server.pem", "server.key", "coordinator.key",
        "admin.pub", "roster.json",
    },
    "site": {
        "kit.json", "federation.toml", "ca.pem", "client.pem", "client.key", "site.key", "admin.pub",
        "coordinator.pub", "roster.json",
    },
}  # fmt: skip
OWN_KEYS = {"_authority": {"ca.key", "admin.key"}, "coordinator": {"server.key", "coordinator.key"}}


def _kind(folder: str) -> str:
    return folder if folder in OWN_KEYS else "site"


# --- layout and permissions


def test_the_layout_is_exactly_the_documented_one(clean_kits):
    assert sorted(p.name for p in clean_kits.iterdir()) == sorted(["_authority", "coordinator", *SITES])
    for folder in clean_kits.iterdir():
        assert {p.name for p in folder.iterdir()} == LAYOUT[_kind(folder.name)], folder.name
    assert not [p for p in clean_kits.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_private_keys_are_0600_everything_else_0644_and_folders_0700(clean_kits):
    assert mode(clean_kits) == 0o700
    for folder in clean_kits.iterdir():
        assert mode(folder) == 0o700
        for path in folder.iterdir():
            assert mode(path) == (0o600 if path.suffix == ".key" else 0o644), path


def test_each_kit_holds_only_its_own_private_keys(clean_kits):
    owners = {}  # private key PEM -> the kit it belongs to
    for folder in clean_kits.iterdir():
        for path in folder.glob("*.key"):
            assert path.read_bytes() not in owners, f"{path} is also in {owners.get(path.read_bytes())}"
            owners[path.read_bytes()] = folder.name
    for folder in clean_kits.iterdir():
        keys = {p.name for p in folder.glob("*.key")}
        assert keys == OWN_KEYS.get(folder.name, {"client.key", "site.key"})
        for path in folder.iterdir():
            data = path.read_bytes()
            if path.suffix != ".key":
                assert b"PRIVATE KEY" not in data, path
            for pem, owner in owners.items():
                assert owner == folder.name or pem.strip() not in data, f"{owner}'s key in {path}"


def test_the_federation_file_is_copied_byte_for_byte(clean_kits):
    original = (clean_kits.parent / "fed" / "federation.toml").read_bytes()
    for kit in ["coordinator", *SITES]:
        assert (clean_kits / kit / "federation.toml").read_bytes() == original


def test_kit_json_says_who_the_kit_is_for(clean_kits):
    config_dir = str((clean_kits.parent / "fed").resolve())
    common = {
        "format": "fedward-kit/1", "federation": "oncology", "coordinator": "https://127.0.0.1:8443",
        "sites": SITES, "config_dir": config_dir,
    }  # fmt: skip
    coordinator = json.loads((clean_kits / "coordinator" / "kit.json").read_text())
    assert coordinator == {
        **common, "role": "coordinator", "name": "coordinator", "database": None, "listen": "127.0.0.1",
        "port": 8443,
    }  # fmt: skip
    site = json.loads((clean_kits / "st-olav" / "kit.json").read_text())
    assert site == {
        **common, "role": "site", "name": "st-olav", "train": f"{config_dir}/data/st-olav-train.csv",
        "test": f"{config_dir}/data/st-olav-test.csv", "policy": f"{config_dir}/policy.json",
    }  # fmt: skip
    assert json.loads((clean_kits / "haukeland" / "kit.json").read_text())["policy"] is None


def test_the_roster_and_certificates_tie_the_kits_together(clean_kits):
    authority = clean_kits / "_authority"
    admin = load_public_key(authority / "admin.pub")
    assert load_signing_key(authority / "admin.key").public == admin
    roster = read_roster(authority / "roster.json", admin)
    assert (roster.federation, roster.version, roster.issued) == ("oncology", 1, format_utc(NOW))
    assert (
        roster.coordinator_public_key
        == load_signing_key(clean_kits / "coordinator" / "coordinator.key").public
    )
    ca = load_certificate(authority / "ca.pem")
    records = json.loads((authority / "certificates.json").read_text())
    assert sorted(records) == sorted(SITES)
    for site in SITES:
        assert roster.public_key(site) == load_signing_key(clean_kits / site / "site.key").public
        client = load_certificate(clean_kits / site / "client.pem")
        client.verify_directly_issued_by(ca)
        assert records[site] == {
            "serial": format(client.serial_number, "x"), "path": f"{site}/client.pem",
            "pem": (clean_kits / site / "client.pem").read_text(),
        }  # fmt: skip
    load_certificate(clean_kits / "coordinator" / "server.pem").verify_directly_issued_by(ca)
    crl = load_crl(clean_kits / "coordinator" / "crl.pem")
    assert len(crl) == 0 and crl_signed_by(crl, ca)
    assert crl.next_update_utc == NOW + timedelta(days=30)
    for kit in ["coordinator", *SITES]:
        assert (clean_kits / kit / "roster.json").read_bytes() == (authority / "roster.json").read_bytes()
        assert (clean_kits / kit / "ca.pem").read_bytes() == (authority / "ca.pem").read_bytes()


# --- loading a kit


def test_a_coordinator_kit_loads_back(clean_kits):
    kit = load_coordinator_kit(clean_kits / "coordinator")
    assert kit.path == (clean_kits / "coordinator").resolve() and kit.name == "coordinator"
    assert (kit.federation, kit.coordinator, kit.sites) == (
        "oncology",
        "https://127.0.0.1:8443",
        tuple(SITES),
    )
    assert (kit.listen, kit.port, kit.database) == ("127.0.0.1", 8443, None)
    assert kit.signing_key.public == kit.roster.coordinator_public_key
    assert kit.crl_file.name == "crl.pem" and kit.key_file.name == "server.key"
    original = load_config(clean_kits.parent / "fed" / "federation.toml")
    assert load_kit_config(kit) == original  # relative paths resolve as in the original folder


def test_a_site_kit_loads_back_with_its_own_data_paths(kits):
    kit = load_site_kit(kits / "st-olav")
    assert kit.name == "st-olav" and kit.roster.public_key("st-olav") == kit.signing_key.public
    assert kit.coordinator_public == kit.roster.coordinator_public_key
    assert (
        kit.train.name == "st-olav-train.csv" and kit.policy is not None and kit.policy.name == "policy.json"
    )
    assert kit.certificate_file.name == "client.pem" and kit.key_file.name == "client.key"
    # the site's administrator moves the kit and points it at local data (relative to the kit)
    doc = json.loads((kits / "st-olav" / "kit.json").read_text())
    doc.update(train="data/train.csv", test="/srv/data/test.csv", policy=None)
    (kits / "st-olav" / "kit.json").write_text(json.dumps(doc))
    kit = load_site_kit(kits / "st-olav")
    cfg = load_kit_config(kit)
    mine = next(s for s in cfg.sites if s.name == "st-olav")
    assert mine.train == kit.path / "data" / "train.csv"
    assert (mine.test, mine.policy) == (Path("/srv/data/test.csv"), None)
    other = next(s for s in cfg.sites if s.name == "haukeland")
    assert other.train == kit.config_dir / "data" / "haukeland-train.csv"  # as in the original folder


def _edit_json(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("damage", "file", "message"),
    [
        (lambda k: (k / "st-olav" / "kit.json").unlink(), "kit.json", "kit.json is missing"),
        (lambda k: (k / "st-olav" / "kit.json").write_text("{"), "kit.json", "not valid JSON"),
        (lambda k: _edit_json(k / "st-olav" / "kit.json", format="fedward-kit/9"), "kit.json", "'format'"),
        (lambda k: _edit_json(k / "st-olav" / "kit.json", role="coordinator"), "kit.json", "not a site kit"),
        (lambda k: _edit_json(k / "st-olav" / "kit.json", extra=1), "kit.json", "unknown keys ['extra']"),
        (lambda k: _edit_json(k / "st-olav" / "kit.json", sites="st-olav"), "kit.json", "'sites'"),
        (lambda k: _edit_json(k / "st-olav" / "kit.json", coordinator="http://x:1"), "kit.json", "https://"),
        (lambda k: (k / "st-olav" / "client.pem").unlink(), "client.pem", "the kit has no client.pem"),
        (lambda k: (k / "st-olav" / "site.key").chmod(0o644), "site.key", "readable by other users"),
        (
            lambda k: shutil.copy(k / "haukeland" / "site.key", k / "st-olav" / "site.key"),
            "site.key",
            "not the key roster.json lists for site 'st-olav'",
        ),
        (
            lambda k: shutil.copy(k / "haukeland" / "client.key", k / "st-olav" / "client.key"),
            "client.key",
            "not the key of client.pem",
        ),
        (
            lambda k: shutil.copy(k / "coordinator" / "admin.pub", k / "st-olav" / "coordinator.pub"),
            "coordinator.pub",
            "not the coordinator key",
        ),
        (
            lambda k: (k / "st-olav" / "roster.json").write_bytes(
                (k / "st-olav" / "roster.json").read_bytes().replace(b"oncology", b"oncologx")
            ),
            "roster.json",
            "does not verify",
        ),
    ],
)
def test_a_damaged_site_kit_is_refused_naming_the_file(kits, damage, file, message):
    damage(kits)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")) as caught:
        load_site_kit(kits / "st-olav")
    assert caught.value.where == str((kits / "st-olav" / file).resolve())


def test_a_kit_of_the_wrong_role_or_place_is_refused(kits):
    with pytest.raises(ConfigError, match="not a coordinator kit"):
        load_coordinator_kit(kits / "st-olav")
    with pytest.raises(ConfigError, match=r"kit\.json is missing"):
        load_site_kit(kits / "_authority")
    with pytest.raises(ConfigError, match="kit folder not found"):
        load_site_kit(kits / "nowhere")


def test_a_coordinator_kit_with_a_foreign_signing_key_or_roster_is_refused(kits, clean_kits, tmp_path):
    other = provisioned(tmp_path / "other")
    shutil.copy(other / "coordinator" / "coordinator.key", kits / "coordinator" / "coordinator.key")
    with pytest.raises(ConfigError, match=r"coordinator\.key is not the coordinator key") as caught:
        load_coordinator_kit(kits / "coordinator")
    assert caught.value.where == str((kits / "coordinator" / "coordinator.key").resolve())
    shutil.copy(clean_kits / "coordinator" / "coordinator.key", kits / "coordinator" / "coordinator.key")
    shutil.copy(other / "coordinator" / "roster.json", kits / "coordinator" / "roster.json")
    with pytest.raises(ConfigError, match="does not verify"):
        load_coordinator_kit(kits / "coordinator")


def test_a_coordinator_kit_with_another_cas_certificate_or_crl_is_refused(kits, clean_kits, tmp_path):
    other = provisioned(tmp_path / "other")
    for name in ("server.pem", "server.key"):
        shutil.copy(other / "coordinator" / name, kits / "coordinator" / name)
    with pytest.raises(ConfigError, match="not issued by the kit's CA") as caught:
        load_coordinator_kit(kits / "coordinator")
    assert caught.value.where == str((kits / "coordinator" / "server.pem").resolve())
    for name in ("server.pem", "server.key"):
        shutil.copy(clean_kits / "coordinator" / name, kits / "coordinator" / name)
    shutil.copy(other / "coordinator" / "crl.pem", kits / "coordinator" / "crl.pem")
    with pytest.raises(ConfigError, match="CRL is not signed by the kit's CA") as caught:
        load_coordinator_kit(kits / "coordinator")
    assert caught.value.where == str((kits / "coordinator" / "crl.pem").resolve())


def test_a_kit_config_that_no_longer_matches_kit_json_is_refused(kits):
    path = kits / "coordinator" / "federation.toml"
    path.write_text(path.read_text().replace('name = "oncology"', 'name = "cardiology"'))
    with pytest.raises(ConfigError, match=r"differ from the kit's kit\.json") as caught:
        load_kit_config(load_coordinator_kit(kits / "coordinator"))
    assert caught.value.where == str((kits / "coordinator" / "federation.toml").resolve())
    path.write_text(path.read_text().replace("[model]", "[model]\nunknown = 1"))
    with pytest.raises(ConfigError, match="unknown key") as caught:
        load_kit_config(load_coordinator_kit(kits / "coordinator"))
    assert caught.value.where == str((kits / "coordinator" / "federation.toml").resolve())


@pytest.mark.parametrize("role", ["coordinator", "st-olav"])
def test_a_kit_config_with_attacks_is_refused(kits, role):
    """`[[attacks]]` are for simulations: neither a coordinator nor a site kit runs with them (power
    check: the same kit loads without them)."""
    folder = kits / role
    load = load_coordinator_kit if role == "coordinator" else load_site_kit
    assert load_kit_config(load(folder)).attacks == []
    path = folder / "federation.toml"
    site = load_coordinator_kit(kits / "coordinator").sites[0]
    path.write_text(path.read_text() + f'\n[[attacks]]\nsite = "{site}"\nkind = "scale"\n')
    with pytest.raises(ConfigError, match=r"\[\[attacks\]\] poison updates for robustness simulations only"):
        load_kit_config(load(folder))


# --- provisioning refuses what it cannot do, and writes nothing then


def test_a_federation_without_deployment_is_refused_naming_the_file(tmp_path):
    config = write_federation(tmp_path / "fed", deployment="")
    with pytest.raises(ConfigError, match=r"\[deployment\] 'coordinator'") as caught:
        provision(load_config(config), config, tmp_path / "kits", NOW)
    assert caught.value.where == str(config)
    assert not (tmp_path / "kits").exists()


@pytest.mark.parametrize("name", ["coordinator", "Coordinator"])
def test_a_site_named_like_a_kit_folder_is_refused(tmp_path, name):
    config = write_federation(tmp_path / "fed", sites=["st-olav", name])
    with pytest.raises(ConfigError, match=rf"\[\[sites\]\] #2 'name': '{name}' is reserved"):
        provision(load_config(config), config, tmp_path / "kits", NOW)
    assert not (tmp_path / "kits").exists()


def test_sites_whose_folders_would_clash_are_refused(tmp_path):
    config = write_federation(tmp_path / "fed", sites=["St-Olav", "st-olav"])
    with pytest.raises(ConfigError, match="differs from 'St-Olav' only in case"):
        provision(load_config(config), config, tmp_path / "kits", NOW)
    assert not (tmp_path / "kits").exists()


def test_a_non_empty_out_needs_force_which_replaces_it_whole(tmp_path):
    config = write_federation(tmp_path / "fed")
    out = tmp_path / "kits"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty") as caught:
        provision(load_config(config), config, out, NOW)
    assert caught.value.where == str(out) and listing(out) == {"notes.txt": b"keep me"}
    provision(load_config(config), config, out, NOW, force=True)
    first = listing(out)
    assert "notes.txt" not in first and "_authority/ca.key" in first
    provision(load_config(config), config, out, NOW, force=True)
    assert listing(out)["_authority/ca.key"] != first["_authority/ca.key"]  # a new CA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fed", "kits"]  # no staging or old copy left


def test_an_empty_out_folder_is_used_without_force(tmp_path):
    config = write_federation(tmp_path / "fed")
    (tmp_path / "kits").mkdir()
    provision(load_config(config), config, tmp_path / "kits", NOW)
    assert (tmp_path / "kits" / "_authority" / "ca.key").is_file()


def test_force_never_deletes_the_federation_file_or_a_file_in_out(tmp_path):
    config = write_federation(tmp_path / "fed")
    with pytest.raises(ConfigError, match="would delete"):
        provision(load_config(config), config, tmp_path / "fed", NOW, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        provision(load_config(config), config, tmp_path / "file", NOW, force=True)
    assert (tmp_path / "fed" / "federation.toml").is_file() and (tmp_path / "file").read_text() == "x"


def test_a_failure_while_writing_leaves_the_old_kits_and_nothing_else(tmp_path, monkeypatch):
    config = write_federation(tmp_path / "fed")
    out = provisioned(tmp_path)
    before = listing(out)
    calls = {"n": 0}
    real = pki_module.write_file

    def failing(path, data, *, private):
        calls["n"] += 1
        if calls["n"] == 12:
            raise ConfigError("disk full", where=path)
        real(path, data, private=private)

    monkeypatch.setattr(provisioning_module, "write_file", failing)
    with pytest.raises(ConfigError, match="disk full"):
        provision(load_config(config), config, out, NOW, force=True)
    assert listing(out) == before
    calls["n"] = 0
    with pytest.raises(ConfigError, match="disk full"):
        provision(load_config(config), config, tmp_path / "fresh", NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fed", "kits"]
