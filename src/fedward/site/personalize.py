"""Personalization at a site: which model should this hospital use?

Three candidates, all scored on the site's validation split (records held out of every training run,
the federation's included: `fedward.site.data.with_validation`):

- `global`: the federation's final model, as sent;
- `personalized`: the global model fine-tuned on the site's own training records (local adaptation, Yu
  et al. 2020, "Salvaging federated learning by local adaptation"; by default only the final layer
  trains, as in FedRep's local head, Collins et al. 2021, which also absorbs a shift in the label mix);
- `local`: a model trained from the run's initial model on the site's records alone, with the
  federation's budget of epochs (what the hospital would have without the federation).

Fine-tuning and local training stop early: after each epoch the model is scored on the validation split
and the best epoch count is kept (zero for `personalized` means the global model itself); "best" is the
highest accuracy, then macro-F1, then the lowest cross-entropy, since a small split often ties. The chosen
counts are then refit on every training record, the validation split included, and those refit models
are the ones the site keeps and tests. The recommendation is the candidate with the highest validation
accuracy, then macro-F1; on a tie the personalized model (it holds the global model as its zero-epoch
case, and its epoch count already broke ties by validation loss), then the global, then the site's own.
A personalized model that kept zero epochs is the global model, and is recommended as "global". The
validation loss does not rank the candidates themselves: a model trained on the site alone reaches a
low loss on records like its own, which says little about new ones (on the documents benchmark,
ranking by it took mean-site accuracy from 0.949 to 0.840). The test split never takes part in
any choice. Nothing here leaves the site; the caller decides which figures do.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from fedward.core.arrays import Arrays, arrays_to_bytes
from fedward.core.durable import fsync_dir
from fedward.core.metrics import ClassMetrics, scored_metrics
from fedward.models import load_arrays, model_arrays
from fedward.settings import PersonalizeSettings, TrainSettings
from fedward.site.trainer import train, train_epochs

__all__ = ["ARMS", "Arm", "Personalization", "Split", "keep_models", "personalize"]

ARMS = ("global", "personalized", "local")
_PREFERENCE = ("personalized", "global", "local")  # on a tie in validation accuracy and macro-F1


@dataclass(frozen=True)
class Split:
    """Inputs (already standardized where the run standardizes) and class indices."""

    x: torch.Tensor
    y: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Arm:
    name: str
    epochs: int  # kept epochs of fine-tuning or local training (0 for global)
    validation: ClassMetrics  # the fit-split model on the validation split
    confusion: npt.NDArray[np.int64]  # the refit model on the test split
    test: ClassMetrics
    arrays: Arrays | None  # the refit model (None for global: the site has it already)


@dataclass(frozen=True)
class Personalization:
    arms: dict[str, Arm]
    recommended: str
    n_validation: int

    @property
    def model(self) -> Arrays | None:
        """The recommended model's parameters when it is the site's own (None: use the global model)."""
        return self.arms[self.recommended].arrays


def _score(
    model: nn.Module, split: Split, classes: Sequence[str]
) -> tuple[npt.NDArray[np.int64], ClassMetrics]:
    """Confusion counts, the usual figures, and `loss`: the mean cross-entropy (what breaks a tie in
    accuracy on a small validation split, where several epochs or candidates score the same)."""
    model.train(False)  # evaluation mode
    with torch.no_grad():
        chunks = [model(split.x[i : i + 512]) for i in range(0, len(split.y), 512)]
    logits = torch.cat(chunks) if chunks else torch.zeros((0, len(classes)))
    scores = torch.softmax(logits.double(), dim=1).numpy()
    cm, metrics = scored_metrics(split.y, scores, classes)  # with the AUC for two classes
    if len(split.y):
        metrics["loss"] = float(nn.functional.cross_entropy(logits, torch.from_numpy(split.y)))
    return cm, metrics


def _key(metrics: ClassMetrics) -> tuple[float, float, float]:
    """Higher is better: accuracy, then macro-F1, then the lower loss."""
    return metrics["accuracy"], metrics["macro_f1"], -metrics.get("loss", 0.0)


def _best_epochs(
    model: nn.Module,
    fit: Split,
    val: Split,
    classes: Sequence[str],
    settings: TrainSettings,
    *,
    allow_zero: bool,
) -> tuple[int, ClassMetrics]:
    """Train on `fit` epoch by epoch, scoring on `val` after each; the earliest best count and its scores."""
    best_epochs, best = 0, _score(model, val, classes)[1]
    if not allow_zero:
        best = {"accuracy": -1.0, "macro_f1": -1.0, "loss": math.inf}
    for epoch, _loss in enumerate(train_epochs(model, fit.x, torch.from_numpy(fit.y), settings), start=1):
        scores = _score(model, val, classes)[1]
        if _key(scores) > _key(best):
            best_epochs, best = epoch, scores
    return best_epochs, best


def _candidate(
    name: str,
    build: nn.Module,
    start: Mapping[str, npt.NDArray[np.float32]],
    data: tuple[Split, Split, Split, Split],
    classes: Sequence[str],
    settings: TrainSettings,
    *,
    allow_zero: bool,
) -> Arm:
    """One trained candidate: pick its epochs on the validation split, refit on all records, test."""
    fit, val, every, test = data
    load_arrays(build, start)
    epochs, validation = _best_epochs(build, fit, val, classes, settings, allow_zero=allow_zero)
    load_arrays(build, start)
    if epochs > 0:
        train(build, every.x, torch.from_numpy(every.y), replace(settings, epochs=epochs))
    cm, metrics = _score(build, test, classes)
    return Arm(name, epochs, validation, cm, metrics, model_arrays(build))


def personalize(
    model: nn.Module,
    global_arrays: Arrays,
    initial: Arrays,
    data: tuple[Split, Split, Split, Split],
    classes: Sequence[str],
    train_settings: TrainSettings,
    settings: PersonalizeSettings,
) -> Personalization:
    """The three candidates and the recommendation. `data` is (fit, validation, fit + validation, test);
    `model` is a module of the run's architecture (its weights are overwritten); `initial` is the run's
    initial model, where the site's own model starts."""
    val, test = data[1], data[3]
    if len(val.y) == 0:
        raise ValueError("no validation records: personalization needs the validation split")
    load_arrays(model, global_arrays)
    global_val = _score(model, val, classes)[1]
    cm, global_test = _score(model, test, classes)
    arms = {"global": Arm("global", 0, global_val, cm, global_test, None)}
    tune = replace(train_settings, epochs=settings.epochs, train_part=settings.train_part)
    arms["personalized"] = _candidate(
        "personalized", model, global_arrays, data, classes, tune, allow_zero=True
    )
    own = replace(train_settings, epochs=settings.local_epochs, seed=settings.local_seed)
    arms["local"] = _candidate("local", model, initial, data, classes, own, allow_zero=False)
    ranked = sorted(
        _PREFERENCE, key=lambda a: (tuple(-v for v in _key(arms[a].validation)[:2]), _PREFERENCE.index(a))
    )
    best = ranked[0]
    if best == "personalized" and arms[best].epochs == 0:
        best = "global"  # no epoch of fine-tuning helped: the personalized model is the global model
    return Personalization(arms, best, len(val.y))


