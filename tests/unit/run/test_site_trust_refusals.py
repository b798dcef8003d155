"""`site.trust.SiteTrust`: a site acts on its own policy's refusal, and refuses a global model other than
the one the coordinator's ledger records for the round (a malicious coordinator's model swap), for fit
and evaluate tasks, end to end through `Site.handle`. Each refusal has its power check: the mutant that
evaluates but does not act (or does not compare) lets the task run.

The tasks are real ones, recorded from a one-round audited federation in memory (its ledger evidence
built by coordinator/audit.py, the sites' trust by run/site_trust.py), replayed to a fresh site."""

import hashlib
from pathlib import Path

import pytest
from run_harness import SITES, TaskRecorder, config, site_data

from fedward.coordinator import run_federation
from fedward.core.arrays import arrays_from_bytes, arrays_to_bytes
from fedward.core.messages import ReplyStatus, Task, TaskKind
from fedward.ledger import CheckpointWitness, parse_signed_checkpoint, utc_clock
from fedward.run.audit import open_audit
from fedward.run.plan import plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.site import Site
from fedward.site import trust as trust_module
from fedward.site.policy import SitePolicy, parse_policy
from fedward.site.trust import SiteTrust, TrustRefusal
from fedward.transport import InMemoryTransport
from fedward.trust import MANIFEST_FIELD, FederationKeys, new_federation_keys

NAME = SITES[0]
STRICT = {  # the site has 30 training rows: this policy refuses every fit task for min_samples
    "policy": {
        "allowed_code": ["*"],
        "require_secure_aggregation": False,
        "require_dp": "none",
        "min_samples": 10_000,
        "max_rounds": 100_000,
    }
}


class Recorded:
    def __init__(self, tmp: Path) -> None:
        self.cfg = config(tmp)
        self.keys: FederationKeys = new_federation_keys(self.cfg.federation.name, SITES, utc_clock())
        work = tmp / "work"
        work.mkdir()
        audit = open_audit(work, self.keys, self.cfg.federation.name, "run-1", utc_clock)
        recorders = [TaskRecorder(Site(s, site_data(i), self.trust(s))) for i, s in enumerate(SITES)]
        transport = InMemoryTransport(recorders)
        try:
            run_federation(transport, plan_for(self.cfg, "run-1", None), strategy_for(self.cfg), None, audit)
        finally:
            transport.close()
            audit.ledger.close()
        tasks = recorders[0].tasks
        self.fit = next(t for t in tasks if t.kind is TaskKind.FIT)
        self.evaluate = next(t for t in tasks if t.kind is TaskKind.EVALUATE)

    def trust(self, name: str = NAME, policy: SitePolicy | None = None) -> SiteTrust:
        policy = policy or SitePolicy.simulation_default()
        return site_trust(self.cfg, self.keys, name, "f" * 64, policy, utc_clock)

    def site(self, policy: SitePolicy | None = None) -> Site:
        """A fresh site (no checkpoint seen yet) with the recorded run's keys."""
        return Site(NAME, site_data(0), self.trust(policy=policy))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Recorded:
    return Recorded(tmp_path_factory.mktemp("recorded"))


def foreign(task: Task) -> Task:
    """The same task with another model of the same architecture: what a malicious coordinator sends."""
    params = arrays_from_bytes(task.parameters)
    swapped = {k: (a + 0.5).astype(a.dtype) for k, a in params.items()}
    return Task(
        task.run_id, task.round, task.site, task.kind, arrays_to_bytes(swapped), task.config, task.context
    )


def signing_spy(site: Site) -> list[object]:
    """Record every package the site's trust signs."""
    assert site.trust is not None
    calls: list[object] = []
    sign = site.trust.package_fields

    def spy(*args, **kwargs):
        calls.append(args)
        return sign(*args, **kwargs)

    site.trust.package_fields = spy  # type: ignore[method-assign]
    return calls


def check_model_without_comparison(self: SiteTrust, task: Task) -> None:
    """The surviving mutant: every ledger check of `SiteTrust.check_model` but the model-hash comparison."""
    evidence = trust_module._evidence(task.config)
    signed = parse_signed_checkpoint(evidence.checkpoint.encode())
    witness = self.witnesses.setdefault(task.run_id, CheckpointWitness(task.run_id))
    witness.observe(signed, self.coordinator_key, trust_module._consistency(evidence, witness))
    entry = witness.check_inclusion(evidence.entry.encode(), evidence.entry_index, evidence.inclusion_proof())
    if entry.kind not in ("round_opened", "aggregate_computed"):
        raise TrustRefusal("not a model entry")


