"""`run.audit.open_audit`: the one assembly of the audit trail (keys, ledger, package verifier, releases)."""

from pathlib import Path

import pytest
from run_harness import SITES, audited_run

from fedward.crypto import load_public_key
from fedward.ledger import utc_clock
from fedward.run.audit import AUDIT_DIRS, open_audit
from fedward.site.policy import SitePolicy
from fedward.trust import FederationKeys, RosterError, new_federation_keys


def test_it_writes_the_public_keys_and_opens_a_ledger_signed_by_the_coordinator(tmp_path: Path) -> None:
    keys = new_federation_keys("oncology", SITES, utc_clock())
    audit = open_audit(tmp_path, keys, "oncology", "run-1", utc_clock)
    try:
        assert (tmp_path / "keys" / "roster.json").read_bytes() == keys.roster_file
        assert load_public_key(tmp_path / "keys" / "admin.pub") == keys.admin_public
        assert load_public_key(tmp_path / "keys" / "coordinator.pub") == keys.coordinator_key().public
        assert (tmp_path / "releases").is_dir() and not any((tmp_path / "releases").iterdir())
        assert audit.key is keys.coordinator_key() and audit.releases_dir == tmp_path / "releases"
    finally:
        audit.ledger.close()


def test_a_run_through_it_leaves_every_audit_folder(tmp_path: Path) -> None:
    policies = dict.fromkeys(SITES, SitePolicy.simulation_default())
    _, work, _, _ = audited_run(tmp_path, policies)
    assert all((work / name).is_dir() for name in AUDIT_DIRS)
    assert (work / "releases" / "final" / "release.json").is_file()


def test_it_refuses_keys_without_the_coordinators_and_writes_nothing(tmp_path: Path) -> None:
    keys = new_federation_keys("oncology", SITES, utc_clock())
    site_only = FederationKeys(keys.admin_public, keys.roster_file, sites={SITES[0]: keys.site_key(SITES[0])})
    with pytest.raises(RosterError, match="coordinator"):
        open_audit(tmp_path, site_only, "oncology", "run-1", utc_clock)
    assert not any(tmp_path.iterdir())


def test_it_never_mixes_into_a_previous_runs_folders(tmp_path: Path) -> None:
    keys = new_federation_keys("oncology", SITES, utc_clock())
    (tmp_path / "keys").mkdir()
    with pytest.raises(FileExistsError):
        open_audit(tmp_path, keys, "oncology", "run-1", utc_clock)
