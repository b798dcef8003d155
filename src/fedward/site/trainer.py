"""Local training and prediction with PyTorch.

Training is deterministic given `TrainSettings.seed`: batches are drawn by a private torch.Generator and
the global RNG is never touched. With `proximal_mu > 0` the FedProx proximal term
(mu/2)||w - w_start||^2 (Li et al. 2020) is added to the loss, anchoring the site near the global model.
With `train_part = "head"` only the final classification layer trains (`training_part`): every other
parameter has requires_grad off and is not given to the optimizer, so it leaves training bit for bit
as it came in (no gradient, no weight decay, no momentum). With `class_weights` the cross-entropy is
weighted per class (`nn.CrossEntropyLoss(weight=...)`, mean reduction: each batch's loss is divided by
its rows' summed weights).
`TrainSettings` lives in `fedward.settings.training` (it crosses from the coordinator in the fit task's
config); it is re-exported here and from `fedward.site`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from fedward.config import TrainPart
from fedward.models import head_names
from fedward.settings import TrainSettings

__all__ = [
    "TrainSettings",
    "build_optimizer",
    "class_weight_tensor",
    "predict",
    "predict_scores",
    "train",
    "train_epochs",
    "training_part",
]


def build_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    """The optimizer over the parameters that train (requires_grad; see `training_part`)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if s.optimizer == "adam":
        return torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    raise ValueError(f"unknown optimizer {s.optimizer!r}; choose sgd or adam")


@contextmanager
def training_part(model: nn.Module, part: TrainPart) -> Iterator[None]:
    """Within the block only `part` of `model` requires grad (`head`: its final layer); afterwards every
    parameter's requires_grad is what it was, so a reused model is not left frozen."""
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    trained = head_names(model) if part == TrainPart.HEAD else frozenset(before)
    try:
        for name, p in model.named_parameters():
            p.requires_grad_(name in trained)
        yield
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(before[name])


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings) -> float:
    """Run `settings.epochs` epochs of minibatch training in place; returns the mean training loss."""
    if len(x) == 0:
        raise ValueError("no training samples")
    with training_part(model, settings.train_part):
        return _train(model, x, y, settings)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings) -> float:
    losses = list(_epochs(model, x, y, settings))
    return sum(total for total, _ in losses) / sum(batches for _, batches in losses)


def train_epochs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings
) -> Iterator[float]:
    """`train`, one epoch at a time: yields each epoch's mean loss after it, with `model` as that epoch
    left it (one optimizer throughout, so stopping after k epochs is exactly `train` with epochs = k).
    Personalization scores the model on its validation split between epochs."""
    if len(x) == 0:
        raise ValueError("no training samples")
    with training_part(model, settings.train_part):
        for total, batches in _epochs(model, x, y, settings):
            yield total / batches


def _epochs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings
) -> Iterator[tuple[float, int]]:
    """Each epoch's summed loss and batch count, after the epoch has run."""
    opt = build_optimizer(model, settings)
    gen = torch.Generator().manual_seed(settings.seed)
    anchor = [p.detach().clone() for p in model.parameters()] if settings.proximal_mu > 0 else []
    loss_fn = nn.CrossEntropyLoss(weight=class_weight_tensor(settings))
    for _ in range(settings.epochs):
        model.train()
        total, batches = 0.0, 0
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            if anchor:
                prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=True))
                loss = loss + 0.5 * settings.proximal_mu * prox
            loss.backward()
            if settings.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            opt.step()
            total += float(loss.detach())
            batches += 1
        yield total, batches


def class_weight_tensor(settings: TrainSettings) -> torch.Tensor | None:
    """`settings.class_weights` as the float32 weight tensor `cross_entropy` takes; None without them.
    With weights and mean reduction the batch loss is sum_i w_{y_i} l_i / sum_i w_{y_i}."""
    if settings.class_weights is None:
        return None
    return torch.tensor(settings.class_weights, dtype=torch.float32)


def predict_scores(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> npt.NDArray[np.float64]:
    """Softmax class probabilities, float64 [n, K], in evaluation mode and without gradients."""
    model.train(False)  # evaluation mode
    out: list[npt.NDArray[np.float64]] = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size])
            out.append(torch.softmax(logits.double(), dim=1).numpy())
    if out:
        return np.concatenate(out)
    return np.zeros((0, _num_outputs(model)), dtype=np.float64)


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> npt.NDArray[np.int64]:
    """Predicted class indices: the argmax of `predict_scores`."""
    pred: npt.NDArray[np.int64] = predict_scores(model, x, batch_size).argmax(axis=1).astype(np.int64)
    return pred


def _num_outputs(model: nn.Module) -> int:
    """The number of classes a model scores: its last linear layer's outputs (0 if it has none)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else 0
