"""What a site does to its training and its update before anything leaves it, as the fit task asks.

- `dp = "record"`: DP-SGD through Opacus (`train_private`), with a noise generator seeded from the
  operating system's CSPRNG; the reply reports the spend (noise multiplier, sample rate, steps) so the
  coordinator's accountant can record it. With `dp_unit = "patient"` the site passes each training
  record's patient key, and DP-SGD samples and clips whole patients. With `dp_shared_noise` the noise
  multiplier is the site's share of the round's noise and the site takes one step on all its records
  (batch size and epochs from the task are overridden), so its update is linear in its noisy gradient
  sum; the coordinator accounts for the sum.
- `dp = "site"` (DP-FedAvg, McMahan et al. 2018): the update (trained - start) is clipped to
  `dp_clip_norm` in L2; under secure aggregation the site also adds its share of the Gaussian noise
  (`dp_noise_std`), since the coordinator only ever sees the sum.
- `norm_bound` (any strategy): the update is clipped to that L2 norm first (fedward.aggregation.
  norm_bound; Sun et al. 2019). Under secure aggregation this is the only place it can be enforced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from fedward.config import DpMode, PrivacyUnit
from fedward.core.arrays import Arrays, subtract
from fedward.core.messages import JSONValue
from fedward.privacy import add_gaussian_noise, clip_l2, secure_numpy_generator, secure_torch_generator
from fedward.settings import DpSettings, TrainSettings
from fedward.site.dp_trainer import train_private
from fedward.site.trainer import train

__all__ = ["protect_update", "train_for_task"]


def train_for_task(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    dp: DpSettings,
    patients: Sequence[str] = (),
) -> tuple[float, dict[str, JSONValue]]:
    """Train in place (privately when `dp = "record"`, with the patient as the unit when the task says
    so: `patients` then names each record's patient); returns the loss and what to report with it."""
    if dp.mode != DpMode.RECORD:
        return train(model, x, y, settings), {}
    assert dp.noise_multiplier is not None  # DpSettings sets it exactly under record-level DP
    if dp.shared_noise:
        settings = replace(settings, batch_size=max(settings.batch_size, len(x)), epochs=1)
    groups = None
    if dp.unit == PrivacyUnit.PATIENT:
        if not patients:
            raise ValueError("the task's privacy unit is the patient, but this site's data names no patients")
        groups = patients
    loss, event = train_private(
        model,
        x,
        y,
        settings,
        noise_multiplier=dp.noise_multiplier,
        clip_norm=dp.clip_norm,
        generator=secure_torch_generator(),
        groups=groups,
    )
    info: dict[str, JSONValue] = {**event.to_reply_info()}
    return loss, info


def protect_update(start: Arrays, trained: Arrays, dp: DpSettings, norm_bound: float | None = None) -> Arrays:
    """The update to send: trained - start, clipped to `norm_bound`, then clipped and partly noised for
    site-level DP."""
    update = subtract(trained, start)
    if norm_bound is not None:
        update, _ = clip_l2(update, norm_bound)
    if dp.mode != DpMode.SITE:
        return update
    update, _ = clip_l2(update, dp.clip_norm)
    if dp.noise_std is not None:
        update = add_gaussian_noise(update, dp.noise_std, secure_numpy_generator())
    return update
