"""Release gates through an audited run in memory: a gate the final model cannot meet leaves no release and
a `release_refused` entry with the gate results, and the trail still verifies; a met gate releases as
before, the gates on its `release_signed` entry. Attack: a release folder written for the refused model
(with the coordinator's own key) is caught by the trail; power check: that folder verifies on its own."""

import shutil
from pathlib import Path

import pytest
from run_harness import SITES, config, site_data

from fedward.config import ReleaseConfig
from fedward.coordinator import run_federation
from fedward.core.arrays import arrays_to_bytes
from fedward.ledger import LedgerError, utc_clock
from fedward.ledger.merkle import root_hash
from fedward.ledger.verify import read_entries, read_verified_ledger
from fedward.release import verify_release, verify_trail, write_release
from fedward.release.gates import ReleaseGates
from fedward.run.audit import open_audit
from fedward.run.plan import plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.run.summary import build_summary
from fedward.site import Site
from fedward.site.policy import SitePolicy
from fedward.transport import InMemoryTransport
from fedward.trust import new_federation_keys


def _run(tmp: Path, release: ReleaseConfig):
    cfg = config(tmp).model_copy(update={"release": release})
    keys = new_federation_keys(cfg.federation.name, SITES, utc_clock())
    work = tmp / "work"
    work.mkdir()
    audit = open_audit(work, keys, cfg.federation.name, "run-1", utc_clock)
    policy = SitePolicy.simulation_default()
    sites = [
        Site(name, site_data(i), site_trust(cfg, keys, name, "f" * 64, policy, utc_clock))
        for i, name in enumerate(SITES)
    ]
    transport = InMemoryTransport(sites)
    plan = plan_for(cfg, "run-1", None, ReleaseGates.from_config(release))
    try:
        result = run_federation(transport, plan, strategy_for(cfg), None, audit)
    finally:
        transport.close()
        audit.ledger.close()
    return cfg, keys, work, result


def test_an_unmeetable_gate_leaves_no_release_and_the_ledger_says_why(tmp_path):
    cfg, keys, work, result = _run(tmp_path, ReleaseConfig(min_site_accuracy=0.999, min_sites=1))
    assert result.release_status == "refused"
    assert not (work / "releases" / "final").exists()
    entries = read_entries(work)
    refused = [e for e in entries if e.kind == "release_refused"]
    assert len(refused) == 1 and not [e for e in entries if e.kind == "release_signed"]
    gates = {g["name"]: g for g in refused[0].fields["gates"]}
    assert gates["min_site_accuracy"]["passed"] is False and gates["min_site_accuracy"]["value"] < 0.999
    assert gates["min_site_accuracy"]["site"] in SITES and gates["min_sites"]["passed"] is True
    assert entries[-1].kind == "run_finished"
    trail = verify_trail(work, keys.coordinator_public)  # the refused run's ledger verifies, finished
    assert trail.report.finished and trail.releases == []
    summary = build_summary(cfg, "federation.toml", result, None, {s: {} for s in SITES}, 1.0)
    assert summary["release"]["status"] == "refused" and summary["release"]["path"] is None
    assert summary["release"]["gates"] == refused[0].fields["gates"]


def test_a_met_gate_promotes_the_release_as_before(tmp_path):
    cfg, keys, work, result = _run(tmp_path, ReleaseConfig(min_site_accuracy=0.0, min_sites=2))
    assert result.release_status == "promoted"
    record = verify_release(work / "releases" / "final", keys.coordinator_public)
    signed = [e for e in read_entries(work) if e.kind == "release_signed"]
    assert signed[0].fields["model_hash"] == record.model_sha256
    assert [g["passed"] for g in signed[0].fields["gates"]] == [True, True]
    verify_trail(work, keys.coordinator_public)
    summary = build_summary(cfg, "federation.toml", result, None, {s: {} for s in SITES}, 1.0)
    assert summary["release"]["status"] == "promoted" and summary["release"]["path"] == "releases/final"


def test_without_gates_the_release_and_its_entry_are_as_they_were(tmp_path):
    _cfg, keys, work, result = _run(tmp_path, ReleaseConfig())
    assert result.release_status == "ungated" and result.gates is None
    signed = [e for e in read_entries(work) if e.kind == "release_signed"]
    assert set(signed[0].fields) == {"version", "round", "model_hash"}  # no `gates` field: same bytes
    verify_trail(work, keys.coordinator_public)


def test_a_release_written_for_a_refused_model_is_caught_by_the_trail(tmp_path):
    _cfg, keys, work, result = _run(tmp_path, ReleaseConfig(min_site_accuracy=0.999))
    refused = next(e for e in read_entries(work) if e.kind == "release_refused")
    folder = write_release(  # the refused model, published anyway with the coordinator's own key
        work / "releases",
        "final",
        arrays_to_bytes(result.params),
        run_id="run-1",
        round=refused.fields["round"],
        parent=None,
        accepted_packages=[],
        site_metrics=result.final.evaluation,
        privacy={},
        ledger_checkpoint=None,
        key=keys.coordinator_key(),
    )
    verify_release(folder, keys.coordinator_public)  # power check: on its own the release verifies
    with pytest.raises(LedgerError):  # names no checkpoint
        verify_trail(work, keys.coordinator_public)
    # the same release naming the ledger's real checkpoint: only the release_refused check stands
    ledger = read_verified_ledger(work, keys.coordinator_public)
    shutil.rmtree(folder)
    size = ledger.report.committed
    write_release(
        work / "releases",
        "final",
        arrays_to_bytes(result.params),
        run_id="run-1",
        round=refused.fields["round"],
        parent=None,
        accepted_packages=[],
        site_metrics=result.final.evaluation,
        privacy={},
        ledger_checkpoint={"tree_size": size, "root_hash": root_hash(ledger.leaf_hashes[:size]).hex()},
        key=keys.coordinator_key(),
    )
    with pytest.raises(LedgerError, match="refused release final") as err:
        verify_trail(work, keys.coordinator_public)
    assert "min_site_accuracy" in str(err.value)
