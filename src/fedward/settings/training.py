"""The local training settings a fit task carries, typed at both ends: the coordinator writes them with
`to_config` and a site reads them back with `from_config`.

On the wire (the keys and JSON types are fixed: sites hash and sign the task config, and a deployed
coordinator replays tasks from its journal):

- run-wide, the same in every fit task of a run and part of the task definition (`task_sha256`):
  `epochs`, `batch_size`, `lr`, `momentum`, `optimizer`, `weight_decay`, `max_grad_norm` (null: none);
- per site and round: `seed` (SeedSequence(seed, round, site index), set by the coordinator, left out
  of the task hash by `fedward.core.provenance`);
- per strategy: `proximal_mu`, present only when the strategy sends it (FedProx's `site_config`, Li et
  al. 2020); absent means 0 (no proximal term);
- run-wide, present only when not the default (so the configs and task hashes of runs without them are
  what they were): `train_part` ("head": train only the final classification layer, `[model] train`;
  absent: "all") and `init_model_sha256` (the SHA-256 of the `[model] init` file the run started from;
  absent: the initial model was built from the seed). Both are part of the task definition, so a
  site's policy and its signed manifests cover them.
- run-wide, present only when set: `norm_bound` (`[strategy] norm_bound`: the site clips its update,
  trained - start, to this L2 norm before anything else is done to it, and its signed manifest records
  the bound; fedward.aggregation.norm_bound).
- run-wide, present only when the loss is weighted: `class_weights` (a list of finite positive numbers,
  one per class of the task's `classes`, `fedward.settings.class_weights`); absent: unweighted loss.

`TrainSettings` also drives the in-process baselines, which train with the run-wide values, a longer
`epochs` and the config seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from fedward.config import StrategyConfig, TrainPart
from fedward.core.messages import JSONValue
from fedward.settings.fields import read_float, read_int, read_optional_float, read_str, read_str_list

__all__ = [
    "CLASS_WEIGHTS",
    "INIT_MODEL_SHA256",
    "NORM_BOUND",
    "PROXIMAL_MU",
    "SEED",
    "TRAIN_PART",
    "TrainSettings",
]

SEED = "seed"  # the per-site training seed's key in a fit task's config
PROXIMAL_MU = "proximal_mu"  # FedProx's proximal weight's key (sent by the strategy)
TRAIN_PART = "train_part"  # which tensors the site trains; absent: all
INIT_MODEL_SHA256 = "init_model_sha256"  # the run's init file's hash; absent: built from the seed
CLASS_WEIGHTS = "class_weights"  # the loss's per-class weights; absent: unweighted
NORM_BOUND = "norm_bound"  # the L2 bound on the site's update; absent: none
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TrainSettings:
    """How a site trains locally: optimizer and schedule, the FedProx term, and the batch-order seed."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    optimizer: str = "sgd"
    weight_decay: float = 0.0
    proximal_mu: float = 0.0
    max_grad_norm: float | None = None  # clip each step's gradient norm: keeps plain SGD from diverging
    seed: int = 0
    train_part: TrainPart = TrainPart.ALL  # `[model] train`: every tensor, or the head alone
    init_model_sha256: str | None = None  # the `[model] init` file's SHA-256; None: built from the seed
    class_weights: tuple[float, ...] | None = None  # the loss's weight per class; None: unweighted
    norm_bound: float | None = None  # clip the update (trained - start) to this L2 norm; None: no clip

    def __post_init__(self) -> None:
        if self.norm_bound is not None and not (math.isfinite(self.norm_bound) and self.norm_bound > 0):
            raise ValueError(f"task config {NORM_BOUND!r} must be a finite number > 0")
        if self.init_model_sha256 is not None and not _SHA256_HEX.fullmatch(self.init_model_sha256):
            raise ValueError(f"task config {INIT_MODEL_SHA256!r} must be a SHA-256 hex digest")
        if self.class_weights is not None and not (
            self.class_weights
            and all(
                not isinstance(w, bool) and isinstance(w, int | float) and math.isfinite(w) and w > 0
                for w in self.class_weights
            )
        ):
            raise ValueError(f"task config {CLASS_WEIGHTS!r} must be a list of finite numbers > 0")

    @classmethod
    def from_strategy(
        cls,
        strategy: StrategyConfig,
        *,
        epochs: int | None = None,
        seed: int = 0,
        train_part: TrainPart = TrainPart.ALL,
        init_model_sha256: str | None = None,
        class_weights: tuple[float, ...] | None = None,
    ) -> Self:
        """The run-wide settings of `[strategy]` (epochs: `local_epochs` unless given), with `[model]
        train`, the init file's hash and the class weights (computed from the training labels, so they
        are passed in, not read from `[strategy] class_weights`). `proximal_mu` stays 0: FedProx sends
        it through its `site_config`, and the baselines train without it."""
        s = strategy
        return cls(
            epochs=s.local_epochs if epochs is None else epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            momentum=s.momentum,
            optimizer=s.optimizer,
            weight_decay=s.weight_decay,
            max_grad_norm=s.max_grad_norm,
            seed=seed,
            train_part=train_part,
            init_model_sha256=init_model_sha256,
            class_weights=class_weights,
            norm_bound=s.norm_bound,
        )

    def to_config(self) -> dict[str, JSONValue]:
        """The run-wide keys, in the order fit tasks have always carried them, then `train_part`,
        `init_model_sha256` and `class_weights` only when set. `seed` and `proximal_mu` travel on their
        own (`seed_config`, the strategy's `site_config`)."""
        out: dict[str, JSONValue] = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "momentum": self.momentum,
            "optimizer": self.optimizer,
            "weight_decay": self.weight_decay,
            "max_grad_norm": self.max_grad_norm,
        }
        if self.train_part != TrainPart.ALL:
            out[TRAIN_PART] = self.train_part.value
        if self.init_model_sha256 is not None:
            out[INIT_MODEL_SHA256] = self.init_model_sha256
        if self.class_weights is not None:
            out[CLASS_WEIGHTS] = [float(w) for w in self.class_weights]
        if self.norm_bound is not None:
            out[NORM_BOUND] = self.norm_bound
        return out

    @staticmethod
    def seed_config(seed: int) -> dict[str, JSONValue]:
        """The per-site part of a fit task's training settings."""
        return {SEED: seed}

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> Self:
        """Read a fit task's settings; every run-wide key and `seed` must be present and well typed
        (ValueError naming the key); `proximal_mu` (0), `train_part` ("all"), `init_model_sha256`
        (none) and `class_weights` (none; when present, one per entry of the task's `classes`) may be
        absent."""
        return cls(
            epochs=read_int(config, "epochs"),
            batch_size=read_int(config, "batch_size"),
            lr=read_float(config, "lr"),
            momentum=read_float(config, "momentum"),
            optimizer=read_str(config, "optimizer"),
            weight_decay=read_float(config, "weight_decay"),
            proximal_mu=read_float(config, PROXIMAL_MU) if PROXIMAL_MU in config else 0.0,
            max_grad_norm=read_optional_float(config, "max_grad_norm"),
            seed=read_int(config, SEED),
            train_part=_train_part(config),
            init_model_sha256=read_str(config, INIT_MODEL_SHA256) if INIT_MODEL_SHA256 in config else None,
            class_weights=_class_weights(config),
            norm_bound=read_float(config, NORM_BOUND) if NORM_BOUND in config else None,
        )


def _train_part(config: Mapping[str, JSONValue]) -> TrainPart:
    if TRAIN_PART not in config:
        return TrainPart.ALL
    part = read_str(config, TRAIN_PART)
    if part not in {p.value for p in TrainPart}:
        raise ValueError(f"task config {TRAIN_PART!r} must be one of all, head; got {part!r}")
    return TrainPart(part)


def _class_weights(config: Mapping[str, JSONValue]) -> tuple[float, ...] | None:
    if CLASS_WEIGHTS not in config:
        return None
    value = config[CLASS_WEIGHTS]
    want = "a list of finite numbers > 0, one per class"
    if not isinstance(value, list) or not all(
        not isinstance(w, bool) and isinstance(w, int | float) and math.isfinite(w) and w > 0 for w in value
    ):
        raise ValueError(f"task config {CLASS_WEIGHTS!r} must be {want}, got {value!r}")
    classes = read_str_list(config, "classes")
    if len(value) != len(classes):
        raise ValueError(
            f"task config {CLASS_WEIGHTS!r} has {len(value)} weights for {len(classes)} classes; want {want}"
        )
    return tuple(float(w) for w in value if isinstance(w, int | float))
