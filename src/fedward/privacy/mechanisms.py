"""Mechanisms for site-level DP-FedAvg (McMahan et al. 2018): clip an update to a global L2 norm, add
Gaussian noise, and the random generators privacy noise must come from.

Privacy noise is drawn only from generators seeded with fresh entropy from the operating system
(`secrets`), never from the global RNG and never from a configured seed: a seed in a config file or a
log would let anyone subtract the noise again. The generators themselves are fast statistical PRNGs
(numpy's PCG64DXSM, torch's Mersenne Twister), not CSPRNGs; their outputs are never published, only sums
of noise and data. Sampling is not hardened against floating-point attacks on the Gaussian sampler
(Mironov 2012); see opacus's `secure_mode` for record-level DP-SGD.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping

import numpy as np
import torch

from fedward.core.arrays import Arrays, FloatArray, check_finite

__all__ = [
    "add_gaussian_noise",
    "clip_l2",
    "global_l2_norm",
    "secure_numpy_generator",
    "secure_torch_generator",
]


def secure_numpy_generator(entropy: int | None = None) -> np.random.Generator:
    """A numpy Generator (PCG64DXSM) seeded with 256 bits from the operating system's CSPRNG.

    `entropy` is for a caller that drew those bits itself from `secrets` and must be able to draw the
    same noise again: a deployed coordinator journals the seed so that a restart replays the same round
    (it is the coordinator's secret, kept like the noise it would otherwise hold in memory)."""
    seed = secrets.randbits(256) if entropy is None else entropy
    return np.random.Generator(np.random.PCG64DXSM(np.random.SeedSequence(seed)))


def secure_torch_generator() -> torch.Generator:
    """A CPU torch.Generator seeded with 64 bits from the OS CSPRNG (64 bits is the most torch takes)."""
    generator = torch.Generator()
    generator.manual_seed(secrets.randbits(64))
    return generator


def global_l2_norm(arrays: Mapping[str, FloatArray]) -> float:
    """L2 norm of all tensors taken together as one vector, accumulated in float64."""
    return math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays.values()))


def clip_l2(arrays: Mapping[str, FloatArray], clip_norm: float) -> tuple[Arrays, float]:
    """Scale the whole update so its global L2 norm is at most `clip_norm` (one factor for every tensor,
    keeping its direction); returns float32 copies and the norm before clipping."""
    if not (math.isfinite(clip_norm) and clip_norm > 0):
        raise ValueError(f"clip_norm must be a finite number > 0, got {clip_norm}")
    check_finite(arrays)
    norm = global_l2_norm(arrays)
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    while True:
        clipped = {name: (a.astype(np.float64) * scale).astype(np.float32) for name, a in arrays.items()}
        if global_l2_norm(clipped) <= clip_norm:
            break
        scale *= 1 - 2**-20  # rounding to float32 overshot the bound by an ulp or so: shave and retry
    return clipped, norm


def add_gaussian_noise(
    arrays: Mapping[str, FloatArray], std: float, generator: np.random.Generator
) -> Arrays:
    """arrays + N(0, std^2) independently per coordinate, drawn from `generator`; float32 results."""
    if not (math.isfinite(std) and std >= 0):
        raise ValueError(f"noise std must be a finite number >= 0, got {std}")
    return {
        name: (a.astype(np.float64) + generator.normal(0.0, std, size=a.shape)).astype(np.float32)
        for name, a in arrays.items()
    }
