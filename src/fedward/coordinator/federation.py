"""The federation, end to end, from the coordinator's side: describe, set up, run rounds, evaluate.

This is the one round loop of fedward; simulation and deployment differ only in the `Transport` they
pass in. A site's failure or timeout is recorded in its round and never fails the run, as long as at
least `min_sites` sites return a usable model; a round with fewer keeps the previous global model.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from fedward.aggregation import Accumulator, Strategy
from fedward.config import PrivacyConfig
from fedward.coordinator.audit import Audit
from fedward.coordinator.privacy import NoisyClippedSum, PrivacyState, record_dp_event
from fedward.coordinator.rounds import RoundRecord, SiteOutcome
from fedward.coordinator.secure_round import UpdateCheck, secure_fit, session_id
from fedward.coordinator.selection import select_sites
from fedward.coordinator.setup import FederationSetup, describe_federation
from fedward.core.arrays import (
    Arrays,
    arrays_from_bytes,
    arrays_to_bytes,
    check_finite,
    flatten,
    num_parameters,
    unflatten,
)
from fedward.core.messages import JSONValue, Reply, Task, TaskKind
from fedward.core.metrics import metrics_from_confusion
from fedward.core.provenance import task_sha256
from fedward.errors import FederationError
from fedward.models import build_model, model_arrays
from fedward.privacy import PrivacyEvent
from fedward.secagg.task import SecAggTask, secagg_threshold
from fedward.transport.base import Transport

__all__ = ["FederationPlan", "FederationResult", "run_federation"]


@dataclass(frozen=True)
class FederationPlan:
    run_id: str
    model_name: str
    rounds: int
    seed: int
    train: Mapping[str, JSONValue]
    hidden: tuple[int, ...] = (64,)
    channels: tuple[int, ...] = (16, 32, 64)
    fraction: float = 1.0
    min_sites: int = 1
    deadline_s: float | None = None
    eval_every: int = 1
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    federation: str = "fedward"
    config_sha256: str = "0" * 64


@dataclass
class FederationResult:
    run_id: str
    setup: FederationSetup
    params: Arrays
    privacy: PrivacyState
    audit: Audit | None = None
    rounds: list[RoundRecord] = field(default_factory=list)

    @property
    def rounds_completed(self) -> int:
        return sum(r.aggregated for r in self.rounds)

    @property
    def final(self) -> RoundRecord:
        return self.rounds[-1]


def run_federation(
    transport: Transport,
    plan: FederationPlan,
    strategy: Strategy,
    on_round: Callable[[RoundRecord], None] | None = None,
    audit: Audit | None = None,
    noise_entropy: Callable[[], int] | None = None,
) -> FederationResult:
    """Run every round. With `audit`, the run keeps a ledger, verifies signed update packages, gives
    the sites the ledger evidence for each model, and ends with a signed release (coordinator/audit.py).
    `noise_entropy` supplies the seeds of the coordinator's own privacy noise (default: `secrets`)."""
    setup = describe_federation(transport, plan)
    params = model_arrays(build_model(setup.spec, seed=plan.seed))
    result = FederationResult(plan.run_id, setup, params, privacy=_privacy_state(plan, setup), audit=audit)
    if noise_entropy is not None:
        result.privacy.noise_entropy = noise_entropy
    if audit is not None:
        # the definition every fit task shares (per-site and per-round values are not part of it), as
        # the sites' manifests and policies compute it
        privacy = result.privacy.task_config(setup.sites[0], len(setup.sites))
        code = task_sha256({**setup.task_config, **plan.train, **strategy.site_config(), **privacy})
        audit.run_started(plan.run_id, plan.federation, plan.config_sha256, code)
    for rnd in range(1, plan.rounds + 1):
        selected = select_sites(setup.sites, plan.fraction, plan.min_sites, seed=plan.seed, round_=rnd)
        stop = result.privacy.blocked(selected)
        if stop is not None:
            result.privacy.stopped = stop
            break
        record, result.params = _run_round(transport, plan, strategy, result, selected, rnd)
        result.rounds.append(record)
        if on_round is not None:
            on_round(record)
    if result.rounds_completed == 0:
        reasons = "; ".join(sorted({r.reason or "" for r in result.rounds} | {result.privacy.stopped or ""}))
        raise FederationError(f"no round completed: {reasons.strip('; ')}", hint="see the site errors above")
    if audit is not None:
        last = max(r.round for r in result.rounds if r.aggregated)
        audit.finish(
            run_id=plan.run_id,
            last_round=last,
            rounds_completed=result.rounds_completed,
            model_bytes=arrays_to_bytes(result.params),
            site_metrics=result.final.evaluation,
            privacy=result.privacy.summary(),
            reason=result.privacy.stopped or "all rounds run",
        )
    return result


