"""The honest comparisons for a federated run, trained with the same model and budget:

- centralized: all sites' training data pooled in one place (what federation tries to approach);
- local-only: each site trains alone on its own data (what a hospital gets without the federation).

Both train on every training record, a personalization validation split included (the federation
itself trains without it). The budget is the same number of passes over the data:
`rounds * local_epochs` epochs, training the same part of the model (`TrainSettings.train_part`) from
the same initial model when the run starts from an `init` file (`init`; without one, each baseline
builds the model from its seed). Each local-only
model is also tested at every other site, giving the cross-site matrix that shows how far the sites'
data differ.

Both train under the run's `[strategy] class_weights` mode (`mode`): centralized with the weights of the
pooled training labels (equal to the federation's, which come from the same counts summed), each
local-only site with the weights of its own labels (the "auto" rule applied to that site alone).
Per-site metrics come from the test scores (`scored_metrics`: with the AUC for two classes); pooled
metrics from the summed confusion matrices, as in the federation (so pooled has no AUC).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from fedward.core.arrays import FloatArray
from fedward.core.metrics import ClassMetrics, metrics_from_confusion, scored_metrics, sender_metrics
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.run.summary import BaselineResult, Evaluation
from fedward.settings.class_weights import class_weights
from fedward.site.data import LocalData, encode_labels
from fedward.site.trainer import TrainSettings, predict_scores, train
from fedward.tabular import feature_sums, federated_context, impute_values, prepare

__all__ = ["BaselineResult", "Evaluation", "centralized", "label_counts", "local_only"]


def _stats(datas: Sequence[LocalData]) -> dict[str, npt.NDArray[np.float32]] | None:
    """The standardization (and imputation, where a site has gaps or lacks a column) of the pooled rows:
    the federation's, from the same sums and counts."""
    if not datas[0].standardizable:
        return None
    parts = [(d.features, feature_sums(d.all_train[0])) for d in datas]
    # impute exactly when the federation does: some site lacks a column or has a gap (train or test)
    impute = any(d.features != datas[0].features or np.isnan(d.test_x).any() for d in datas) or any(
        p[1]["present"].min() < p[1]["count"][0] for p in parts
    )
    return federated_context(parts, impute=impute)[1]


def _inputs(
    x: npt.NDArray[np.float32], stats: dict[str, npt.NDArray[np.float32]] | None, features: Sequence[str]
) -> torch.Tensor:
    if stats is None:
        return torch.from_numpy(x)
    return torch.from_numpy(prepare(x, features, stats))


def label_counts(datas: Sequence[LocalData]) -> dict[str, int]:
    """Training rows per label over `datas`, pooled."""
    counts: Counter[str] = Counter()
    for d in datas:
        counts.update(str(label) for label in d.all_train[1])
    return dict(counts)


def _fit(
    spec: ModelSpec,
    datas: Sequence[LocalData],
    classes: Sequence[str],
    settings: TrainSettings,
    stats: dict[str, npt.NDArray[np.float32]] | None,
    seed: int,
    init: Mapping[str, FloatArray] | None,
    mode: str,
) -> nn.Module:
    model = build_model(spec, seed=seed)
    if init is not None:
        load_arrays(model, init)
    x = torch.cat([_inputs(d.all_train[0], stats, d.features) for d in datas])
    y = torch.from_numpy(np.concatenate([encode_labels(d.all_train[1], classes) for d in datas]))
    weights = class_weights(label_counts(datas), classes, mode)
    train(model, x, y, dataclasses.replace(settings, class_weights=weights))
    return model


def _confusion(
    model: nn.Module,
    data: LocalData,
    classes: Sequence[str],
    stats: dict[str, npt.NDArray[np.float32]] | None,
) -> tuple[npt.NDArray[np.int64], ClassMetrics]:
    """The confusion matrix on `data`'s test rows and the metrics of the scores (with the AUC), and the
    accuracy on test rows from senders `data`'s own training rows hold and from the others."""
    scores = predict_scores(model, _inputs(data.test_x, stats, data.features))
    y = encode_labels(data.test_y, classes)
    cm, metrics = scored_metrics(y, scores, classes)
    metrics |= sender_metrics(scores.argmax(axis=1) == y, data.test_senders, data.seen_senders)
    return cm, metrics


def centralized(
    spec: ModelSpec,
    sites: dict[str, LocalData],
    classes: Sequence[str],
    settings: TrainSettings,
    seed: int,
    init: Mapping[str, FloatArray] | None = None,
    mode: str = "none",
) -> Evaluation:
    """One model trained on the pooled training data (class weights of the pooled labels under `mode`),
    evaluated at each site and pooled."""
    stats = _stats(list(sites.values()))
    model = _fit(spec, list(sites.values()), classes, settings, stats, seed, init, mode)
    scored = {name: _confusion(model, d, classes, stats) for name, d in sites.items()}
    cms = [cm for cm, _ in scored.values()]
    return Evaluation(
        {n: m for n, (_, m) in scored.items()},
        metrics_from_confusion(sum(cms, np.zeros_like(cms[0])), classes),
    )


def local_only(
    spec: ModelSpec,
    sites: dict[str, LocalData],
    classes: Sequence[str],
    settings: TrainSettings,
    seed: int,
    init: Mapping[str, FloatArray] | None = None,
    mode: str = "none",
) -> tuple[Evaluation, list[list[float]]]:
    """Each site's own model (class weights of its own labels under `mode`) on its own test data, and
    every site's model on every site's test data."""
    names = list(sites)
    own: dict[str, tuple[npt.NDArray[np.int64], ClassMetrics]] = {}
    cross: list[list[float]] = []
    shared = _stats(list(sites.values()))
    imputed = shared is not None and bool(impute_values(shared))
    for i, name in enumerate(names):
        # under imputation every model reads the federation's columns and indicators, so the local
        # models use the pooled imputation and standardization too (a simulation baseline only)
        stats = shared if imputed else _stats([sites[name]])
        model = _fit(spec, [sites[name]], classes, settings, stats, seed + i, init, mode)
        row = []
        for other in names:
            cm, metrics = _confusion(model, sites[other], classes, stats)
            row.append(metrics["accuracy"])
            if other == name:
                own[name] = cm, metrics
        cross.append(row)
    cms = [cm for cm, _ in own.values()]
    pooled = metrics_from_confusion(sum(cms, np.zeros_like(cms[0])), classes)
    return Evaluation({n: m for n, (_, m) in own.items()}, pooled), cross
