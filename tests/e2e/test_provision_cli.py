"""`fedward provision` and `fedward revoke` end to end, through the CLI: the kits of a tabular federation,
the table printed, the user errors (exit 2, the file named, nothing written), `--force`, and a revocation
that the roster commands and the coordinator's kit both see."""

import json
import stat
from pathlib import Path

import pytest
from federations import run_cli, tabular_federation

from fedward.config import load_config
from fedward.deployment import load_coordinator_kit, load_kit_config, load_site_kit
from fedward.deployment.pki import load_certificate, load_crl

SITES = ["site_00", "site_01", "site_02"]
DEPLOYMENT = (
    '[deployment]\ncoordinator = "https://coordinator.example.org:8443"\ndatabase = "sqlite:///x.db"\n'
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory) -> Path:
    return tabular_federation(tmp_path_factory.mktemp("fed"), rounds=2, extra=DEPLOYMENT)


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_provision_writes_a_kit_per_participant_and_says_so(federation, tmp_path, capsys):
    kits = tmp_path / "kits"
    assert run_cli(["provision", str(federation), "--out", str(kits)]) == 0
    out = capsys.readouterr().out
    assert "startup kits of federation 'fedward'" in out
    assert (
        "ca.key, admin.key" in out and "server.key, coordinator.key" in out and "client.key, site.key" in out
    )
    assert "https://coordinator.example.org:8443" in out and "never copy it to a service machine" in out
    assert f"keep {kits / '_authority'} with you" in out
    assert sorted(p.name for p in kits.iterdir()) == sorted(["_authority", "coordinator", *SITES])
    coordinator = load_coordinator_kit(kits / "coordinator")
    assert (coordinator.listen, coordinator.port, coordinator.database) == (
        "coordinator.example.org",
        8443,
        "sqlite:///x.db",
    )
    assert load_kit_config(coordinator) == load_config(federation)
    for site in SITES:
        kit = load_site_kit(kits / site)
        cfg = load_kit_config(kit)
        assert next(s for s in cfg.sites if s.name == site).train == kit.train
        assert stat.S_IMODE((kits / site / "client.key").stat().st_mode) == 0o600


def test_provision_without_a_deployment_table_exits_2_naming_the_file(tmp_path, capsys):
    config = tabular_federation(tmp_path / "fed", rounds=1)
    assert run_cli(["provision", str(config), "--out", str(tmp_path / "kits")]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "[deployment] 'coordinator'" in err and "Traceback" not in err
    assert not (tmp_path / "kits").exists()


def test_provision_refuses_a_bad_coordinator_address(tmp_path, capsys):
    config = tabular_federation(tmp_path / "fed", rounds=1, extra='[deployment]\ncoordinator = "http://x"\n')
    assert run_cli(["provision", str(config), "--out", str(tmp_path / "kits")]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "[deployment] 'coordinator'" in err
    assert not (tmp_path / "kits").exists()


def test_provision_into_a_non_empty_folder_needs_force(federation, tmp_path, capsys):
    kits = tmp_path / "kits"
    assert run_cli(["provision", str(federation), "--out", str(kits)]) == 0
    before = _listing(kits)
    capsys.readouterr()
    assert run_cli(["provision", str(federation), "--out", str(kits)]) == 2
    err = capsys.readouterr().err
    assert f"{kits}: the folder is not empty" in err and "--force" in err
    assert _listing(kits) == before
    assert run_cli(["provision", str(federation), "--out", str(kits), "--force"]) == 0
    after = _listing(kits)
    assert after.keys() == before.keys() and after["_authority/ca.pem"] != before["_authority/ca.pem"]


def test_revoke_updates_the_crl_and_roster_the_coordinator_reads(federation, tmp_path, capsys):
    kits = tmp_path / "kits"
    assert run_cli(["provision", str(federation), "--out", str(kits)]) == 0
    capsys.readouterr()
    assert run_cli(["revoke", str(kits), "site_01", "--from-round", "2"]) == 0
    out = capsys.readouterr().out
    serial = load_certificate(kits / "site_01" / "client.pem").serial_number
    assert f"revoked site 'site_01': certificate {serial:x}" in out and "from round 2" in out
    assert f"wrote {kits / 'coordinator' / 'crl.pem'}" in out
    for folder in ("_authority", "coordinator"):
        assert [e.serial_number for e in load_crl(kits / folder / "crl.pem")] == [serial]
    kit = load_coordinator_kit(kits / "coordinator")
    assert kit.roster.version == 2 and kit.roster.sites["site_01"].revoked_from_round == 2
    # the administrator's folder is also a key folder the roster commands understand
    assert run_cli(["roster", "show", "--dir", str(kits / "_authority")]) == 0
    assert "site_01" in (shown := capsys.readouterr().out) and "revoked from round 2" in shown
    assert run_cli(["revoke", str(kits), "site_02"]) == 0  # default: from round 1, i.e. entirely
    assert "refuses its updates from round 1" in capsys.readouterr().out
    roster = json.loads((kits / "coordinator" / "roster.json").read_text())["roster"]
    assert roster["version"] == 3 and roster["sites"]["site_02"]["revoked_from_round"] == 1


def test_revoke_errors_exit_2_and_change_nothing(federation, tmp_path, capsys):
    kits = tmp_path / "kits"
    assert run_cli(["provision", str(federation), "--out", str(kits)]) == 0
    before = _listing(kits)
    capsys.readouterr()
    assert run_cli(["revoke", str(kits), "site_99"]) == 2
    err = capsys.readouterr().err
    assert (
        "unknown site 'site_99'" in err and "site_00, site_01, site_02" in err and "certificates.json" in err
    )
    assert run_cli(["revoke", str(kits / "coordinator"), "site_01"]) == 2
    assert "no _authority" in capsys.readouterr().err
    assert run_cli(["revoke", str(kits), "site_01", "--from-round", "0"]) == 2
    assert _listing(kits) == before
