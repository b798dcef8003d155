"""The federation, end to end, from the coordinator's side: describe, set up, run rounds, evaluate.

This is the one round loop of fedward; simulation and deployment differ only in the `Transport` they
pass in. A site's failure or timeout is recorded in its round and never fails the run, as long as at
least `min_sites` sites return a usable model; a round with fewer keeps the previous global model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from fedward.aggregation import Strategy, WeightedMean
from fedward.coordinator.rounds import RoundRecord, SiteOutcome
from fedward.coordinator.selection import select_sites
from fedward.coordinator.setup import FederationSetup, describe_federation
from fedward.core.arrays import Arrays, arrays_from_bytes, arrays_to_bytes, check_finite
from fedward.core.messages import JSONValue, Reply, Task, TaskKind
from fedward.core.metrics import metrics_from_confusion
from fedward.errors import FederationError
from fedward.models import build_model, model_arrays
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


@dataclass
class FederationResult:
    run_id: str
    setup: FederationSetup
    params: Arrays
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
) -> FederationResult:
    setup = describe_federation(transport, plan)
    params = model_arrays(build_model(setup.spec, seed=plan.seed))
    result = FederationResult(plan.run_id, setup, params)
    for rnd in range(1, plan.rounds + 1):
        record, result.params = _run_round(transport, plan, strategy, setup, result.params, rnd)
        result.rounds.append(record)
        if on_round is not None:
            on_round(record)
    if result.rounds_completed == 0:
        reasons = "; ".join(sorted({r.reason or "" for r in result.rounds}))
        raise FederationError(f"no round completed: {reasons}", hint="see the site errors above")
    return result


def _run_round(
    transport: Transport,
    plan: FederationPlan,
    strategy: Strategy,
    setup: FederationSetup,
    params: Arrays,
    rnd: int,
) -> tuple[RoundRecord, Arrays]:
    start = time.perf_counter()
    selected = select_sites(setup.sites, plan.fraction, plan.min_sites, seed=plan.seed, round_=rnd)
    record = RoundRecord(rnd, selected)
    config = {**setup.task_config, **plan.train, **strategy.site_config()}
    payload = arrays_to_bytes(params)
    tasks = [
        Task(
            plan.run_id,
            rnd,
            s,
            TaskKind.FIT,
            payload,
            {**config, "seed": _site_seed(plan.seed, rnd, s, setup)},
            setup.context,
        )
        for s in selected
    ]
    replies = transport.exchange(tasks, plan.deadline_s)
    mean = WeightedMean()
    for site in selected:
        record.outcomes[site] = _fold_reply(replies[site], params, mean)
    record.train_seconds = sum(o.train_seconds for o in record.outcomes.values() if o.status == "ok")
    if mean.count >= plan.min_sites:
        params = strategy.aggregate(params, mean.mean())
        record.aggregated = True
    else:
        record.reason = f"round {rnd}: {mean.count} usable replies, fewer than min_sites={plan.min_sites}"
    if rnd % plan.eval_every == 0 or rnd == plan.rounds:
        eval_start = time.perf_counter()
        record.evaluation, record.pooled = evaluate_sites(transport, plan, setup, params, rnd)
        record.eval_seconds = time.perf_counter() - eval_start
    record.seconds = time.perf_counter() - start
    return record, params


def _site_seed(seed: int, rnd: int, site: str, setup: FederationSetup) -> int:
    seq = np.random.SeedSequence([seed, rnd, setup.sites.index(site)])
    return int(seq.generate_state(1)[0])


def _fold_reply(reply: Reply, params: Arrays, mean: WeightedMean) -> SiteOutcome:
    """Check a fit reply and fold its model into the weighted mean; any problem makes it a failed outcome."""
    if not reply.ok:
        return SiteOutcome(reply.status.value, error=reply.error)
    try:
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
    transport: Transport, plan: FederationPlan, setup: FederationSetup, params: Arrays, rnd: int
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Each site's metrics on its own test data, and the pooled metrics over all their test data."""
    payload = arrays_to_bytes(params)
    tasks = [
        Task(plan.run_id, rnd, s, TaskKind.EVALUATE, payload, setup.task_config, setup.context)
        for s in setup.sites
    ]
    replies = transport.exchange(tasks, plan.deadline_s)
    per_site: dict[str, dict[str, float]] = {}
    pooled = np.zeros((len(setup.classes), len(setup.classes)), dtype=np.int64)
    for site in setup.sites:
        reply = replies[site]
        if reply.ok:
            per_site[site] = dict(reply.metrics)
            pooled += arrays_from_bytes(reply.parameters, dtype=np.float64)["confusion"].astype(np.int64)
    return per_site, metrics_from_confusion(pooled, setup.classes) if per_site else {}
