"""The aggregation weight is the signed sample count: an admitted site that replies num_samples=10**9
while signing its true count, or signs an inflated count above what it described at set-up, has its
update rejected (`num_samples_mismatch`, `num_samples_exceeds_setup` in the ledger) and the global model
is the one without it. Each attack has its power check: with that one check off it moves the model.
Without an audit the set-up bound still holds (it needs no signature)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from run_harness import SITES, config, site_data

from fedward.coordinator import FederationResult, payloads, run_federation
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.ledger import utc_clock
from fedward.run.audit import open_audit
from fedward.run.plan import plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.site import Site
from fedward.site.policy import SitePolicy
from fedward.transport import InMemoryTransport
from fedward.trust import PackageVerifier, new_federation_keys

HONEST, ATTACKER = SITES
INFLATED = 10**9


class Inflating:
    """A site that trains honestly but rewrites its fit reply's `num_samples` (mode "reply"), also signs
    the inflated count (mode "signed"), or fails its fit (mode "absent": the reference run)."""

    def __init__(self, site: Site, mode: str) -> None:
        self.site, self.mode = site, mode
        if mode == "signed" and site.trust is not None:
            sign = site.trust.package_fields

            def inflated(*args, **kwargs):
                return sign(*args, **{**kwargs, "num_samples": INFLATED})

            site.trust.package_fields = inflated  # type: ignore[method-assign]

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task) -> Reply:
        reply = self.site.handle(task)
        if task.kind is not TaskKind.FIT or self.mode == "honest":
            return reply
        if self.mode == "absent":
            return Reply.failure(task, ReplyStatus.FAILED, "not taking part")
        return dataclasses.replace(reply, num_samples=INFLATED)


def _run(tmp: Path, mode: str, *, audited: bool = True) -> tuple[FederationResult, list[dict]]:
    cfg = config(tmp)
    keys = new_federation_keys(cfg.federation.name, SITES, utc_clock())
    work = tmp / f"work-{mode}-{audited}"
    work.mkdir()
    audit = open_audit(work, keys, cfg.federation.name, "run-1", utc_clock) if audited else None
    policy = SitePolicy.simulation_default()
    sites = []
    for i, name in enumerate(SITES):
        trust = site_trust(cfg, keys, name, "f" * 64, policy, utc_clock) if audited else None
        site = Site(name, site_data(i), trust)
        sites.append(Inflating(site, mode) if name == ATTACKER else site)
    transport = InMemoryTransport(sites)
    try:
        result = run_federation(transport, plan_for(cfg, "run-1", None), strategy_for(cfg), None, audit)
    finally:
        transport.close()
        if audit is not None:
            audit.ledger.close()
    lines = (work / "ledger" / "entries.jsonl").read_text().splitlines() if audited else []
    return result, [json.loads(line) for line in lines]


def _same(a: FederationResult, b: FederationResult) -> bool:
    return all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def _rejections(entries: list[dict]) -> dict[str, str]:
    return {e["site"]: e["reason"] for e in entries if e["kind"] == "update_rejected"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> FederationResult:
    """The global model without the attacker's update (the attacker's fit fails)."""
    result, _ = _run(tmp_path_factory.mktemp("reference"), "absent")
    return result


def test_a_reply_weight_other_than_the_signed_one_is_rejected(tmp_path, reference) -> None:
    result, entries = _run(tmp_path, "reply")
    assert _rejections(entries) == {ATTACKER: "num_samples_mismatch"}
    assert result.rounds[0].outcomes[ATTACKER].status == "rejected"
    assert _same(result, reference)


def test_power_without_the_comparison_the_inflated_reply_weight_moves_the_model(
    tmp_path, reference, monkeypatch
) -> None:
    monkeypatch.setattr(PackageVerifier, "_check_claimed_samples", lambda self, manifest, expected: None)
    monkeypatch.setattr(PackageVerifier, "_check_setup_samples", lambda self, manifest, expected: None)
    monkeypatch.setattr(payloads, "check_weight", lambda num_samples, setup_samples: None)
    result, entries = _run(tmp_path, "reply")
    assert _rejections(entries) == {} and result.rounds[0].outcomes[ATTACKER].status == "ok"
    assert not _same(result, reference)


def test_a_signed_weight_above_the_set_up_count_is_rejected(tmp_path, reference) -> None:
    result, entries = _run(tmp_path, "signed")
    assert _rejections(entries) == {ATTACKER: "num_samples_exceeds_setup"}
    assert _same(result, reference)


def test_power_without_the_set_up_bound_the_signed_inflated_weight_moves_the_model(
    tmp_path, reference, monkeypatch
) -> None:
    monkeypatch.setattr(PackageVerifier, "_check_setup_samples", lambda self, manifest, expected: None)
    monkeypatch.setattr(payloads, "check_weight", lambda num_samples, setup_samples: None)
    result, entries = _run(tmp_path, "signed")
    assert _rejections(entries) == {}  # signed and claimed agree: only the set-up bound stood in the way
    assert not _same(result, reference)


def test_without_an_audit_a_weight_above_the_set_up_count_is_still_refused(tmp_path) -> None:
    absent, _ = _run(tmp_path, "absent", audited=False)
    result, _ = _run(tmp_path, "reply", audited=False)
    outcome = result.rounds[0].outcomes[ATTACKER]
    assert outcome.status == "failed" and "exceeds the 30 the site described at set-up" in (
        outcome.error or ""
    )
    assert _same(result, absent)
    # power check: without the bound the unsigned claim outweighs the honest site
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(payloads, "check_weight", lambda num_samples, setup_samples: None)
        unchecked, _ = _run(tmp_path, "reply-unchecked", audited=False)
    assert not _same(unchecked, absent)
