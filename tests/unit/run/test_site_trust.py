"""`run.site_trust`: one builder for a site's trust state, and the accept-any-task opt-in on record in
every manifest the site signs (with the power check: a file policy of the same rules records nothing)."""

from pathlib import Path

import pytest
from run_harness import SITES, audited_run, config

from fedward.core.messages import TaskKind
from fedward.ledger import utc_clock
from fedward.run.site_trust import site_trust
from fedward.site.policy import ACCEPT_ANY_TASK, SitePolicy, parse_policy
from fedward.trust import RosterError, UpdatePackage, new_federation_keys, verify_package_signature

PERMISSIVE_FILE = {
    "policy": {
        "allowed_code": ["*"],
        "require_secure_aggregation": False,
        "require_dp": "none",
        "min_samples": 1,
        "max_rounds": 100_000,
    }
}


def test_the_builder_takes_the_sites_key_the_roster_and_the_given_policy(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    keys = new_federation_keys(cfg.federation.name, SITES, utc_clock())
    policy = SitePolicy.accept_any_task()
    trust = site_trust(cfg, keys, "haukeland", "f" * 64, policy, utc_clock)
    assert trust.key is keys.site_key("haukeland")
    assert trust.coordinator_key == keys.coordinator_key().public
    assert trust.peer_keys == {name: keys.site_key(name).public for name in SITES}
    assert trust.policy is policy and trust.federation == "oncology"
    assert trust.preprocessing_sha256 is None  # tabular: no preprocessing to name


def test_a_party_without_the_sites_key_cannot_build_its_trust(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    keys = new_federation_keys(cfg.federation.name, SITES, utc_clock())
    coordinator_only = type(keys)(keys.admin_public, keys.roster_file, keys.coordinator_key())
    with pytest.raises(RosterError, match="does not hold the signing key of site 'haukeland'"):
        site_trust(cfg, coordinator_only, "haukeland", "f" * 64, SitePolicy.accept_any_task(), utc_clock)


def test_accept_any_task_is_recorded_in_every_signed_manifest(tmp_path: Path) -> None:
    file_policy = parse_policy(PERMISSIVE_FILE, source="permissive.toml")
    policies = {SITES[0]: SitePolicy.accept_any_task(), SITES[1]: file_policy}
    keys, _, result, sites = audited_run(tmp_path, policies)
    assert result.rounds_completed == 1
    for name, recorder in sites.items():
        fits = [r for r in recorder.replies if r.kind is TaskKind.FIT]
        assert fits, f"{name} answered no fit task"
        for reply in fits:
            package = UpdatePackage.from_fields(reply.info, reply.parameters)
            policy = verify_package_signature(package, keys.roster.public_key(name)).policy
            assert policy.sha256 == policies[name].sha256()
            # the opt-in is on record; power check: the same rules from a file record no such thing
            assert policy.checks.get(ACCEPT_ANY_TASK) is (True if name == SITES[0] else None)
    assert SitePolicy.accept_any_task().sha256() != file_policy.sha256()
