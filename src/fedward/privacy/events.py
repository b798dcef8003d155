"""Privacy events: the immutable record of one privacy spend.

A `PrivacyEvent` stands for `steps` compositions of the Poisson-subsampled Gaussian mechanism under the
add/remove-one neighbouring relation: at each step every record joins the batch independently with
probability `sample_rate`, the sum of the batch's contributions (each clipped to L2 norm C) is released
with N(0, (noise_multiplier * C)^2) noise added to every coordinate. This is the "sampled Gaussian
mechanism" of DP-SGD (Abadi et al. 2016; Mironov, Talwar & Zhang 2019) and, with the site as the unit
of privacy, of DP-FedAvg (McMahan et al. 2018). With `sample_rate == 1` it is the plain Gaussian
mechanism composed `steps` times.

Events are the only thing an accountant keeps (house rule: epsilon is always recomputed from the recorded
events), so they carry their own strict JSON form for checkpoints and the ledger, and a second one for the
reply in which a site reports its record-level DP spend (`dp_noise_multiplier`, `dp_sample_rate`,
`dp_steps`: written by the site, read by the coordinator's accountant and the site's own manifest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MECHANISM", "REPLY_KEYS", "EventDict", "PrivacyEvent", "dpsgd_schedule"]

MECHANISM = "poisson_subsampled_gaussian"

EventDict = dict[str, str | float | int]

_KEYS = frozenset({"mechanism", "noise_multiplier", "sample_rate", "steps"})
REPLY_KEYS = ("dp_noise_multiplier", "dp_sample_rate", "dp_steps")  # in a fit reply's info


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"privacy event: {name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"privacy event: {name} must be finite, got {value!r}")
    return out


@dataclass(frozen=True)
class PrivacyEvent:
    """`steps` compositions of the Poisson-subsampled Gaussian mechanism with noise std
    `noise_multiplier` x sensitivity and per-record inclusion probability `sample_rate`."""

    noise_multiplier: float
    sample_rate: float
    steps: int

    def __post_init__(self) -> None:
        sigma = _real(self.noise_multiplier, "noise_multiplier")
        q = _real(self.sample_rate, "sample_rate")
        if sigma <= 0:
            raise ValueError(f"privacy event: noise_multiplier must be > 0, got {sigma}")
        if not 0 < q <= 1:
            raise ValueError(f"privacy event: sample_rate must be in (0, 1], got {q}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"privacy event: steps must be an integer >= 1, got {self.steps!r}")
        object.__setattr__(self, "noise_multiplier", sigma)  # ints become floats: one canonical form
        object.__setattr__(self, "sample_rate", q)

    def to_dict(self) -> EventDict:
        return {
            "mechanism": MECHANISM,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
        }

    @classmethod
    def from_dict(cls, data: object) -> PrivacyEvent:
        """Strict inverse of `to_dict`: exactly its keys, the known mechanism, numbers of the right kind."""
        if not isinstance(data, Mapping) or set(data) != _KEYS:
            got = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"privacy event: expected keys {sorted(_KEYS)}, got {got}")
        if data["mechanism"] != MECHANISM:
            raise ValueError(
                f"privacy event: unknown mechanism {data['mechanism']!r}; expected {MECHANISM!r}"
            )
        steps = data["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise ValueError(f"privacy event: steps must be an integer, got {steps!r}")
        return cls(
            _real(data["noise_multiplier"], "noise_multiplier"),
            _real(data["sample_rate"], "sample_rate"),
            steps,
        )

    def to_reply_info(self) -> dict[str, float | int]:
        """The spend as a site reports it in its fit reply's info (record-level DP)."""
        return dict(zip(REPLY_KEYS, (self.noise_multiplier, self.sample_rate, self.steps), strict=True))

    @classmethod
    def from_reply_info(cls, info: Mapping[str, object]) -> PrivacyEvent:
        """Strict inverse of `to_reply_info` over a reply's info (other keys ignored): ValueError naming
        a missing key, or when the values are not numbers (steps an integer) or not a valid event."""
        missing = [key for key in REPLY_KEYS if key not in info]
        if missing:
            raise ValueError(f"reply lacks the record-level DP spend {missing[0]!r}")
        sigma, q, steps = (info[key] for key in REPLY_KEYS)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (sigma, q))
        if not numbers or isinstance(steps, bool) or not isinstance(steps, int):
            raise ValueError("record-level DP spend must be numbers (dp_steps an integer)")
        assert isinstance(sigma, int | float) and isinstance(q, int | float)
        return cls(float(sigma), float(q), steps)


def dpsgd_schedule(batch_size: int, epochs: int, num_samples: int) -> tuple[float, int]:
    """(sample_rate, steps) of DP-SGD with Poisson sampling at expected batch `batch_size` for `epochs`
    epochs over `num_samples` records: q = batch_size / n (at most 1), round(1/q) steps an epoch. The
    site's trainer and the coordinator's noise calibration both use it, so they agree on the spend."""
    if num_samples < 1:
        raise ValueError("no training samples")
    if batch_size < 1 or epochs < 1:
        raise ValueError(f"batch_size and epochs must be >= 1, got {batch_size}, {epochs}")
    q = min(1.0, batch_size / num_samples)
    return q, epochs * max(1, round(1 / q))
