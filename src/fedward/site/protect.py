"""What a site does to its training and its update before anything leaves it, as the fit task asks.

- `dp = "record"`: DP-SGD through Opacus (`train_private`), with a noise generator seeded from the
  operating system's CSPRNG; the reply reports the spend (noise multiplier, sample rate, steps) so the
  coordinator's accountant can record it.
- `dp = "site"` (DP-FedAvg, McMahan et al. 2018): the update (trained - start) is clipped to
  `dp_clip_norm` in L2; under secure aggregation the site also adds its share of the Gaussian noise
  (`dp_noise_std`), since the coordinator only ever sees the sum.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from fedward.core.arrays import Arrays, subtract
from fedward.core.messages import JSONValue
from fedward.privacy import add_gaussian_noise, clip_l2, secure_numpy_generator, secure_torch_generator
from fedward.site.dp_trainer import train_private
from fedward.site.trainer import TrainSettings, train

__all__ = ["protect_update", "train_for_task"]


def _number(config: Mapping[str, JSONValue], key: str) -> float:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"task config {key!r} must be a number, got {value!r}")
    return float(value)


def train_for_task(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    config: Mapping[str, JSONValue],
) -> tuple[float, dict[str, JSONValue]]:
    """Train in place (privately when `dp = "record"`); returns the loss and what to report with it."""
    if config.get("dp", "none") != "record":
        return train(model, x, y, settings), {}
    loss, event = train_private(
        model,
        x,
        y,
        settings,
        noise_multiplier=_number(config, "dp_noise_multiplier"),
        clip_norm=_number(config, "dp_clip_norm"),
        generator=secure_torch_generator(),
    )
    info: dict[str, JSONValue] = {
        "dp_noise_multiplier": event.noise_multiplier,
        "dp_sample_rate": event.sample_rate,
        "dp_steps": event.steps,
    }
    return loss, info


def protect_update(start: Arrays, trained: Arrays, config: Mapping[str, JSONValue]) -> Arrays:
    """The update to send: trained - start, clipped and partly noised for site-level DP."""
    update = subtract(trained, start)
    if config.get("dp") != "site":
        return update
    update, _ = clip_l2(update, _number(config, "dp_clip_norm"))
    if "dp_noise_std" in config:
        update = add_gaussian_noise(update, _number(config, "dp_noise_std"), secure_numpy_generator())
    return update
