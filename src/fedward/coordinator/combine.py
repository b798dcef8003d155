"""The combiner seam: how one round's fit tasks become the single model the strategy aggregates, and the
three ways there are. Chosen once per run from the privacy settings (`combiner_for`):

- `PlainCombiner`: the strategy's own accumulator, the streaming sample-weighted mean (FedAvg,
  McMahan et al. 2017), or a strategy's own (a median).
- `NoisyCombiner`: site-level DP without secure aggregation (DP-FedAvg, McMahan et al. 2018): the
  coordinator clips each update, sums, adds Gaussian noise (`NoisyClippedSum`, coordinator/privacy.py).
- `SecureCombiner`: secure aggregation (Bonawitz et al. 2017; coordinator/secure_round.py): only the
  sum is ever decoded; its mean is the start model plus the summed updates over the summed weights.

With `[strategy] norm_bound` the folding combiners clip each site's update (model - global) to that L2
norm before it is folded in (`NormBounded`), whatever the site did; under secure aggregation only the
sites can clip, and their signed manifests state the bound. A robust rule whose tolerance does not hold
for the replies that arrived (`TooFewUpdates`) leaves no combined model and says why.

Every combiner bounds a site's sample count (its aggregation weight) by the count it described at
set-up (`check_weight`); with an audit the count must also be the one the site signed (`PackageVerifier`).
Under secure aggregation the weight travels inside the masked vector: the decoded weight sum must be
the sum of the contributors' (checked) counts' ring weights, or the round does not aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fedward.aggregation import Accumulator, NormBounded, Strategy, TooFewUpdates
from fedward.config import DpMode, PrivacyConfig
from fedward.coordinator.observer import RoundObserver
from fedward.coordinator.payloads import UnusablePayload, check_weight, fit_update
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.privacy import NoisyClippedSum, PrivacyState, record_dp_event
from fedward.coordinator.rounds import SiteOutcome
from fedward.coordinator.secure_round import SecureFit, secure_fit, session_id
from fedward.coordinator.setup import FederationSetup
from fedward.core.arrays import Arrays, flatten, num_parameters, unflatten
from fedward.core.compress import UNCOMPRESSED, CompressionSettings
from fedward.core.messages import JSONValue, Reply, Task
from fedward.privacy import PrivacyEvent
from fedward.secagg.task import SecAggTask
from fedward.transport.base import Transport

__all__ = [
    "Combined",
    "Combiner",
    "NoisyCombiner",
    "PlainCombiner",
    "SecureCombiner",
    "combiner_for",
    "take_failures",
]


@dataclass
class Combined:
    """What a round's fit produced: the combined model (None when no usable update arrived), every
    selected site's outcome in task order, the DP-SGD events sites reported, and who contributed."""

    mean: Arrays | None
    outcomes: dict[str, SiteOutcome]
    events: dict[str, PrivacyEvent]
    contributors: list[str]
    secagg: dict[str, int] = field(default_factory=dict)  # contributors and recovered dropouts
    reason: str | None = None  # why there is no combined model although sites contributed


class Combiner(Protocol):
    """Runs a round's fit tasks over the transport and combines the sites' models into one.

    Contract (every implementation):
    - `task_config(rnd, selected, params)` is what each of the round's fit tasks must also carry for
      this combiner (the secure-aggregation session; empty for the others). It is a pure function of
      its arguments, called before the round opens, so a replayed round sends the same tasks.
    - `combine` calls `transport.exchange` with `tasks` first (and, for secure aggregation, its
      protocol exchanges after), returns one outcome per task in task order, and never raises for a
      site's fault: a failed, refused, malformed or non-finite reply becomes a failed `SiteOutcome`,
      and is never part of `mean`. Errors it raises are the coordinator's own, or a secure-aggregation
      abort (`FederationError`), which ends the run with no output.
    - Every `ok` reply is shown to `observer.check_update` (with the site's set-up sample count) before
      its payload is used; no reply weighs more than that count. Every reply
      that is not `ok` to `observer.record_failure` (through `take_failures`), each exactly once.
    - `mean` is in the model's parameter space: the next `Strategy.aggregate` input. `contributors`
      lists the sites whose updates are in it; `events` the DP-SGD spend of each (record-level DP).
    """

    def task_config(self, rnd: int, selected: Sequence[str], params: Arrays) -> dict[str, JSONValue]: ...

    def combine(
        self, transport: Transport, tasks: Sequence[Task], params: Arrays, observer: RoundObserver
    ) -> Combined: ...


