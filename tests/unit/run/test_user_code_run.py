"""`[model] code`: the user's own model file, run end to end in an audited federation in memory.

- its SHA-256 is in the ledger's run_started entry, every signed manifest, the release and the summary;
- attack: a site's policy that does not list the hash refuses the task (fit and evaluate) before the
  code is imported; power check: the same site runs it when its policy lists the hash;
- attack: the source is changed in transit (the declared hash kept): the site refuses it before it is
  imported; power check: with the hash comparison taken away, the tampered code runs at the site;
- the source travels in the task's JSON on the wire (deployment), well under the message limit.
"""

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from run_harness import SITES, Recorder, site_data

from fedward.config import FederationConfig, parse_config
from fedward.coordinator import FederationResult, run_federation
from fedward.core.messages import ReplyStatus, Task, TaskKind
from fedward.ledger import utc_clock
from fedward.ledger.store import entries_path
from fedward.models import usercode
from fedward.run.audit import open_audit
from fedward.run.plan import plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.run.summary import build_summary, described_site_data
from fedward.site import Site
from fedward.site import trust as trust_module
from fedward.site.policy import SitePolicy, parse_policy
from fedward.transport import InMemoryTransport
from fedward.transport.wire import MAX_JSON_BYTES, task_from_message, task_to_message
from fedward.trust import MANIFEST_FIELD, UpdateManifest, new_federation_keys

MODEL = """
from torch import nn


def build_model(spec):
    return nn.Sequential(nn.Linear(spec.n_features, 8), nn.Tanh(), nn.Linear(8, spec.n_classes))
"""
PRIVACY = {"plain": {}, "secure": {"secure_aggregation": True}}


def _config(tmp: Path, privacy: dict | None = None) -> FederationConfig:
    (tmp / "my_model.py").write_text(MODEL)
    raw = {
        "federation": {"task": "tabular", "name": "oncology", "rounds": 2, "seed": 3, "min_sites": 1},
        "model": {"code": "my_model.py"},
        "strategy": {"batch_size": 8, "lr": 0.1},
        "privacy": privacy or {},
        "sites": [{"name": s, "train": f"{s}-train.csv", "test": f"{s}-test.csv"} for s in SITES],
    }
    return parse_config(raw, source=tmp / "federation.toml")


def _digest(tmp: Path) -> str:
    return hashlib.sha256((tmp / "my_model.py").read_bytes()).hexdigest()


def _configured(cfg: FederationConfig) -> str | None:
    """The hash of the configured model code: what the simulation's built-in policy runs."""
    return None if cfg.model.code is None else hashlib.sha256(cfg.model.code.read_bytes()).hexdigest()


def _policy(*training_code: str) -> SitePolicy:
    rules = {
        "allowed_code": ["*"],
        "require_secure_aggregation": False,
        "require_dp": "none",
        "min_samples": 1,
        "max_rounds": 100,
    }
    if training_code:
        rules["training_code"] = list(training_code)
    return parse_policy({"policy": rules}, source="site-policy.toml")


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
                name,
                site_data(i),
                site_trust(
                    cfg,
                    keys,
                    name,
                    "f" * 64,
                    policies.get(name, SitePolicy.simulation_default(_configured(cfg))),
                    utc_clock,
                ),
            )
        )
        for i, name in enumerate(SITES)
    }
    transport = InMemoryTransport(list(sites.values()))
    try:
        result = run_federation(transport, plan_for(cfg, "run-1", None), strategy_for(cfg), None, audit)
    finally:
        transport.close()
        audit.ledger.close()
    return result, sites, work


def _manifests(sites: dict[str, Recorder]) -> list[UpdateManifest]:
    return [
        UpdateManifest.from_bytes(r.info[MANIFEST_FIELD].encode())
        for rec in sites.values()
        for r in rec.replies
        if MANIFEST_FIELD in r.info
    ]


