"""The federation, end to end, from the coordinator's side: describe, set up, run rounds, finish.

This is the one round loop of fedward; simulation and deployment differ only in the `Transport` they
pass in. A site's failure or timeout is recorded in its round and never fails the run, as long as at
least `min_sites` sites return a usable model; a round with fewer keeps the previous global model.
Each round selects only among the sites the observer still admits (a revoked or expired site gets no
task from the next round on); when fewer admitted sites remain than a round needs (`min_sites`, or with
secure aggregation its threshold), the run stops there with the last good model, like the privacy budget.
The round itself is in round.py; who keeps the record (the audit trail, or nobody) is the observer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from fedward.aggregation import Strategy
from fedward.config import TrainPart
from fedward.coordinator.audit import Audit
from fedward.coordinator.combine import combiner_for
from fedward.coordinator.observer import AuditObserver, NoObserver, RoundObserver
from fedward.coordinator.personalization import PersonalizationResult, personalization_tasks, read_replies
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.privacy import PrivacyState, privacy_units
from fedward.coordinator.result import FederationResult
from fedward.coordinator.round import RoundContext, run_round
from fedward.coordinator.rounds import RoundRecord
from fedward.coordinator.selection import admitted_sites, select_sites
from fedward.coordinator.setup import FederationSetup, describe_federation
from fedward.core.arrays import arrays_to_bytes
from fedward.core.provenance import task_sha256
from fedward.errors import FederationError
from fedward.models import ModelSpec, build_model, head_names, initial_arrays
from fedward.release.gates import evaluate_gates
from fedward.secagg.task import secagg_threshold
from fedward.settings import PersonalizeSettings
from fedward.transport.base import Transport

__all__ = ["FederationPlan", "FederationResult", "federate", "run_federation", "too_few_admitted"]


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
    observer: RoundObserver = NoObserver() if audit is None else AuditObserver(audit)
    return federate(transport, plan, strategy, observer, on_round=on_round, noise_entropy=noise_entropy)


def federate(
    transport: Transport,
    plan: FederationPlan,
    strategy: Strategy,
    observer: RoundObserver,
    *,
    on_round: Callable[[RoundRecord], None] | None = None,
    noise_entropy: Callable[[], int] | None = None,
) -> FederationResult:
    """Describe and set up the federation, run the rounds the privacy budget allows, and finish."""
    ctx, result = _start(transport, plan, strategy, observer, noise_entropy)
    for rnd in range(1, plan.rounds + 1):
        eligible = admitted_sites(ctx.setup.sites, observer.admitted, rnd)
        result.stopped = too_few_admitted(ctx, eligible, rnd)
        if result.stopped is not None:
            break
        selected = select_sites(eligible, plan.fraction, plan.min_sites, seed=plan.seed, round_=rnd)
        result.stopped = result.privacy.stopped = result.privacy.blocked(selected)
        if result.stopped is not None:
            break
        not_admitted = [s for s in ctx.setup.sites if s not in eligible]
        record, result.params = run_round(ctx, selected, rnd, result.params, not_admitted)
        result.rounds.append(record)
        if on_round is not None:
            on_round(record)
    if result.rounds_completed == 0:
        reasons = "; ".join(sorted({r.reason or "" for r in result.rounds} | {result.stopped or ""}))
        raise FederationError(f"no round completed: {reasons.strip('; ')}", hint="see the site errors above")
    if plan.personalize is not None:
        result.personalization = _personalize(ctx, result, plan.personalize)
    if plan.gates is not None:
        result.gates = evaluate_gates(plan.gates, result.final.evaluation, result.privacy.epsilons())
    observer.finish(result, result.stopped or "all rounds run")
    return result


def too_few_admitted(ctx: RoundContext, eligible: Sequence[str], rnd: int) -> str | None:
    """Why round `rnd` cannot run with the `eligible` (still admitted) sites, or None.

    A round needs `min_sites` contributors, and with secure aggregation the run-wide floor the privacy
    noise was calibrated for (`PrivacyState.min_contributors`, at least the SecAgg threshold over the
    set-up sites): with fewer admitted sites no round could aggregate, so the run stops with the last
    good model rather than wait on sites that can no longer take part."""
    floor = ctx.privacy.min_contributors
    if len(eligible) >= floor:
        return None
    gone = [s for s in ctx.setup.sites if s not in eligible]
    need = f"min_sites={ctx.plan.min_sites}"
    if floor > ctx.plan.min_sites:
        need = f"{floor} (min_sites={ctx.plan.min_sites} and the secure aggregation threshold)"
    return (
        f"round {rnd}: fewer than {need} admitted sites remain ({len(eligible)} of "
        f"{len(ctx.setup.sites)}; revoked or expired: {', '.join(gone)}); stopping with the last good model"
    )


def _personalize(
    ctx: RoundContext, result: FederationResult, settings: PersonalizeSettings
) -> PersonalizationResult:
    """The sites' choice between the final global model, its fine-tuned copy and their own models."""
    setup, plan, rnd = ctx.setup, ctx.plan, result.final.round
    sites = [s for s in setup.sites if ctx.observer.admitted(s, rnd)]
    per_site = {s: {**ctx.privacy.task_config(s, len(sites)), **ctx.observer.evidence(s)} for s in sites}
    initial = initial_arrays(setup.spec, plan.seed, plan.init_model)
    tasks = personalization_tasks(
        plan.run_id,
        rnd,
        sites,
        arrays_to_bytes(result.params),
        setup.task_config,
        per_site,
        setup.context,
        initial,
        replace(plan.train, seed=plan.seed, class_weights=setup.class_weights),
        settings,
    )
    return read_replies(ctx.transport.exchange(tasks, plan.deadline_s), setup.classes)


