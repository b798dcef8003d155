"""One round of the federation, as a short sequence of named steps over two seams: the combiner (how the
sites' models become one, coordinator/combine.py) and the round observer (who keeps the record,
coordinator/observer.py).

    open -> fit tasks -> combine -> outcomes -> account privacy -> aggregate -> keep frozen -> close
    -> evaluate

Every step but `combine` and `evaluate` is a pure function of its arguments or touches only the
observer, so each is unit-tested without a transport. The order of the observer's calls and of the
transport's exchanges is part of the contract: a deployed coordinator replays it from its journal.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fedward.aggregation import Strategy
from fedward.config import DpMode
from fedward.coordinator.combine import Combined, Combiner
from fedward.coordinator.evaluation import evaluate_sites
from fedward.coordinator.observer import RoundObserver
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.privacy import PrivacyState
from fedward.coordinator.rounds import RoundRecord
from fedward.coordinator.setup import FederationSetup
from fedward.coordinator.traffic import CountingTransport
from fedward.core.arrays import Arrays, arrays_to_bytes
from fedward.core.messages import JSONValue, Task, TaskKind
from fedward.settings import TrainSettings
from fedward.transport.base import Transport

__all__ = [
    "RoundContext",
    "account_privacy",
    "aggregate",
    "close_round",
    "fit_config",
    "fit_tasks",
    "keep_frozen",
    "run_round",
    "site_seed",
    "take_outcomes",
]


@dataclass(frozen=True)
class RoundContext:
    """What every round of one run shares: where tasks go, the plan, the strategy, what the sites
    described, the privacy bookkeeping, and the run's combiner and observer."""

    transport: Transport
    plan: FederationPlan
    strategy: Strategy
    setup: FederationSetup
    privacy: PrivacyState
    combiner: Combiner
    observer: RoundObserver
    frozen: frozenset[str] = frozenset()  # tensors no site trains (`[model] train = "head"`)


def run_round(
    ctx: RoundContext, selected: list[str], rnd: int, params: Arrays, not_admitted: Sequence[str] = ()
) -> tuple[RoundRecord, Arrays]:
    """Run round `rnd` with the `selected` sites from the global model `params`; return its record and
    the next global model (`params` itself when the round could not aggregate). `not_admitted`: the
    set-up sites the round left out because they are revoked or expired (recorded, never asked)."""
    start = time.perf_counter()
    traffic = CountingTransport(ctx.transport)  # the round's payload bytes, up and down
    ctx = dataclasses.replace(ctx, transport=traffic)
    record = RoundRecord(rnd, selected, not_admitted=list(not_admitted))
    shared = fit_config(ctx, rnd, selected, params)
    payload = arrays_to_bytes(params)
    ctx.observer.open_round(rnd, selected, payload, record.not_admitted)
    tasks = fit_tasks(ctx, rnd, selected, payload, shared)
    combined = ctx.combiner.combine(ctx.transport, tasks, params, ctx.observer)
    del tasks, payload  # the round's model bytes are not needed any more: free them now
    take_outcomes(record, combined)
    account_privacy(ctx.privacy, record, combined, len(selected))
    params = keep_frozen(
        aggregate(ctx.strategy, params, combined, ctx.plan.min_sites, record), params, ctx.frozen
    )
    model = _serialized(params)
    close_round(ctx.observer, ctx.privacy, record, model, combined.contributors)
    if ctx.plan.evaluates(rnd):
        eval_start = time.perf_counter()
        record.evaluation, record.pooled, record.validation = evaluate_sites(
            ctx.transport, ctx.plan, ctx.setup, model(), rnd, ctx.observer
        )
        record.eval_seconds = time.perf_counter() - eval_start
    record.bytes_up, record.bytes_down = traffic.bytes_up, traffic.bytes_down
    record.seconds = time.perf_counter() - start
    return record, params