def _privacy_state(plan: FederationPlan, setup: FederationSetup) -> PrivacyState:
    p = plan.privacy
    floor = plan.min_sites
    if p.secure_aggregation:
        floor = max(floor, secagg_threshold(p, len(setup.sites)))
    return PrivacyState.create(
        p,
        rounds=plan.rounds,
        epochs=_int(plan.train, "epochs"),
        batch_size=_int(plan.train, "batch_size"),
        site_samples={s: setup.descriptions[s].num_samples for s in setup.sites},
        min_contributors=floor,
    )


def _int(config: Mapping[str, JSONValue], key: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FederationError(f"training setting {key!r} must be an integer, got {value!r}")
    return value


def _run_round(
    transport: Transport,
    plan: FederationPlan,
    strategy: Strategy,
    result: FederationResult,
    selected: list[str],
    rnd: int,
) -> tuple[RoundRecord, Arrays]:
    start = time.perf_counter()
    setup, params, privacy = result.setup, result.params, result.privacy
    record = RoundRecord(rnd, selected)
    config = {**setup.task_config, **plan.train, **strategy.site_config()}
    secagg = _secagg_task(plan, result, selected, rnd) if plan.privacy.secure_aggregation else None
    extra = secagg.to_config() if secagg is not None else {}
    payload = arrays_to_bytes(params)
    audit = result.audit
    if audit is not None:
        audit.open_round(rnd, selected, payload)
    tasks = [
        Task(
            plan.run_id,
            rnd,
            s,
            TaskKind.FIT,
            payload,
            {
                **config,
                **extra,
                **privacy.task_config(s, len(selected)),
                **(audit.evidence(s) if audit is not None else {}),
                "seed": _site_seed(plan.seed, rnd, s, setup),
            },
            setup.context,
        )
        for s in selected
    ]
    check: UpdateCheck | None = None
    if audit is not None:
        model_sha256 = hashlib.sha256(payload).hexdigest()  # once per round, not once per reply

        def check(reply: Reply, body: bytes) -> str | None:
            return audit.check_update(reply, body, rnd, model_sha256)

    failed = None if audit is None else (lambda reply: audit.record_failure(reply, rnd))
    if secagg is not None:
        combined, events, contributors = _secure_combine(
            transport, plan, tasks, secagg, params, record, privacy, check, failed
        )
    else:
        combined, events, contributors = _plain_combine(
            transport, plan, strategy, tasks, params, record, privacy, check, audit
        )
    del tasks, check, failed, payload  # the round's model bytes are not needed any more: free them now
    record.train_seconds = sum(o.train_seconds for o in record.outcomes.values() if o.status == "ok")
    record.privacy_note = privacy.record_round(events, len(contributors), len(selected))
    record.privacy_events = {k: dict(e.to_dict()) for k, e in privacy.last_events.items()}
    if combined is not None and len(contributors) >= plan.min_sites:
        params = strategy.aggregate(params, combined)
        record.aggregated = True
    else:
        record.reason = (
            f"round {rnd}: {len(contributors)} usable replies, fewer than min_sites={plan.min_sites}"
        )
    del combined
    record.epsilon = privacy.history[-1] if privacy.history and privacy.mode != "none" else {}
    evaluate = rnd % plan.eval_every == 0 or rnd == plan.rounds
    model = arrays_to_bytes(params) if evaluate or (audit is not None and record.aggregated) else b""
    if audit is not None:
        audit.close_round(rnd, record.epsilon, model if record.aggregated else None, contributors)
    if evaluate:
        eval_start = time.perf_counter()
        record.evaluation, record.pooled = evaluate_sites(transport, plan, setup, params, rnd, audit, model)
        record.eval_seconds = time.perf_counter() - eval_start
    record.seconds = time.perf_counter() - start
    return record, params


def _plain_combine(
    transport: Transport,
    plan: FederationPlan,
    strategy: Strategy,
    tasks: list[Task],
    params: Arrays,
    record: RoundRecord,
    privacy: PrivacyState,
    check: UpdateCheck | None,
    audit: Audit | None,
) -> tuple[Arrays | None, dict[str, PrivacyEvent], list[str]]:
    replies = transport.exchange(tasks, plan.deadline_s)
    if audit is not None:
        for task in tasks:
            if not replies[task.site].ok:
                audit.record_failure(replies[task.site], task.round)
    acc: Accumulator = strategy.accumulator()
    if privacy.mode == "site":
        acc = NoisyClippedSum(
            params, privacy.config.clip_norm, privacy.central_noise_std, len(tasks), privacy.noise_entropy()
        )
    events: dict[str, PrivacyEvent] = {}
    for task in tasks:  # one reply at a time: a deployed transport reads each from disk on lookup
        record.outcomes[task.site], event = _take_reply(replies[task.site], params, acc, privacy, check)
        if event is not None:
            events[task.site] = event
    contributors = [s for s, o in record.outcomes.items() if o.status == "ok"]
    return (acc.result() if acc.count else None), events, contributors


def _take_reply(
    reply: Reply, params: Arrays, acc: Accumulator, privacy: PrivacyState, check: UpdateCheck | None
) -> tuple[SiteOutcome, PrivacyEvent | None]:
    """Check one fit reply and fold it in; its bytes are released when this returns."""
    rejected = check(reply, reply.parameters) if check is not None and reply.ok else None
    if rejected is not None:
        return SiteOutcome("rejected", reply.num_samples, reply.train_seconds, error=rejected), None
    outcome = _fold_reply(reply, params, acc, privacy.mode == "record")
    if outcome.status == "ok" and privacy.mode == "record":
        return outcome, record_dp_event(reply.info)
    return outcome, None


def _secure_combine(
    transport: Transport,
    plan: FederationPlan,
    tasks: list[Task],
    secagg: SecAggTask,
    params: Arrays,
    record: RoundRecord,
    privacy: PrivacyState,
    check: UpdateCheck | None,
    failed: Callable[[Reply], None] | None,
) -> tuple[Arrays | None, dict[str, PrivacyEvent], list[str]]:
    fit = secure_fit(transport, tasks, secagg, params, plan.deadline_s, check)
    if failed is not None:
        for task in tasks:
            if not fit.replies[task.site].ok:
                failed(fit.replies[task.site])
    record.outcomes = {t.site: fit.outcomes[t.site] for t in tasks}
    record.secagg = {"contributors": len(fit.contributors), "recovered": fit.recovered}
    events: dict[str, PrivacyEvent] = {}
    if privacy.mode == "record":
        events = {s: record_dp_event(fit.replies[s].info) for s in fit.contributors}
    if fit.total is None:
        return None, events, list(fit.contributors)
    n = fit.total.size - 1
    denominator = float(len(tasks)) if privacy.mode == "site" else float(fit.total[n])
    if denominator <= 0:
        return None, events, list(fit.contributors)
    mean = flatten(params) + fit.total[:n] / denominator
    return unflatten(mean, params), events, list(fit.contributors)


def _secagg_task(plan: FederationPlan, result: FederationResult, selected: list[str], rnd: int) -> SecAggTask:
    setup = result.setup
    return SecAggTask.create(
        plan.privacy,
        session=session_id(plan.run_id, rnd),
        sites=selected,
        length=num_parameters(result.params) + 1,
        weight_scale=max(setup.descriptions[s].num_samples for s in setup.sites),
        uniform_weights=plan.privacy.dp == "site",
    )


def _site_seed(seed: int, rnd: int, site: str, setup: FederationSetup) -> int:
    seq = np.random.SeedSequence([seed, rnd, setup.sites.index(site)])
    return int(seq.generate_state(1)[0])


def _fold_reply(reply: Reply, params: Arrays, mean: Accumulator, needs_spend: bool) -> SiteOutcome:
    """Check a fit reply and fold its model into the accumulator; any problem makes it a failed outcome."""
    if not reply.ok:
        return SiteOutcome(reply.status.value, error=reply.error)
    try:
        if needs_spend:
            record_dp_event(reply.info)
        update = arrays_from_bytes(reply.parameters, copy=False)
        if update.keys() != params.keys() or any(update[k].shape != params[k].shape for k in params):
            raise ValueError("parameters do not match the global model's names and shapes")
        check_finite(update)
        if reply.num_samples <= 0:
            raise ValueError(f"num_samples must be positive, got {reply.num_samples}")
        mean.add(update, reply.num_samples)
    except Exception as exc:
        return SiteOutcome("failed", reply.num_samples, reply.train_seconds, error=f"unusable update: {exc}")
    return SiteOutcome("ok", reply.num_samples, reply.train_seconds, reply.metrics.get("train_loss"))


def evaluate_sites(
    transport: Transport,
    plan: FederationPlan,
    setup: FederationSetup,
    params: Arrays,
    rnd: int,
    audit: Audit | None = None,
    payload: bytes = b"",
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Each site's metrics on its own test data, and the pooled metrics over all their test data.
    `payload` is `params` already serialized, when the caller has it."""
    payload = payload or arrays_to_bytes(params)
    # a revoked or expired site's own metrics no longer count toward the round or the release
    sites = [s for s in setup.sites if audit is None or audit.admitted(s, rnd)]
    tasks = [
        Task(
            plan.run_id,
            rnd,
            s,
            TaskKind.EVALUATE,
            payload,
            {**setup.task_config, **(audit.evidence(s) if audit is not None else {})},
            setup.context,
        )
        for s in sites
    ]
    replies = transport.exchange(tasks, plan.deadline_s)
    per_site: dict[str, dict[str, float]] = {}
    pooled = np.zeros((len(setup.classes), len(setup.classes)), dtype=np.int64)
    for site in sites:
        reply = replies[site]
        if reply.ok and audit is not None:
            audit.confirm(site)
        if reply.ok:
            per_site[site] = dict(reply.metrics)
            pooled += arrays_from_bytes(reply.parameters, dtype=np.float64)["confusion"].astype(np.int64)
    return per_site, metrics_from_confusion(pooled, setup.classes) if per_site else {}
