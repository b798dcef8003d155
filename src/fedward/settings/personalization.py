"""What a personalization task asks of a site, typed at both ends like the fit task's settings.

On the wire (only in `personalize` tasks, so no fit task's config or hash changes):

- `personalize_epochs`: the most epochs of fine-tuning the global model on the site's own records; the
  site's validation split picks how many of them to keep (0 keeps the global model as it is);
- `personalize_train_part`: "head" (the final layer only) or "all";
- `local_epochs_total`: the most epochs of the site's own model (trained from the run's initial model
  on its records alone), the federation's budget `rounds * local_epochs`; the split picks here too;
- `local_seed`: the seed of the site's own model's batch order (and its initial weights when the run
  has no init file).

The optimizer settings are the fit task's (`TrainSettings`), sent alongside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from fedward.config import TrainPart
from fedward.core.messages import JSONValue
from fedward.settings.fields import read_int, read_str

__all__ = ["PersonalizeSettings"]

_EPOCHS, _PART, _LOCAL_EPOCHS, _LOCAL_SEED = (
    "personalize_epochs",
    "personalize_train_part",
    "local_epochs_total",
    "local_seed",
)


@dataclass(frozen=True)
class PersonalizeSettings:
    epochs: int = 20
    train_part: TrainPart = TrainPart.HEAD
    local_epochs: int = 10
    local_seed: int = 0

    def __post_init__(self) -> None:
        for key, value in ((_EPOCHS, self.epochs), (_LOCAL_EPOCHS, self.local_epochs)):
            if value < 1:
                raise ValueError(f"task config {key!r} must be at least 1, got {value}")

    def to_config(self) -> dict[str, JSONValue]:
        return {
            _EPOCHS: self.epochs,
            _PART: self.train_part.value,
            _LOCAL_EPOCHS: self.local_epochs,
            _LOCAL_SEED: self.local_seed,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> Self:
        part = read_str(config, _PART)
        if part not in {p.value for p in TrainPart}:
            raise ValueError(f"task config {_PART!r} must be one of all, head; got {part!r}")
        return cls(
            epochs=read_int(config, _EPOCHS),
            train_part=TrainPart(part),
            local_epochs=read_int(config, _LOCAL_EPOCHS),
            local_seed=read_int(config, _LOCAL_SEED),
        )
