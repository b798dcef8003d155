"""What a pretraining run is: its settings, and the command line that reproduces it.

The settings are the whole recipe: the public corpus (seed, hospitals, pages per hospital), the doc-cnn's
sizes, and the optimizer schedule. `workers` is not part of it: the corpus, the preprocessing and so the
weights are the same for any number of worker processes (documents/synth/generate.py, dataset.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fedward.documents.synth.cast import MAX_SEED

__all__ = ["PretrainSettings"]


@dataclass(frozen=True)
class PretrainSettings:
    """A pretraining run of a document encoder on public pages.

    The optimizer (Adam, lr 1e-3, batch 32, gradient norm clipped at 5) is fixed for this version of
    fedward and recorded with the weights; the command line sets the rest.
    """

    seed: int = 0
    sites: int = 8
    pages: int = 250
    channels: tuple[int, ...] = (8, 16, 32)
    hidden: tuple[int, ...] = (32,)
    image_size: int = 64
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    max_grad_norm: float = 5.0

    def __post_init__(self) -> None:
        """Reject settings that cannot describe a run (ValueError naming the setting)."""
        if not 0 <= self.seed < MAX_SEED:
            raise ValueError(f"--seed must be from 0 to 2**32 - 1, got {self.seed}")
        for name in ("sites", "pages", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.channels or not self.hidden or min(self.channels + self.hidden) < 1:
            raise ValueError("--channels and --hidden must be non-empty lists of positive integers")
        if self.image_size // 2 ** len(self.channels) < 1:
            raise ValueError(f"--image-size {self.image_size} is too small for {len(self.channels)} blocks")

    def arguments(self) -> list[str]:
        """The `fedward pretrain docs` options that reproduce this run (besides --out and --workers)."""
        return [
            *("--seed", str(self.seed), "--sites", str(self.sites), "--pages", str(self.pages)),
            *("--channels", _csv(self.channels), "--hidden", _csv(self.hidden)),
            *("--image-size", str(self.image_size), "--epochs", str(self.epochs)),
        ]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return data | {"channels": list(self.channels), "hidden": list(self.hidden)}


def _csv(values: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)