@pytest.mark.parametrize("privacy", ["plain", "secure"])
def test_the_code_hash_is_in_the_ledger_the_manifests_the_release_and_the_summary(tmp_path, privacy):
    cfg = _config(tmp_path, PRIVACY[privacy])
    digest = _digest(tmp_path)
    result, sites, work = _run(tmp_path, cfg)
    started = json.loads(entries_path(work).read_text().splitlines()[0])
    assert started["kind"] == "run_started" and started["model_code_hash"] == digest
    manifests = _manifests(sites)
    assert len(manifests) == 2 * len(SITES)
    assert {m.model_code_sha256 for m in manifests} == {digest}
    release = json.loads((work / "releases/final/release.json").read_text())
    assert release["model_code_sha256"] == digest
    summary = build_summary(cfg, "federation.toml", result, None, described_site_data(result), 1.0)
    assert summary["model"]["model_code_sha256"] == digest and summary["model"]["name"] == "code"
    assert set(result.params) == {"0.weight", "0.bias", "2.weight", "2.bias"}  # the user's model


def test_a_built_in_model_leaves_the_code_hash_out(tmp_path):
    from run_harness import config

    cfg = config(tmp_path, rounds=1)
    _, sites, work = _run(tmp_path, cfg)
    assert "model_code_hash" not in json.loads(entries_path(work).read_text().splitlines()[0])
    assert all("model_code_sha256" not in m.to_dict() for m in _manifests(sites))
    assert "model_code_sha256" not in json.loads((work / "releases/final/release.json").read_text())


def _replies(sites: dict[str, Recorder], site: str, kind: str) -> list:
    return [r for r in sites[site].replies if r.kind.value == kind]


@pytest.mark.parametrize("listed", [True, False])
def test_a_site_runs_only_the_model_code_its_policy_lists(tmp_path, listed, monkeypatch):
    cfg = _config(tmp_path)
    digest = _digest(tmp_path)
    refusing = SITES[1]
    policy = _policy(f"sha256:{digest}") if listed else _policy(f"sha256:{'0' * 64}")
    result, sites, _ = _run(tmp_path, cfg, {refusing: policy})
    fits, evals = _replies(sites, refusing, "fit"), _replies(sites, refusing, "evaluate")
    assert fits and evals
    if listed:  # power check: the same site runs the code once its policy lists the hash
        assert {r.status for r in fits + evals} == {ReplyStatus.OK}
        assert sites[refusing].site._model is not None
    else:
        assert {r.status for r in fits + evals} == {ReplyStatus.FAILED}
        assert all(f"training_code: model code sha256:{digest} is not in" in (r.error or "") for r in fits)
        assert all(
            "is not in the site's training_code list; nothing was run" in (r.error or "") for r in evals
        )
        assert sites[refusing].site._model is None  # never built: the code was not imported
    assert result.rounds_completed == 2  # the other site carries the run


def test_a_policy_without_training_code_runs_no_user_code(tmp_path):
    cfg = _config(tmp_path)
    _, sites, _ = _run(tmp_path, cfg, {SITES[1]: _policy()})
    fits = _replies(sites, SITES[1], "fit")
    assert fits and all("the site's policy runs none" in (r.error or "") for r in fits)
    assert sites[SITES[1]].site._model is None


# --- the source changed in transit: replay a recorded task, tampered, to a fresh site


class Recorded:
    def __init__(self, tmp: Path) -> None:
        self.cfg = _config(tmp)
        self.digest = _digest(tmp)
        self.keys = new_federation_keys(self.cfg.federation.name, SITES, utc_clock())
        work = tmp / "work"
        audit = open_audit(work, self.keys, self.cfg.federation.name, "run-1", utc_clock)
        recorders = [_TaskRecorder(Site(s, site_data(i), self.trust(s))) for i, s in enumerate(SITES)]
        transport = InMemoryTransport(recorders)
        try:
            plan = plan_for(self.cfg, "run-1", None)
            run_federation(transport, plan, strategy_for(self.cfg), None, audit)
        finally:
            transport.close()
            audit.ledger.close()
        tasks = recorders[0].tasks
        self.fit = next(t for t in tasks if t.kind is TaskKind.FIT)
        self.evaluate = next(t for t in tasks if t.kind is TaskKind.EVALUATE)

    def trust(self, name: str = SITES[0]):
        policy = _policy(f"sha256:{self.digest}")  # a real site policy listing the configured code
        return site_trust(self.cfg, self.keys, name, "f" * 64, policy, utc_clock)

    def site(self) -> Site:
        return Site(SITES[0], site_data(0), self.trust())


