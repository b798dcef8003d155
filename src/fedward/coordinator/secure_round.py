"""One round's fit under secure aggregation (Bonawitz et al. 2017; SecAgg+ graph, Bell et al. 2020):
drive the coordinator's sans-IO state machine over the transport and decode the sum.

The fit task starts each site's session (it trains, then advertises its keys); three more exchanges
carry the keys, the encrypted shares and the unmask request. A site that fails or times out at a stage
is dropped from then on; the state machine removes its masks from the sum, or aborts when fewer than
the threshold remain, in which case the whole run stops with no output (FederationError).

What the coordinator learns is only the sum of `weight * clip(update)` and the sum of the weights (or,
for site-level DP, the sum of the noised, clipped updates), never one site's update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fedward.coordinator.rounds import SiteOutcome
from fedward.core.arrays import Arrays, num_parameters
from fedward.core.messages import Reply, Task, TaskKind
from fedward.errors import FederationError
from fedward.secagg import AbortError, ProtocolError, SecAggCoordinator
from fedward.secagg.task import SecAggTask
from fedward.transport.base import Transport

__all__ = ["SecureFit", "UpdateCheck", "secure_fit", "session_id"]

UpdateCheck = Callable[[Reply, bytes], "str | None"]
"""Verifies a site's signed update package over a payload; returns why it is rejected, or None. The
reply is the masked upload with the sample count its fit reply claimed (the weight it encoded)."""

STAGES = ("share", "mask", "unmask")
_DROPPED_AT = {
    "share": "dropped before sending its key shares",
    "mask": "dropped before uploading its masked update; its pairwise masks were removed",
    "unmask": "dropped after uploading; its self mask was rebuilt from the other sites' shares",
}


@dataclass
class SecureFit:
    """The decoded sum (the flattened update sum, then the weight sum) and who is in it."""

    total: npt.NDArray[np.float64] | None
    contributors: tuple[str, ...]
    recovered: int
    replies: dict[str, Reply]
    outcomes: dict[str, SiteOutcome]


def session_id(run_id: str, rnd: int) -> bytes:
    return hashlib.sha256(f"fedward secagg|{run_id}|{rnd}".encode()).digest()


def secure_fit(
    transport: Transport,
    tasks: Sequence[Task],
    spec: SecAggTask,
    params: Arrays,
    deadline_s: float | None,
    check: UpdateCheck | None = None,
) -> SecureFit:
    """Run the fit tasks (which open the sessions) and the three SecAgg exchanges; decode the sum."""
    coordinator = SecAggCoordinator(spec.session)
    replies = dict(transport.exchange(tasks, deadline_s))
    outcomes: dict[str, SiteOutcome] = {}
    for site, reply in replies.items():
        outcomes[site] = _take(coordinator, site, reply, None)
    first = tasks[0]
    for stage in STAGES:
        outgoing = _advance(coordinator)
        stage_tasks = [
            Task(first.run_id, first.round, s, TaskKind.SECAGG, msg, {"secagg_stage": stage})
            for s, msg in outgoing.items()
        ]
        for site, reply in transport.exchange(stage_tasks, deadline_s).items():
            rejected = None
            if check is not None and stage == "mask" and reply.ok:  # the upload carries the package
                claimed = replace(reply, num_samples=replies[site].num_samples)  # the fit reply's weight
                rejected = check(claimed, reply.parameters)
            if rejected is not None:  # not handed on: the site counts as dropped before uploading
                outcomes[site] = SiteOutcome("rejected", replies[site].num_samples, error=rejected)
                continue
            outcome = _take(coordinator, site, reply, stage)
            if outcome.status != "ok":
                outcomes[site] = outcome
    _advance(coordinator)
    total = spec.quantizer.decode(coordinator.result())
    return _decoded(total, params, coordinator, replies, outcomes)


def _take(coordinator: SecAggCoordinator, site: str, reply: Reply, stage: str | None) -> SiteOutcome:
    """Hand a site's reply to the state machine; a failure or a malformed message drops the site."""
    if not reply.ok:
        failed = SiteOutcome.failed(reply)
        if stage is None:
            return failed
        return SiteOutcome(failed.status, error=f"{_DROPPED_AT[stage]}: {failed.error}")
    try:
        coordinator.receive(site, reply.parameters)
    except ProtocolError as exc:
        return SiteOutcome("failed", reply.num_samples, error=f"secure aggregation: {exc}")
    return SiteOutcome("ok", reply.num_samples, reply.train_seconds, reply.metrics.get("train_loss"))


def _advance(coordinator: SecAggCoordinator) -> Mapping[str, bytes]:
    try:
        return coordinator.advance()
    except AbortError as exc:
        raise FederationError(
            f"secure aggregation aborted: {exc}",
            hint="too many sites dropped out; lower [privacy] threshold or check the sites",
        ) from None


def _decoded(
    total: npt.NDArray[np.float64],
    params: Arrays,
    coordinator: SecAggCoordinator,
    replies: dict[str, Reply],
    outcomes: dict[str, SiteOutcome],
) -> SecureFit:
    contributors = tuple(coordinator.survivors)
    after = coordinator.dropped_after_upload
    for site in after:
        r = replies[site]
        outcomes[site] = SiteOutcome("ok", r.num_samples, r.train_seconds, error=_DROPPED_AT["unmask"])
    recovered = len(after) + len(coordinator.dropped_before_upload)
    if total.size != num_parameters(params) + 1:
        raise FederationError(f"secure aggregation: sum has {total.size - 1} values, the model more or less")
    return SecureFit(total if contributors else None, contributors, recovered, replies, outcomes)
