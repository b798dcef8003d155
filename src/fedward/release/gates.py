"""Release gates: the checks the final global model must pass before it is published as a release.

`[release]` in the federation file (fedward.config.ReleaseConfig) sets the thresholds. After the last
round the coordinator evaluates each gate that is set on the final evaluation (every admitted site's
metrics on its own test data) and the privacy spent:

- `min_site_accuracy`, `min_site_macro_f1`: the worst site's figure must be at least the threshold;
- `max_site_gap`: best minus worst site accuracy must be at most the threshold;
- `max_epsilon`: the largest epsilon any site (record-level DP) or the federation (site-level DP) spent;
- `min_sites`: how many sites evaluated the final model;
- `max_ece`: the largest expected calibration error (15 equal-width bins, fedward.core.calibration) of
  the final model on any site's test data;
- `max_regression`: the largest per-site accuracy drop against a previous release (`baseline`), over the
  sites both evaluated; the baseline's signature is verified with a pinned key before its figures count
  (`load_baseline`).

A gate with nothing to measure (no site evaluated; no site in common with the baseline) fails: a gate
passes only on evidence. Each result is `{name, threshold, value, passed, site}` (`site`: the site the
value comes from, when one does), and the same dicts go into the ledger and summary.json.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedward.config import RELEASE_GATES, ReleaseConfig
from fedward.crypto import SignatureError, key_id, load_public_key
from fedward.errors import ConfigError
from fedward.release.record import ReleaseError
from fedward.release.verify import verify_release

__all__ = [
    "Baseline",
    "GateResult",
    "ReleaseGates",
    "evaluate_gates",
    "failed_gates",
    "gates_passed",
    "load_baseline",
    "release_gates",
]

Metrics = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Baseline:
    """A previous release's per-site metrics, trusted because its signature verified with `key_id`."""

    path: str
    version: str
    model_sha256: str
    site_metrics: Metrics
    key_id: str


@dataclass(frozen=True)
class ReleaseGates:
    """The thresholds that are set (gate name -> threshold, in `RELEASE_GATES` order) and the baseline."""

    thresholds: Mapping[str, float]
    baseline: Baseline | None = None

    @classmethod
    def from_config(cls, config: ReleaseConfig, baseline: Baseline | None = None) -> ReleaseGates | None:
        """The gates `config` sets, or None when it sets none."""
        thresholds = {k: float(v) for k in RELEASE_GATES if (v := getattr(config, k)) is not None}
        if not thresholds:
            return None
        if ("max_regression" in thresholds) != (baseline is not None):
            raise ValueError("max_regression and its baseline come together")
        return cls(thresholds, baseline)


@dataclass(frozen=True)
class GateResult:
    name: str
    threshold: float
    value: float | None  # None: nothing to measure (the gate fails)
    passed: bool
    site: str | None = None  # the site (or "federation") the value comes from, when one does

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
            "site": self.site,
        }

    def describe(self) -> str:
        """One line of evidence: "min_site_accuracy: 0.812 (site-b) < 0.999"."""
        where = f" ({self.site})" if self.site else ""
        value = "nothing to measure" if self.value is None else f"{self.value:.4g}{where}"
        op = (
            ("<=" if self.passed else ">") if self.name.startswith("max_") else (">=" if self.passed else "<")
        )
        return f"{self.name}: {value} {op} {self.threshold:.4g}"


def evaluate_gates(
    gates: ReleaseGates, site_metrics: Metrics, epsilons: Mapping[str, float]
) -> list[GateResult]:
    """Every set gate's result on the final evaluation (`site_metrics`) and the privacy spent."""
    out = []
    for name, threshold in gates.thresholds.items():
        value, site = _measure(name, gates, site_metrics, epsilons)
        if value is None:
            passed = False
        elif name.startswith("max_"):
            passed = value <= threshold
        else:
            passed = value >= threshold
        out.append(GateResult(name, threshold, value, passed, site))
    return out


def gates_passed(results: Sequence[GateResult]) -> bool:
    return all(r.passed for r in results)


def failed_gates(results: Sequence[GateResult]) -> list[GateResult]:
    return [r for r in results if not r.passed]


def _measure(
    name: str, gates: ReleaseGates, site_metrics: Metrics, epsilons: Mapping[str, float]
) -> tuple[float | None, str | None]:
    if name == "min_sites":
        return float(len(site_metrics)), None
    if name == "max_epsilon":
        return _largest({k: v for k, v in epsilons.items()})
    if name == "max_ece":
        return _largest({s: float(m["ece"]) for s, m in site_metrics.items() if "ece" in m})
    if name == "max_regression":
        assert gates.baseline is not None  # ReleaseGates.from_config pairs them
        old = gates.baseline.site_metrics
        drops = {
            s: float(old[s]["accuracy"]) - float(m["accuracy"])
            for s, m in site_metrics.items()
            if s in old and "accuracy" in old[s] and "accuracy" in m
        }
        return _largest(drops)
    metric = "macro_f1" if name == "min_site_macro_f1" else "accuracy"
    values = {s: float(m[metric]) for s, m in site_metrics.items() if metric in m}
    if not values:
        return None, None
    worst = min(values, key=lambda s: (values[s], s))
    if name == "max_site_gap":
        return _finite(max(values.values()) - values[worst]), None
    return _finite(values[worst]), worst


def _largest(values: Mapping[str, float]) -> tuple[float | None, str | None]:
    if not values:
        return None, None
    top = max(values, key=lambda k: (values[k], k))
    value = _finite(values[top])
    return value, top if value is not None else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def release_gates(config: ReleaseConfig, coordinator_public: bytes) -> ReleaseGates | None:
    """The gates `config` (`[release]`) sets, with its baseline loaded and verified; None when it sets none.

    The baseline is verified with `baseline_key` (a coordinator.pub obtained out of band) when set, and
    otherwise with this federation's own coordinator key (`coordinator_public`): a release signed by any
    other key, or changed since it was signed, is a `ConfigError` before the run starts."""
    if not config.gated:
        return None
    baseline: Baseline | None = None
    if config.baseline is not None:
        if config.baseline_key is None:
            key, source = coordinator_public, "this federation's coordinator key"
        else:
            try:
                key = load_public_key(config.baseline_key)
            except (OSError, SignatureError) as exc:
                raise ConfigError(f"[release] 'baseline_key': {exc}", where=config.baseline_key) from None
            source = f"[release] 'baseline_key' ({config.baseline_key.name})"
        baseline = load_baseline(config.baseline, key, key_source=source)
    return ReleaseGates.from_config(config, baseline)


def load_baseline(path: Path, public_key: bytes, *, key_source: str) -> Baseline:
    """The release folder `path`, verified with `public_key` (pinned), as a `Baseline`.

    A baseline that does not verify (missing, changed, or signed by another key) is a `ConfigError` naming
    `[release] 'baseline'`: its figures are never used unverified. `key_source` says where the key came
    from, for the message."""
    try:
        record = verify_release(path, public_key)
    except ReleaseError as exc:
        raise ConfigError(
            f"[release] 'baseline': the previous release does not verify with {key_source} "
            f"({key_id(public_key)}): {exc}",
            where=exc.where or path,
            hint="set [release] 'baseline_key' to the coordinator.pub that signed it, or fix 'baseline'",
        ) from None
    return Baseline(
        str(path), record.version, record.model_sha256, record.site_metrics, record.coordinator_key_id
    )