def keep_models(folder: Path, run_id: str, outcome: Personalization, global_arrays: Arrays) -> Path:
    """Write the site's models of run `run_id` under `folder/run_id/`: `recommended.safetensors` (the
    model to use), `personalized.safetensors`, `local.safetensors`, `global.safetensors` and
    `recommendation.json` (the choice and its validation evidence). Written into a temporary folder and
    renamed into place, so a crash leaves the earlier folder or the new one, never half of one; a run's
    folder written again (a re-sent task) is replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    final, staging = folder / run_id, folder / f".{run_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    models = {"global": global_arrays}
    models |= {a: arm.arrays for a, arm in outcome.arms.items() if arm.arrays is not None}
    models["recommended"] = models[outcome.recommended]
    record = {
        "run_id": run_id,
        "recommended": outcome.recommended,
        "n_validation": outcome.n_validation,
        "candidates": {
            a: {"epochs": arm.epochs, "validation": arm.validation, "test": arm.test}
            for a, arm in outcome.arms.items()
        },
    }
    for name, arrays in models.items():
        (staging / f"{name}.safetensors").write_bytes(arrays_to_bytes(arrays))
    (staging / "recommendation.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    for path in staging.iterdir():
        with path.open("rb") as f:
            os.fsync(f.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    fsync_dir(folder)
    return final
