"""A run that starts from a `[model] init` file, audited end to end in memory: the initial model is the
file's, `train = "head"` keeps every other tensor of the global model bit for bit the file's (plain,
record-level DP, secure aggregation, site-level DP under secure aggregation), the file's SHA-256 is in
the ledger's `run_started`, every signed manifest, the release and the summary (and absent from all of
them without a file), and a site policy that pins its accepted base models refuses any other.
Power checks: `train = "all"` moves those tensors; without the coordinator's `keep_frozen` step the
noise of site-level DP moves them; a policy listing the file's hash accepts the task."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from run_harness import SITES, Recorder, site_data

from fedward.config import FederationConfig, parse_config
from fedward.coordinator import FederationResult, run_federation
from fedward.core.arrays import Arrays, arrays_from_bytes, arrays_to_bytes
from fedward.ledger import utc_clock
from fedward.ledger.store import entries_path
from fedward.models import ModelSpec, build_model, model_arrays
from fedward.run.audit import open_audit
from fedward.run.plan import init_model_for, plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.run.summary import build_summary, described_site_data
from fedward.site import Site
from fedward.site.policy import SitePolicy
from fedward.transport import InMemoryTransport
from fedward.trust import MANIFEST_FIELD, UpdateManifest, new_federation_keys

SPEC = ModelSpec("mlp", 3, 2, (8,), ())
FROZEN = {"0.weight", "0.bias"}
OPEN = SitePolicy.simulation_default()
PRIVACY = {
    "plain": {},
    "dp-record": {"dp": "record", "noise_multiplier": 1.0},
    "secure": {"secure_aggregation": True},
    "secure-dp-site": {"secure_aggregation": True, "dp": "site", "noise_multiplier": 0.5},
}


def _base(tmp: Path) -> tuple[Path, Arrays]:
    arrays = model_arrays(build_model(SPEC, seed=99))
    path = tmp / "base.safetensors"
    path.write_bytes(arrays_to_bytes(arrays))
    return path, arrays


def _config(tmp: Path, *, init: bool, train: str = "head", privacy: dict | None = None) -> FederationConfig:
    model = {"name": "mlp", "hidden": [8], "train": train} | ({"init": "base.safetensors"} if init else {})
    raw = {
        "federation": {"task": "tabular", "name": "oncology", "rounds": 2, "seed": 3, "min_sites": 1},
        "model": model,
        "strategy": {"batch_size": 8, "lr": 0.1, "weight_decay": 0.01},
        "privacy": privacy or {},
        "sites": [{"name": s, "train": f"{s}-train.csv", "test": f"{s}-test.csv"} for s in SITES],
    }
    return parse_config(raw, source=tmp / "federation.toml")


def _run(
    tmp: Path, cfg: FederationConfig, policies: dict[str, SitePolicy] | None = None
) -> tuple[FederationResult, dict[str, Recorder], Path]:
    keys = new_federation_keys(cfg.federation.name, SITES, utc_clock())
    work = tmp / "work"
    audit = open_audit(work, keys, cfg.federation.name, "run-1", utc_clock)
    policies = policies or {}
    sites = {
        name: Recorder(
            Site(
                name, site_data(i), site_trust(cfg, keys, name, "f" * 64, policies.get(name, OPEN), utc_clock)
            )
        )
        for i, name in enumerate(SITES)
    }
    transport = InMemoryTransport(list(sites.values()))
    try:
        plan = plan_for(cfg, "run-1", init_model_for(cfg))
        result = run_federation(transport, plan, strategy_for(cfg), None, audit)
    finally:
        transport.close()
        audit.ledger.close()
    return result, sites, work


@pytest.mark.parametrize("privacy", list(PRIVACY))
def test_head_only_keeps_the_frozen_tensors_of_the_global_model_bit_identical(tmp_path, privacy):
    _, base = _base(tmp_path)
    result, _, _ = _run(tmp_path, _config(tmp_path, init=True, privacy=PRIVACY[privacy]))
    assert result.rounds_completed == 2
    final = result.params
    assert all(np.array_equal(final[k], base[k]) for k in FROZEN)
    assert all(not np.array_equal(final[k], base[k]) for k in set(base) - FROZEN)


def test_power_check_training_everything_moves_the_frozen_tensors(tmp_path):
    _, base = _base(tmp_path)
    result, _, _ = _run(tmp_path, _config(tmp_path, init=True, train="all"))
    assert all(not np.array_equal(result.params[k], base[k]) for k in base)


def test_power_check_without_keep_frozen_site_level_noise_moves_the_frozen_tensors(tmp_path, monkeypatch):
    import fedward.coordinator.round as round_module

    monkeypatch.setattr(round_module, "keep_frozen", lambda new, old, frozen: new)
    _, base = _base(tmp_path)
    result, _, _ = _run(tmp_path, _config(tmp_path, init=True, privacy=PRIVACY["secure-dp-site"]))
    assert all(not np.array_equal(result.params[k], base[k]) for k in FROZEN)


def test_the_first_round_starts_from_the_files_tensors(tmp_path):
    _, base = _base(tmp_path)
    _, sites, _ = _run(tmp_path, _config(tmp_path, init=True))
    first = next(r for r in sites[SITES[0]].replies if r.round == 1 and r.kind.value == "fit")
    sent = arrays_from_bytes(first.parameters)
    assert all(np.array_equal(sent[k], base[k]) for k in FROZEN)  # the site trained from the file


def _manifests(sites: dict[str, Recorder]) -> list[UpdateManifest]:
    return [
        UpdateManifest.from_bytes(r.info[MANIFEST_FIELD].encode())
        for rec in sites.values()
        for r in rec.replies
        if MANIFEST_FIELD in r.info
    ]


def _ledger(work: Path) -> list[dict]:
    return [json.loads(line) for line in entries_path(work).read_text().splitlines()]


@pytest.mark.parametrize("privacy", ["plain", "secure"])
def test_the_files_hash_is_in_the_ledger_the_manifests_the_release_and_the_summary(tmp_path, privacy):
    path, _ = _base(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = _config(tmp_path, init=True, privacy=PRIVACY[privacy])
    result, sites, work = _run(tmp_path, cfg)
    started = _ledger(work)[0]
    assert started["kind"] == "run_started" and started["init_model_hash"] == digest
    manifests = _manifests(sites)
    assert len(manifests) == 2 * len(SITES)  # every update of both rounds
    assert {m.init_model_sha256 for m in manifests} == {digest}
    # the task hash the sites sign covers the init file: it is the code hash the ledger recorded
    assert {m.training_code.task_sha256 for m in manifests} == {started["code_hash"]}
    kind = "secagg-masked" if privacy == "secure" else "safetensors"
    assert {m.payload_kind for m in manifests} == {kind}
    assert all(m.to_dict()["init_model_sha256"] == digest for m in manifests)
    release = json.loads((work / "releases" / "final" / "release.json").read_text())
    assert release["init_model_sha256"] == digest
    summary = build_summary(cfg, "federation.toml", result, None, described_site_data(result), 1.0)
    assert summary["model"]["init_model_sha256"] == digest and summary["model"]["train"] == "head"


def test_without_a_file_the_hash_is_absent_everywhere(tmp_path):
    cfg = _config(tmp_path, init=False, train="all")
    result, sites, work = _run(tmp_path, cfg)
    assert "init_model_hash" not in _ledger(work)[0]
    assert all("init_model_sha256" not in m.to_dict() for m in _manifests(sites))
    assert "init_model_sha256" not in json.loads((work / "releases/final/release.json").read_text())
    summary = build_summary(cfg, "federation.toml", result, None, described_site_data(result), 1.0)
    assert summary["model"]["init_model_sha256"] is None and summary["model"]["train"] == "all"


def _pinned(*hashes: str) -> dict[str, SitePolicy]:
    policy = dataclasses.replace(SitePolicy.simulation_default(), init_models=hashes)
    return {SITES[1]: policy}


def _fit_replies(sites: dict[str, Recorder], site: str) -> list:
    return [r for r in sites[site].replies if r.kind.value == "fit"]


@pytest.mark.parametrize("listed", [True, False])
def test_a_policy_pinning_its_base_models_refuses_any_other(tmp_path, listed):
    path, _ = _base(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    pins = _pinned(digest if listed else "0" * 64)
    result, sites, _ = _run(tmp_path, _config(tmp_path, init=True), pins)
    replies = _fit_replies(sites, SITES[1])
    if listed:  # power check: the same policy accepts the task when it lists the file
        assert {r.status.value for r in replies} == {"ok"}
    else:
        assert {r.status.value for r in replies} == {"failed"}
        assert all(f"init_models: the task starts from {digest}" in (r.error or "") for r in replies)
    assert result.rounds_completed == 2  # the other site carries the run


def test_a_pinned_policy_refuses_a_model_built_from_the_seed(tmp_path):
    _, sites, _ = _run(tmp_path, _config(tmp_path, init=False), _pinned("ab" * 32))
    replies = _fit_replies(sites, SITES[1])
    assert replies and all("built from the seed" in (r.error or "") for r in replies)
