"""Setting up a federation from what the sites describe: the class list, the feature standardization
(from counts, sums and sums of squares only), the model architecture every site will build, and the
loss's class weights (from the sites' summed training-label counts, `[strategy] class_weights`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fedward.coordinator.plan import FederationPlan
from fedward.core.arrays import arrays_from_bytes, arrays_to_bytes
from fedward.core.messages import JSONValue, Reply, Task, TaskKind
from fedward.errors import FederationError
from fedward.models import ModelSpec
from fedward.settings.class_weights import class_weights
from fedward.tabular import federated_context
from fedward.transport.base import Transport

__all__ = ["FederationSetup", "describe_federation", "federated_class_counts", "sort_classes"]


@dataclass(frozen=True)
class FederationSetup:
    sites: list[str]
    classes: list[str]
    features: list[str]
    spec: ModelSpec
    context: bytes
    descriptions: dict[str, Reply] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    class_weights: tuple[float, ...] | None = None  # one per class; None: the loss is unweighted

    @property
    def task_config(self) -> dict[str, JSONValue]:
        """What every fit and evaluate task carries: the architecture (with `[model] code`, its source
        text and hash) and the class list."""
        classes: list[str | int | float | bool | None] = list(self.classes)
        return {**self.spec.to_config(), "classes": classes}


def sort_classes(labels: set[str]) -> list[str]:
    """Numeric labels in numeric order ('2' before '10'); otherwise alphabetical."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def describe_federation(transport: Transport, plan: FederationPlan) -> FederationSetup:
    tasks = [Task(plan.run_id, 0, s, TaskKind.DESCRIBE) for s in transport.sites]
    replies = transport.exchange(tasks, plan.deadline_s)
    ok = {s: r for s, r in replies.items() if r.ok}
    excluded = {s: r.error or r.status.value for s, r in replies.items() if not r.ok}
    if len(ok) < plan.min_sites:
        detail = "; ".join(f"{s}: {e}" for s, e in excluded.items())
        raise FederationError(
            f"only {len(ok)} sites described their data, fewer than min_sites={plan.min_sites} ({detail})"
        )
    features = _union_features(ok) if plan.missing == "impute" else _agreed_features(ok)
    labels: set[str] = set()
    for reply in ok.values():
        labels.update(str(v) for v in _list(reply.info.get("labels")))
    classes = sort_classes(labels)
    if len(classes) < 2:
        raise FederationError(f"the federation's data has {len(classes)} class(es); at least 2 are needed")
    context = b""
    if features:  # the standardization and, under [data] missing = "impute", the imputation
        parts = [
            (
                [str(f) for f in _list(r.info.get("features"))],
                arrays_from_bytes(r.parameters, dtype=np.float64),
            )
            for r in ok.values()
        ]
        features, arrays = federated_context(parts, impute=plan.missing == "impute")
        context = arrays_to_bytes(arrays)
    input_dim = len(features) if features else int(ok[next(iter(ok))].metrics.get("image_size", 0))
    spec = ModelSpec(plan.model_name, input_dim, len(classes), plan.hidden, plan.channels, plan.model_code)
    weights = class_weights(federated_class_counts(ok.values()), classes, plan.class_weights)
    return FederationSetup(
        [s for s in transport.sites if s in ok], classes, features, spec, context, ok, excluded, weights
    )


def federated_class_counts(descriptions: Iterable[Reply]) -> dict[str, int]:
    """The federation's training rows per label: the sum of the sites' `train_class/<label>` counts."""
    counts: dict[str, int] = {}
    for reply in descriptions:
        for key, value in reply.metrics.items():
            if key.startswith("train_class/"):
                label = key.removeprefix("train_class/")
                counts[label] = counts.get(label, 0) + int(value)
    return counts


def _list(value: JSONValue | None) -> list[str | int | float | bool | None]:
    return value if isinstance(value, list) else []


def _union_features(replies: dict[str, Reply]) -> list[str]:
    """The union of the sites' columns, in the order first seen (missing = "impute")."""
    names: list[str] = []
    for reply in replies.values():
        names.extend(f for f in map(str, _list(reply.info.get("features"))) if f not in names)
    return names


def _agreed_features(replies: dict[str, Reply]) -> list[str]:
    """All sites must have the same feature columns in the same order; name the first that differs."""
    first_site, first = None, None
    for site, reply in replies.items():
        feats = [str(f) for f in _list(reply.info.get("features"))]
        if first is None:
            first_site, first = site, feats
        elif feats != first:
            raise FederationError(
                f"site {site!r} has features {feats}, site {first_site!r} has {first}",
                hint="every site's CSV must have the same columns",
            )
    return first or []
