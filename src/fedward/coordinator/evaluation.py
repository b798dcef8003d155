"""The evaluation step: every admitted site scores the global model on its own test data; the pooled
metrics come from the sum of their confusion matrices (no prediction leaves a site).

Beside the metrics, each site's validation evidence is kept as it came (`site_evidence`): its confusion
matrix and the aggregate figures of its reply's info (reliability bins, test counts per quality band,
its confidence threshold and the coverage it leaves); `fedward.run.validation` turns them into the
summary's `validation` section.

A reply whose confusion matrix is unreadable or of the wrong shape is the site's failure: its metrics are
left out of the round. Anything else that goes wrong here is the coordinator's own and is raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fedward.coordinator.observer import RoundObserver
from fedward.coordinator.payloads import UnusablePayload, confusion_counts
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.setup import FederationSetup
from fedward.core.messages import Reply, Task, TaskKind
from fedward.core.metrics import metrics_from_confusion
from fedward.transport.base import Transport

__all__ = ["evaluate_sites", "pooled_metrics", "site_evidence"]


def evaluate_sites(
    transport: Transport,
    plan: FederationPlan,
    setup: FederationSetup,
    model_bytes: bytes,
    rnd: int,
    observer: RoundObserver,
) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, dict[str, Any]]]:
    """Each site's metrics on its own test data, the pooled metrics over all their test data, and each
    site's validation evidence (`site_evidence`)."""
    # a revoked or expired site's own metrics no longer count toward the round or the release
    sites = [s for s in setup.sites if observer.admitted(s, rnd)]
    tasks = [
        Task(
            plan.run_id,
            rnd,
            s,
            TaskKind.EVALUATE,
            model_bytes,
            {
                **setup.task_config,
                **observer.evidence(s),
                "validation_target_accuracy": plan.target_accuracy,
            },
            setup.context,
        )
        for s in sites
    ]
    replies = transport.exchange(tasks, plan.deadline_s)
    for site in sites:
        if replies[site].ok:
            observer.confirm(site)
    per_site, pooled = pooled_metrics(sites, replies, setup.classes)
    return per_site, pooled, site_evidence(list(per_site), replies, setup.classes)


def site_evidence(
    sites: Sequence[str], replies: Mapping[str, Reply], classes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per site of `sites` (those with usable metrics): `confusion` (rows true, columns predicted, as
    lists) and its reply's info, as sent."""
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        reply = replies[site]
        try:
            cm = confusion_counts(reply, len(classes))
        except UnusablePayload:
            continue
        out[site] = {"confusion": cm.tolist(), **dict(reply.info)}
    return out


def pooled_metrics(
    sites: Sequence[str], replies: Mapping[str, Reply], classes: Sequence[str]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-site metrics of the `ok` replies with a usable confusion matrix, and the metrics of their sum."""
    per_site: dict[str, dict[str, float]] = {}
    pooled = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for site in sites:
        reply = replies[site]
        if not reply.ok:
            continue
        try:
            pooled += confusion_counts(reply, len(classes))
        except UnusablePayload:
            continue
        per_site[site] = dict(reply.metrics)
    return per_site, metrics_from_confusion(pooled, classes) if per_site else {}