def fit_config(ctx: RoundContext, rnd: int, selected: Sequence[str], params: Arrays) -> dict[str, JSONValue]:
    """The settings every fit task of the round shares: architecture and classes, training settings (with
    the setup's class weights), the strategy's and the combiner's (the secure-aggregation session).
    Built before the round opens."""
    train = dataclasses.replace(ctx.plan.train, class_weights=ctx.setup.class_weights)
    return {
        **ctx.setup.task_config,
        **train.to_config(),
        **ctx.strategy.site_config(),
        **ctx.combiner.task_config(rnd, selected, params),
    }


def fit_tasks(
    ctx: RoundContext, rnd: int, selected: Sequence[str], payload: bytes, shared: dict[str, JSONValue]
) -> list[Task]:
    """One fit task per selected site, in selection order: the shared settings, the site's privacy
    settings, the observer's evidence for its model, and the site's own seed."""
    return [
        Task(
            ctx.plan.run_id,
            rnd,
            s,
            TaskKind.FIT,
            payload,
            {
                **shared,
                **ctx.privacy.task_config(s, len(selected)),
                **ctx.observer.evidence(s),
                **TrainSettings.seed_config(site_seed(ctx.plan.seed, rnd, s, ctx.setup.sites)),
            },
            ctx.setup.context,
        )
        for s in selected
    ]


def site_seed(seed: int, rnd: int, site: str, sites: Sequence[str]) -> int:
    """A site's training seed for a round: SeedSequence(seed, round, the site's index in the federation)."""
    seq = np.random.SeedSequence([seed, rnd, list(sites).index(site)])
    return int(seq.generate_state(1)[0])


def take_outcomes(record: RoundRecord, combined: Combined) -> None:
    """Every selected site's outcome into the record, with the round's training time."""
    record.outcomes = dict(combined.outcomes)
    record.secagg = dict(combined.secagg)
    record.train_seconds = sum(o.train_seconds for o in record.outcomes.values() if o.status == "ok")


def account_privacy(privacy: PrivacyState, record: RoundRecord, combined: Combined, selected: int) -> None:
    """Record the round's privacy spend (the sites' events, or the federation's one event)."""
    record.privacy_note = privacy.record_round(combined.events, len(combined.contributors), selected)
    record.privacy_events = {k: dict(e.to_dict()) for k, e in privacy.last_events.items()}


def aggregate(
    strategy: Strategy, params: Arrays, combined: Combined, min_sites: int, record: RoundRecord
) -> Arrays:
    """The next global model, when at least `min_sites` sites contributed; else `params`, and why.
    Consumes `combined.mean`, so the combined model is freed as soon as it is used."""
    mean, combined.mean = combined.mean, None
    if mean is not None and len(combined.contributors) >= min_sites:
        record.aggregated = True
        return strategy.aggregate(params, mean)
    usable = len(combined.contributors)
    if combined.reason is not None:
        record.reason = f"round {record.round}: {combined.reason}"
        return params
    record.reason = f"round {record.round}: {usable} usable replies, fewer than min_sites={min_sites}"
    return params


def keep_frozen(new: Arrays, old: Arrays, frozen: frozenset[str]) -> Arrays:
    """The new global model with every frozen tensor taken, bit for bit, from the old one.

    The sites' updates of frozen tensors are exactly zero, but their weighted mean is float arithmetic
    (and secure aggregation's fixed point and site-level DP's noise touch every coordinate): restoring
    the tensors keeps them identical to the initial model whatever the sites sent."""
    if not frozen or new is old:
        return new
    return {name: old[name] if name in frozen else a for name, a in new.items()}


def close_round(
    observer: RoundObserver,
    privacy: PrivacyState,
    record: RoundRecord,
    model: Callable[[], bytes],
    contributors: Sequence[str],
) -> None:
    """The privacy spent so far into the record; the observer closes the round (with the new model's
    bytes only when the round aggregated)."""
    record.epsilon = privacy.history[-1] if privacy.history and privacy.mode != DpMode.NONE else {}
    observer.close_round(record.round, record.epsilon, model if record.aggregated else None, contributors)


def _serialized(params: Arrays) -> Callable[[], bytes]:
    """`params` as safetensors bytes, serialized at most once and only if someone asks."""
    return functools.cache(lambda: arrays_to_bytes(params))