def combiner_for(
    plan: FederationPlan, setup: FederationSetup, strategy: Strategy, privacy: PrivacyState
) -> Combiner:
    """The run's one combiner, from its privacy settings."""
    p = plan.privacy
    samples = {s: setup.descriptions[s].num_samples for s in setup.sites}
    if p.secure_aggregation:
        weight_scale = max(samples.values())
        return SecureCombiner(plan.run_id, p, weight_scale, plan.deadline_s, setup_samples=samples)
    bound = plan.train.norm_bound
    if p.dp == DpMode.SITE:
        return NoisyCombiner(
            privacy, plan.deadline_s, setup_samples=samples, compression=plan.compression, norm_bound=bound
        )
    return PlainCombiner(
        strategy,
        plan.deadline_s,
        record_spend=p.dp == DpMode.RECORD,
        setup_samples=samples,
        compression=plan.compression,
        norm_bound=bound,
    )


def take_failures(
    tasks: Sequence[Task], replies: Mapping[str, Reply], observer: RoundObserver
) -> dict[str, SiteOutcome]:
    """The one place a fit reply that is not `ok` is recorded: its outcome, and the observer's entry."""
    failed: dict[str, SiteOutcome] = {}
    for task in tasks:
        reply = replies[task.site]
        if not reply.ok:
            observer.record_failure(reply, task.round)
            failed[task.site] = SiteOutcome.failed(reply)
    return failed


class _FoldingCombiner:
    """Send the fit tasks, record the failures, then check and fold the usable replies one at a time into
    the accumulator `_accumulator` makes (drawn after the replies arrive). With `compression` the fit
    tasks ask the sites for compressed updates, decoded and checked before they are folded in."""

    def __init__(
        self,
        deadline_s: float | None,
        *,
        record_spend: bool,
        setup_samples: Mapping[str, int],
        compression: CompressionSettings = UNCOMPRESSED,
        norm_bound: float | None = None,
    ) -> None:
        self._deadline_s, self._record_spend = deadline_s, record_spend
        self._setup_samples = dict(setup_samples)  # each site's DESCRIBE count: its largest weight
        self._compression = compression
        self._norm_bound = norm_bound

    def task_config(self, rnd: int, selected: Sequence[str], params: Arrays) -> dict[str, JSONValue]:
        return self._compression.to_config()

    def combine(
        self, transport: Transport, tasks: Sequence[Task], params: Arrays, observer: RoundObserver
    ) -> Combined:
        replies = transport.exchange(tasks, self._deadline_s)
        failed = take_failures(tasks, replies, observer)
        acc = self._accumulator(params, len(tasks))
        if self._norm_bound is not None:
            acc = NormBounded(acc, params, self._norm_bound)
        return fold_replies(
            tasks,
            replies,
            failed,
            params,
            acc,
            observer,
            record_spend=self._record_spend,
            setup_samples=self._setup_samples,
            compression=self._compression,
        )

    def _accumulator(self, params: Arrays, selected: int) -> Accumulator:
        raise NotImplementedError