class _TaskRecorder:
    def __init__(self, site: Site) -> None:
        self.site, self.tasks = site, []

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task):
        self.tasks.append(task)
        return self.site.handle(task)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Recorded:
    return Recorded(tmp_path_factory.mktemp("recorded"))


TAMPER = "\nimport builtins\nbuiltins.FEDWARD_TAMPERED_CODE_RAN = True\n"


def tampered(task: Task) -> Task:
    """The task with extra code appended to the shipped source, its declared hash left as it was."""
    config = {**task.config, "model_code": str(task.config["model_code"]) + TAMPER}
    return dataclasses.replace(task, config=config)


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Every source the user-code loader executes in this test."""
    ran: list[str] = []
    load = usercode._load

    def spy(code):
        ran.append(code.source)
        return load(code)

    monkeypatch.setattr(usercode, "_load", spy)
    yield ran
    import builtins

    if hasattr(builtins, "FEDWARD_TAMPERED_CODE_RAN"):
        del builtins.FEDWARD_TAMPERED_CODE_RAN


@pytest.mark.parametrize("kind", ["fit", "evaluate"])
def test_source_changed_in_transit_is_refused_before_it_is_imported(recorded, kind, loads) -> None:
    task = tampered(getattr(recorded, kind))
    site = recorded.site()
    reply = site.handle(task)
    assert reply.status is ReplyStatus.FAILED
    assert "does not match the declared hash" in (reply.error or "")
    assert f"sha256:{recorded.digest}" in (reply.error or "")
    assert loads == [] and site._model is None and MANIFEST_FIELD not in reply.info
    # the honest task of the same kind is answered by a fresh site, which runs the code
    assert recorded.site().handle(getattr(recorded, kind)).status is ReplyStatus.OK
    assert loads and TAMPER not in loads[-1]


@pytest.mark.parametrize("kind", ["fit", "evaluate"])
def test_power_without_the_hash_comparison_the_tampered_code_runs(recorded, kind, loads, monkeypatch):
    import builtins

    def trusting(source: str) -> str:
        return recorded.digest  # the mutant: takes the declared hash for the source's

    monkeypatch.setattr(trust_module, "code_sha256", trusting)
    monkeypatch.setattr(usercode, "code_sha256", trusting)
    reply = recorded.site().handle(tampered(getattr(recorded, kind)))
    assert reply.status is ReplyStatus.OK
    assert loads and loads[-1].endswith(TAMPER)
    assert getattr(builtins, "FEDWARD_TAMPERED_CODE_RAN", False) is True


def test_the_loader_itself_refuses_a_mismatch_without_any_site_trust(recorded, loads) -> None:
    """Defence in depth: a bare site (no trust set up) still verifies the source before it runs."""
    reply = Site(SITES[0], site_data(0)).handle(tampered(recorded.evaluate))
    assert reply.status is ReplyStatus.FAILED and "CodeMismatch" in (reply.error or "") and loads == []


def test_the_source_travels_in_the_task_on_the_wire(recorded) -> None:
    message = task_to_message(recorded.fit)
    body = message.model_dump_json().encode()
    assert len(body) < MAX_JSON_BYTES // 8
    back = task_from_message(message, recorded.fit.parameters, recorded.fit.context)
    assert back.config["model_code"] == recorded.fit.config["model_code"]
    assert back.config["model_code_sha256"] == recorded.digest
