"""Differential privacy: privacy events, accounting over dp-accounting (RDP, PLD, exact Gaussian DP), noise
calibration and the mechanisms of site-level DP-FedAvg (see docs/privacy.md). The hard budget is
enforced by the coordinator (`fedward.coordinator.privacy.PrivacyState.blocked`)."""

from fedward.privacy.accountant import (
    Accountant,
    AccountantName,
    EpsilonReport,
    compute_epsilon,
    projected_epsilon,
    rdp_epsilon,
)
from fedward.privacy.calibration import calibrate_noise_multiplier
from fedward.privacy.events import PrivacyEvent, dpsgd_schedule
from fedward.privacy.gaussian_dp import gdp_epsilon
from fedward.privacy.mechanisms import (
    add_gaussian_noise,
    clip_l2,
    global_l2_norm,
    secure_numpy_generator,
    secure_torch_generator,
)

__all__ = [
    "Accountant",
    "AccountantName",
    "EpsilonReport",
    "PrivacyEvent",
    "add_gaussian_noise",
    "calibrate_noise_multiplier",
    "clip_l2",
    "compute_epsilon",
    "dpsgd_schedule",
    "gdp_epsilon",
    "global_l2_norm",
    "projected_epsilon",
    "rdp_epsilon",
    "secure_numpy_generator",
    "secure_torch_generator",
]