class PlainCombiner(_FoldingCombiner):
    """The strategy's accumulator over the sites' models, checked and folded in one reply at a time."""

    def __init__(
        self,
        strategy: Strategy,
        deadline_s: float | None,
        *,
        record_spend: bool,
        setup_samples: Mapping[str, int],
        compression: CompressionSettings = UNCOMPRESSED,
        norm_bound: float | None = None,
    ) -> None:
        super().__init__(
            deadline_s,
            record_spend=record_spend,
            setup_samples=setup_samples,
            compression=compression,
            norm_bound=norm_bound,
        )
        self._strategy = strategy

    def _accumulator(self, params: Arrays, selected: int) -> Accumulator:
        return self._strategy.accumulator(params)


class NoisyCombiner(_FoldingCombiner):
    """Site-level DP without secure aggregation: clip each site's update, sum, add the round's noise,
    divide by the number of selected sites (`NoisyClippedSum`)."""

    def __init__(
        self,
        privacy: PrivacyState,
        deadline_s: float | None,
        *,
        setup_samples: Mapping[str, int],
        compression: CompressionSettings = UNCOMPRESSED,
        norm_bound: float | None = None,
    ) -> None:
        super().__init__(
            deadline_s,
            record_spend=False,
            setup_samples=setup_samples,
            compression=compression,
            norm_bound=norm_bound,
        )
        self._privacy = privacy

    def _accumulator(self, params: Arrays, selected: int) -> Accumulator:
        p = self._privacy  # the noise seed is drawn after the replies, as a deployed journal expects
        return NoisyClippedSum(params, p.config.clip_norm, p.central_noise_std, selected, p.noise_entropy())


def fold_replies(
    tasks: Sequence[Task],
    replies: Mapping[str, Reply],
    failed: Mapping[str, SiteOutcome],
    params: Arrays,
    acc: Accumulator,
    observer: RoundObserver,
    *,
    record_spend: bool,
    setup_samples: Mapping[str, int],
    compression: CompressionSettings = UNCOMPRESSED,
) -> Combined:
    """Check each `ok` reply with the observer, then its payload, and fold it in, in task order; one
    reply at a time, because a deployed transport reads each from disk on lookup. A reply's weight is
    its sample count, at most the site's set-up count (with an audit: the signed count)."""
    outcomes: dict[str, SiteOutcome] = {}
    events: dict[str, PrivacyEvent] = {}
    for task in tasks:
        if task.site in failed:
            outcomes[task.site] = failed[task.site]
            continue
        limit = setup_samples[task.site]
        outcomes[task.site], event = _fold(
            task, replies[task.site], params, acc, observer, record_spend, limit, compression
        )
        if event is not None:
            events[task.site] = event
    contributors = [s for s, o in outcomes.items() if o.status == "ok"]
    if not acc.count:
        return Combined(None, outcomes, events, contributors)
    try:
        mean = acc.result()
    except TooFewUpdates as exc:  # a robust rule's tolerance does not hold for these replies
        return Combined(None, outcomes, events, contributors, reason=str(exc))
    return Combined(mean, outcomes, events, contributors)


def _fold(
    task: Task,
    reply: Reply,
    params: Arrays,
    acc: Accumulator,
    observer: RoundObserver,
    record_spend: bool,
    setup_samples: int,
    compression: CompressionSettings,
) -> tuple[SiteOutcome, PrivacyEvent | None]:
    """One `ok` reply: verified against the task's round (never the round the reply claims), checked,
    folded in with its sample count as weight (the signed count, with an audit); its bytes are
    released when this returns."""
    rejected = observer.check_update(reply, reply.parameters, task.round, setup_samples)
    if rejected is not None:
        return SiteOutcome("rejected", reply.num_samples, reply.train_seconds, error=rejected), None
    try:
        update, event = fit_update(
            reply, params, needs_spend=record_spend, setup_samples=setup_samples, compression=compression
        )
    except UnusablePayload as exc:
        return SiteOutcome(
            "failed", reply.num_samples, reply.train_seconds, error=f"unusable update: {exc}"
        ), None
    acc.add(update, reply.num_samples)  # outside the check: an accumulator's error is the coordinator's
    return SiteOutcome("ok", reply.num_samples, reply.train_seconds, reply.metrics.get("train_loss")), event


