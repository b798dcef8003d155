"""The differential-privacy settings a fit task carries, typed at both ends: the coordinator writes them
(`fedward.coordinator.privacy.PrivacyState.task_config`) and a site reads them back to train, protect its
update, check its policy and fill its manifest.

On the wire (keys and JSON types fixed; sites hash and sign the task config):

- `dp` ("none" | "record" | "site", a `DpMode`), `dp_clip_norm`, `dp_delta`, `dp_target_epsilon` and
  `dp_epsilon_budget` (null when not set), `secure_aggregation`: in every fit task, part of the task
  definition (`task_sha256`);
- `dp_unit` ("patient", a `PrivacyUnit`), only under record-level DP with the patient as the privacy
  unit: DP-SGD then samples and clips whole patients; in the task hash. A task without it means
  "record" (one training record is the unit), so record-level tasks keep the bytes they always had;
- `dp_noise_multiplier`, only under record-level DP: the site's own DP-SGD noise multiplier (Abadi et
  al. 2016), calibrated by the coordinator from the site's sample rate;
- `dp_noise_std`, only under site-level DP with secure aggregation: the standard deviation of the
  site's share of the round's Gaussian noise (DP-FedAvg, McMahan et al. 2018);
- `dp_shared_noise` (true), only under record-level DP with secure aggregation and `[privacy]
  shared_noise`: `dp_noise_multiplier` is then the site's share of the round's noise, and the site takes
  one full-batch step per round. Absent otherwise, so the hash of every other task is unchanged.
The two per-site values are left out of the task hash by `fedward.core.provenance`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from fedward.config import DpMode, PrivacyConfig, PrivacyUnit
from fedward.core.messages import JSONValue
from fedward.settings.fields import read_bool, read_float, read_optional_float, read_str

__all__ = ["NOISE_MULTIPLIER", "NOISE_STD", "SHARED_NOISE", "UNIT", "DpSettings"]

NOISE_MULTIPLIER = "dp_noise_multiplier"
NOISE_STD = "dp_noise_std"
SHARED_NOISE = "dp_shared_noise"
UNIT = "dp_unit"


@dataclass(frozen=True)
class DpSettings:
    """What differential privacy a fit task asks for, with this site's noise.

    The per-site values follow the mode (checked on construction, so a task cannot ask a site to run
    record-level DP without saying how much noise): `noise_multiplier` is set exactly under
    `DpMode.RECORD`; `noise_std` only under `DpMode.SITE` with secure aggregation (without it the
    coordinator adds all the noise)."""

    mode: DpMode
    clip_norm: float
    delta: float
    target_epsilon: float | None
    epsilon_budget: float | None
    secure_aggregation: bool
    noise_multiplier: float | None = None
    noise_std: float | None = None
    shared_noise: bool = False
    unit: PrivacyUnit = PrivacyUnit.RECORD  # whom record-level DP protects (DP-SGD's sampling/clipping unit)

    def __post_init__(self) -> None:
        if self.unit == PrivacyUnit.PATIENT and self.mode != DpMode.RECORD:
            raise ValueError("task config 'dp_unit' = 'patient' needs dp = 'record'")
        if (self.mode == DpMode.RECORD) != (self.noise_multiplier is not None):
            raise ValueError(f"task config {NOISE_MULTIPLIER!r} is set exactly with dp = 'record'")
        if self.noise_std is not None and not (self.mode == DpMode.SITE and self.secure_aggregation):
            raise ValueError(f"task config {NOISE_STD!r} needs dp = 'site' with secure aggregation")
        if self.shared_noise and not (self.mode == DpMode.RECORD and self.secure_aggregation):
            raise ValueError(f"task config {SHARED_NOISE!r} needs dp = 'record' with secure aggregation")

    @classmethod
    def from_privacy(
        cls, privacy: PrivacyConfig, *, noise_multiplier: float | None = None, noise_std: float | None = None
    ) -> Self:
        """The settings of `[privacy]`, with the noise the coordinator calibrated for one site."""
        p = privacy
        return cls(
            mode=DpMode(p.dp),
            clip_norm=p.clip_norm,
            delta=p.delta,
            target_epsilon=p.target_epsilon,
            epsilon_budget=p.epsilon_budget,
            secure_aggregation=p.secure_aggregation,
            noise_multiplier=noise_multiplier,
            noise_std=noise_std,
            shared_noise=p.shared_noise,
            unit=p.unit,
        )

    def to_config(self) -> dict[str, JSONValue]:
        """The task config keys, in the order fit tasks have always carried them; `dp` as a plain string."""
        out: dict[str, JSONValue] = {
            "dp": self.mode.value,
            "dp_clip_norm": self.clip_norm,
            "dp_delta": self.delta,
            "dp_target_epsilon": self.target_epsilon,
            "dp_epsilon_budget": self.epsilon_budget,
            "secure_aggregation": self.secure_aggregation,
        }
        if self.unit != PrivacyUnit.RECORD:  # left out for "record", so record-level tasks keep their bytes
            out[UNIT] = self.unit.value
        if self.noise_multiplier is not None:
            out[NOISE_MULTIPLIER] = self.noise_multiplier
        if self.noise_std is not None:
            out[NOISE_STD] = self.noise_std
        if self.shared_noise:
            out[SHARED_NOISE] = True
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> Self:
        """Read a fit task's DP settings; a missing or mistyped key, or a per-site value that does not
        fit the mode, raises ValueError naming the key."""
        mode = read_str(config, "dp")
        if mode not in {m.value for m in DpMode}:
            raise ValueError(f"task config 'dp' must be one of none, record, site; got {mode!r}")
        unit = read_str(config, UNIT) if UNIT in config else PrivacyUnit.RECORD.value
        if unit not in {u.value for u in PrivacyUnit}:
            raise ValueError(f"task config {UNIT!r} must be one of record, patient; got {unit!r}")
        if mode != DpMode.RECORD and UNIT in config:
            raise ValueError(f"task config {UNIT!r} is set only with dp = 'record'")
        return cls(
            mode=DpMode(mode),
            unit=PrivacyUnit(unit),
            clip_norm=read_float(config, "dp_clip_norm"),
            delta=read_float(config, "dp_delta"),
            target_epsilon=read_optional_float(config, "dp_target_epsilon"),
            epsilon_budget=read_optional_float(config, "dp_epsilon_budget"),
            secure_aggregation=read_bool(config, "secure_aggregation"),
            noise_multiplier=read_float(config, NOISE_MULTIPLIER) if NOISE_MULTIPLIER in config else None,
            noise_std=read_float(config, NOISE_STD) if NOISE_STD in config else None,
            shared_noise=read_bool(config, SHARED_NOISE) if SHARED_NOISE in config else False,
        )
