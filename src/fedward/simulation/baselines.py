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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from fedward.core.arrays import FloatArray
from fedward.core.metrics import confusion_matrix, metrics_from_confusion
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.run.summary import BaselineResult, Evaluation
from fedward.site.data import LocalData, encode_labels
from fedward.site.trainer import TrainSettings, predict, train
from fedward.tabular import FeatureStats, combine_stats, feature_sums

__all__ = ["BaselineResult", "Evaluation", "centralized", "local_only"]


def _stats(datas: Sequence[LocalData]) -> FeatureStats | None:
    if not datas[0].standardizable:
        return None
    return combine_stats(feature_sums(d.all_train[0]) for d in datas)


def _inputs(x: npt.NDArray[np.float32], stats: FeatureStats | None) -> torch.Tensor:
    if stats is None:
        return torch.from_numpy(x)
    return torch.from_numpy(((x - stats.mean) / stats.scale).astype(np.float32))


def _fit(
    spec: ModelSpec,
    datas: Sequence[LocalData],
    classes: Sequence[str],
    settings: TrainSettings,
    stats: FeatureStats | None,
    seed: int,
    init: Mapping[str, FloatArray] | None,
) -> nn.Module:
    model = build_model(spec, seed=seed)
    if init is not None:
        load_arrays(model, init)
    x = torch.cat([_inputs(d.all_train[0], stats) for d in datas])
    y = torch.from_numpy(np.concatenate([encode_labels(d.all_train[1], classes) for d in datas]))
    train(model, x, y, settings)
    return model


def _confusion(
    model: nn.Module, data: LocalData, classes: Sequence[str], stats: FeatureStats | None
) -> npt.NDArray[np.int64]:
    pred = predict(model, _inputs(data.test_x, stats))
    return confusion_matrix(encode_labels(data.test_y, classes), pred, len(classes))


def centralized(
    spec: ModelSpec,
    sites: dict[str, LocalData],
    classes: Sequence[str],
    settings: TrainSettings,
    seed: int,
    init: Mapping[str, FloatArray] | None = None,
) -> Evaluation:
    """One model trained on the pooled training data, evaluated at each site and pooled."""
    stats = _stats(list(sites.values()))
    model = _fit(spec, list(sites.values()), classes, settings, stats, seed, init)
    cms = {name: _confusion(model, d, classes, stats) for name, d in sites.items()}
    return Evaluation(
        {n: metrics_from_confusion(cm, classes) for n, cm in cms.items()},
        metrics_from_confusion(sum(cms.values(), np.zeros_like(next(iter(cms.values())))), classes),
    )


def local_only(
    spec: ModelSpec,
    sites: dict[str, LocalData],
    classes: Sequence[str],
    settings: TrainSettings,
    seed: int,
    init: Mapping[str, FloatArray] | None = None,
) -> tuple[Evaluation, list[list[float]]]:
    """Each site's own model on its own test data, and every site's model on every site's test data."""
    names = list(sites)
    own: dict[str, npt.NDArray[np.int64]] = {}
    cross: list[list[float]] = []
    for i, name in enumerate(names):
        stats = _stats([sites[name]])
        model = _fit(spec, [sites[name]], classes, settings, stats, seed + i, init)
        row = []
        for other in names:
            cm = _confusion(model, sites[other], classes, stats)
            row.append(metrics_from_confusion(cm, classes)["accuracy"])
            if other == name:
                own[name] = cm
        cross.append(row)
    pooled = metrics_from_confusion(sum(own.values(), np.zeros_like(own[names[0]])), classes)
    return Evaluation({n: metrics_from_confusion(cm, classes) for n, cm in own.items()}, pooled), cross