# (a) the site acts on its own policy's refusal


def test_a_refusing_policy_fails_the_task_before_anything_is_trained_or_signed(recorded) -> None:
    site = recorded.site(parse_policy(STRICT, source="strict.toml"))
    assert site.trust is not None
    with pytest.raises(TrustRefusal, match=r"policy refuses the task: min_samples: the site has 30"):
        site.trust.check_policy(recorded.fit, 30)
    signed = signing_spy(site)
    reply = site.handle(recorded.fit)
    assert reply.status is ReplyStatus.FAILED
    assert f"site {NAME}: TrustRefusal: site {NAME} policy refuses the task: min_samples" in (
        reply.error or ""
    )
    assert reply.parameters == b"" and MANIFEST_FIELD not in reply.info
    assert signed == [] and site._model is None  # no model was built, so nothing was trained


def test_power_a_site_that_evaluates_its_policy_but_ignores_the_refusal_trains(recorded, monkeypatch) -> None:
    evaluated: list = []
    check = SitePolicy.check
    monkeypatch.setattr(
        SitePolicy, "check", lambda self, req: evaluated.append(check(self, req)) or evaluated[-1]
    )
    original = SiteTrust.check_policy

    def evaluate_only(self, task, num_samples):
        try:
            return original(self, task, num_samples)
        except TrustRefusal:
            return evaluated[-1]  # evaluated, and the refusal dropped

    monkeypatch.setattr(SiteTrust, "check_policy", evaluate_only)
    site = recorded.site(parse_policy(STRICT, source="strict.toml"))
    signed = signing_spy(site)
    reply = site.handle(recorded.fit)
    assert evaluated and not evaluated[-1].passed  # the policy did refuse
    assert reply.status is ReplyStatus.OK and len(signed) == 1 and MANIFEST_FIELD in reply.info


# (b) the model a task carries must be the one the ledger entry names


def test_a_model_other_than_the_ledgers_is_refused(recorded) -> None:
    trust = recorded.trust()
    trust.check_model(recorded.fit)  # the recorded task checks out
    fresh = recorded.trust()
    index = recorded.fit.config["trust_entry_index"]
    with pytest.raises(
        TrustRefusal, match=rf"round 1 is not the one recorded in the ledger \(entry {index}\)"
    ):
        fresh.check_model(foreign(recorded.fit))


def test_power_without_the_comparison_the_foreign_model_passes(recorded, monkeypatch) -> None:
    monkeypatch.setattr(SiteTrust, "check_model", check_model_without_comparison)
    recorded.trust().check_model(foreign(recorded.fit))  # no refusal: every other check passes


# (c) a malicious coordinator swaps the model: the site refuses fit and evaluate tasks end to end


@pytest.mark.parametrize("kind", ["fit", "evaluate"])
def test_a_swapped_model_is_refused_through_site_handle(recorded, kind) -> None:
    task = foreign(getattr(recorded, kind))
    site = recorded.site()
    signed = signing_spy(site)
    reply = site.handle(task)
    assert reply.status is ReplyStatus.FAILED
    assert f"the model sent for round {task.round} is not the one recorded in the ledger" in (
        reply.error or ""
    )
    assert reply.parameters == b"" and signed == [] and site._model is None
    # the honest task of the same kind is answered by a fresh site
    assert recorded.site().handle(getattr(recorded, kind)).status is ReplyStatus.OK


@pytest.mark.parametrize("kind", ["fit", "evaluate"])
def test_power_without_the_comparison_the_swapped_model_is_used(recorded, kind, monkeypatch) -> None:
    monkeypatch.setattr(SiteTrust, "check_model", check_model_without_comparison)
    task = foreign(getattr(recorded, kind))
    reply = recorded.site().handle(task)
    assert reply.status is ReplyStatus.OK
    assert (
        hashlib.sha256(task.parameters).hexdigest()
        != hashlib.sha256(getattr(recorded, kind).parameters).hexdigest()
    )
    if kind == "fit":  # the site trained on the foreign model and signed it as its base
        assert MANIFEST_FIELD in reply.info