def _start(
    transport: Transport,
    plan: FederationPlan,
    strategy: Strategy,
    observer: RoundObserver,
    noise_entropy: Callable[[], int] | None,
) -> tuple[RoundContext, FederationResult]:
    """Set-up: the sites describe their data, the initial model is built from the seed (or checked
    and taken from the `init` file), the privacy bookkeeping and the combiner are chosen, and the
    observer hears that the run started."""
    setup = describe_federation(transport, plan)
    params = initial_arrays(setup.spec, plan.seed, plan.init_model)
    privacy = _privacy_state(plan, setup)
    if noise_entropy is not None:
        privacy.noise_entropy = noise_entropy
    combiner = combiner_for(plan, setup, strategy, privacy)
    frozen = _frozen(setup.spec, plan.train.train_part)
    ctx = RoundContext(transport, plan, strategy, setup, privacy, combiner, observer, frozen)
    observer.run_started(plan, _code_sha256(ctx))
    init_sha256 = None if plan.init_model is None else plan.init_model.sha256
    code_sha256 = None if plan.model_code is None else plan.model_code.sha256
    result = FederationResult(
        plan.run_id, setup, params, privacy, init_model_sha256=init_sha256, model_code_sha256=code_sha256
    )
    return ctx, result


def _frozen(spec: ModelSpec, part: TrainPart) -> frozenset[str]:
    """The tensors no site trains: every one but the final layer's with `[model] train = "head"`."""
    if part == TrainPart.ALL:
        return frozenset()
    model = build_model(spec, seed=0)
    return frozenset(name for name, _ in model.named_parameters()) - head_names(model)


def _code_sha256(ctx: RoundContext) -> str:
    """The definition every fit task shares (per-site and per-round values are not part of it), as the
    sites' manifests and policies compute it (core/provenance.py)."""
    sites = ctx.setup.sites
    shared = {**ctx.setup.task_config, **ctx.plan.train.to_config(), **ctx.strategy.site_config()}
    return task_sha256({**shared, **ctx.privacy.task_config(sites[0], len(sites))})


def _privacy_state(plan: FederationPlan, setup: FederationSetup) -> PrivacyState:
    p = plan.privacy
    floor = plan.min_sites
    if p.secure_aggregation:
        floor = max(floor, secagg_threshold(p, len(setup.sites)))
    return PrivacyState.create(
        p,
        rounds=plan.rounds,
        epochs=plan.train.epochs,
        batch_size=plan.train.batch_size,
        site_samples=privacy_units(p, setup),
        min_contributors=floor,
    )