class SecureCombiner:
    """Secure aggregation: the fit tasks open each site's session, three more exchanges unmask the sum
    (coordinator/secure_round.py); the coordinator sees only the sum and the sum of the weights."""

    def __init__(
        self,
        run_id: str,
        privacy: PrivacyConfig,
        weight_scale: float,
        deadline_s: float | None,
        *,
        setup_samples: Mapping[str, int],
    ) -> None:
        self._run_id, self._privacy = run_id, privacy
        self._weight_scale, self._deadline_s = weight_scale, deadline_s
        self._setup_samples = dict(setup_samples)

    def session(self, rnd: int, selected: Sequence[str], params: Arrays) -> SecAggTask:
        """The round's secure-aggregation session: a pure function of the run, round, sites and model."""
        return SecAggTask.create(
            self._privacy,
            session=session_id(self._run_id, rnd),
            sites=selected,
            length=num_parameters(params) + 1,
            weight_scale=self._weight_scale,
            uniform_weights=self._privacy.dp == DpMode.SITE,
        )

    def task_config(self, rnd: int, selected: Sequence[str], params: Arrays) -> dict[str, JSONValue]:
        return self.session(rnd, selected, params).to_config()

    def combine(
        self, transport: Transport, tasks: Sequence[Task], params: Arrays, observer: RoundObserver
    ) -> Combined:
        rnd = tasks[0].round
        spec = self.session(rnd, [t.site for t in tasks], params)

        def check(reply: Reply, body: bytes) -> str | None:
            limit = self._setup_samples[reply.site]
            rejected = observer.check_update(reply, body, rnd, limit)
            if rejected is not None:
                return rejected
            try:
                check_weight(reply.num_samples, limit)
            except UnusablePayload as exc:
                return f"unusable update: {exc}"
            return None

        fit = secure_fit(transport, tasks, spec, params, self._deadline_s, check)
        take_failures(tasks, fit.replies, observer)  # the same outcomes secure_fit recorded, and the entries
        outcomes = {t.site: fit.outcomes[t.site] for t in tasks}
        events: dict[str, PrivacyEvent] = {}
        if self._privacy.dp == DpMode.RECORD:
            events = {s: record_dp_event(fit.replies[s].info) for s in fit.contributors}
        secagg = {"contributors": len(fit.contributors), "recovered": fit.recovered}
        reason = self._weight_mismatch(fit, spec)
        mean = None if reason is not None else self._mean(fit, params, len(tasks))
        return Combined(mean, outcomes, events, list(fit.contributors), secagg, reason)

    @staticmethod
    def _weight_mismatch(fit: SecureFit, spec: SecAggTask) -> str | None:
        """Why the decoded weight sum is not the one the contributors' sample counts give (each checked
        against the site's set-up count and, with an audit, its signed manifest), or None when it is.
        The coordinator cannot tell which site encoded a wrong weight, so the round keeps its model."""
        if fit.total is None:
            return None
        counts = [fit.replies[s].num_samples for s in fit.contributors]
        expected = spec.weight_total(counts)
        decoded = float(fit.total[-1])
        if abs(decoded - expected) > spec.quantizer.step / 2:
            return (
                f"secure aggregation: the decoded weight sum {decoded:.6g} is not the {expected:.6g} of the "
                f"contributors' sample counts ({', '.join(fit.contributors)}); the round does not aggregate"
            )
        return None

    def _mean(self, fit: SecureFit, params: Arrays, selected: int) -> Arrays | None:
        """The start model plus the decoded update sum over the weight sum (over the number of selected
        sites for site-level DP, a constant fixed before the round)."""
        if fit.total is None:
            return None
        n = fit.total.size - 1
        denominator = float(selected) if self._privacy.dp == DpMode.SITE else float(fit.total[n])
        if denominator <= 0:
            return None
        return unflatten(flatten(params) + fit.total[:n] / denominator, params)
