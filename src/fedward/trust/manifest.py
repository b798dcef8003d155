"""The update manifest: what a site states, and signs, about one model update it sends.

The manifest binds the update's payload (by SHA-256) to the federation, run, round and site it belongs to,
to the global model it was trained from (`base_model_sha256`: this round's model, not to be confused with
`init_model_sha256`, the `[model] init` file the run started from, present only when there is one, so
manifests of runs without it keep their keys and bytes; likewise `model_code_sha256`, the user's `[model]
code` file the site ran, present only in runs that train the user's own model), to a per-site sequence
number (replay protection), and to the code, data, privacy settings and policy checks that produced it. It
travels as canonical JSON (`fedward.core.canonical`), so exactly one byte string carries a given meaning,
and it is parsed strictly: unknown or missing keys, wrong types, duplicate keys, non-canonical bytes or
more than `MAX_MANIFEST_BYTES` raise `PackageError`. Constructing one in Python runs the same checks, so
whatever `to_bytes` writes, `from_bytes` reads back to an equal manifest and the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.trust.errors import PackageError
from fedward.trust.formats import (
    check_bool,
    check_hex,
    check_int,
    check_keys,
    check_name,
    check_number,
    check_object,
    check_str,
    check_timestamp,
)

__all__ = [
    "MAX_MANIFEST_BYTES",
    "PayloadKind",
    "PolicyRecord",
    "PrivacyRecord",
    "TrainingCode",
    "UpdateManifest",
]

MAX_MANIFEST_BYTES = 64 * 1024
PayloadKind = Literal["safetensors", "secagg-masked"]
_PAYLOAD_KINDS: tuple[str, ...] = get_args(PayloadKind)
_SHA256_BYTES = 32
_MAX_LABEL = 128


def _rejecting(cls_name: str, exc: Exception) -> PackageError:
    return PackageError(f"invalid {cls_name}: {exc}")


def _numbers(value: Any, where: str) -> dict[str, float]:
    items = check_object(value, where).items()
    return {
        check_str(k, f"{where} key", max_len=_MAX_LABEL): check_number(v, f"{where}.{k}") for k, v in items
    }


def _optional_number(value: Any, where: str) -> float | None:
    return None if value is None else check_number(value, where)


@dataclass(frozen=True)
class TrainingCode:
    """Which code trained the update: the fedward version and the hash of the task definition."""

    fedward_version: str
    task_sha256: str

    def __post_init__(self) -> None:
        try:
            check_str(self.fedward_version, "fedward_version", max_len=_MAX_LABEL)
            check_hex(self.task_sha256, "task_sha256", nbytes=_SHA256_BYTES)
        except ValueError as exc:
            raise _rejecting("training_code", exc) from None

    def to_dict(self) -> dict[str, Any]:
        return {"fedward_version": self.fedward_version, "task_sha256": self.task_sha256}


@dataclass(frozen=True)
class PrivacyRecord:
    """The privacy mechanisms applied to the update (the DP settings a site actually trained with)."""

    dp: str = "none"
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    steps: int | None = None
    epsilon: float | None = None
    secure_aggregation: bool = False

    def __post_init__(self) -> None:
        try:
            check_str(self.dp, "dp", max_len=_MAX_LABEL)
            for name in ("noise_multiplier", "sample_rate", "epsilon"):
                number = _optional_number(getattr(self, name), name)
                if number is not None and number < 0:
                    raise ValueError(f"{name}: must not be negative")
                object.__setattr__(self, name, number)
            if self.steps is not None:
                check_int(self.steps, "steps")
            check_bool(self.secure_aggregation, "secure_aggregation")
        except ValueError as exc:
            raise _rejecting("privacy", exc) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dp": self.dp,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "epsilon": self.epsilon,
            "secure_aggregation": self.secure_aggregation,
        }


@dataclass(frozen=True)
class PolicyRecord:
    """The site policy the update was checked against (by hash), each check's outcome, and the verdict."""

    sha256: str
    checks: Mapping[str, bool]
    passed: bool

    def __post_init__(self) -> None:
        try:
            check_hex(self.sha256, "sha256", nbytes=_SHA256_BYTES)
            checks = check_object(self.checks, "checks")
            frozen = {
                check_str(k, "check name", max_len=_MAX_LABEL): check_bool(v, k) for k, v in checks.items()
            }
            check_bool(self.passed, "passed")
        except ValueError as exc:
            raise _rejecting("policy", exc) from None
        object.__setattr__(self, "checks", MappingProxyType(dict(sorted(frozen.items()))))

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "checks": dict(self.checks), "passed": self.passed}


_KEYS = {
    "federation", "run_id", "round", "site", "sequence", "base_model_sha256", "payload_sha256",
    "payload_kind", "num_samples", "training_code", "preprocessing_sha256", "dataset_fingerprint",
    "metrics", "privacy", "policy", "timestamp",
}  # fmt: skip
_OPTIONAL_KEYS = {"init_model_sha256", "model_code_sha256", "norm_bound"}  # present only when set


@dataclass(frozen=True)
class UpdateManifest:
    """The signed statement that accompanies one site's update; see the module docstring."""

    federation: str
    run_id: str
    round: int
    site: str
    sequence: int  # per site, strictly increasing over the run
    base_model_sha256: str  # hex SHA-256 of the global model bytes the site trained from
    payload_sha256: str  # hex SHA-256 of the payload bytes
    payload_kind: PayloadKind
    num_samples: int
    training_code: TrainingCode
    preprocessing_sha256: str | None
    dataset_fingerprint: str
    metrics: Mapping[str, float]  # local validation metrics
    privacy: PrivacyRecord
    policy: PolicyRecord
    timestamp: str  # ISO 8601 UTC, passed in by the caller
    init_model_sha256: str | None = None  # hex SHA-256 of the run's `[model] init` file, if it has one
    model_code_sha256: str | None = None  # hex SHA-256 of the `[model] code` the site ran, if any
    norm_bound: float | None = None  # the L2 bound the site clipped its update to (`[strategy] norm_bound`)

    def __post_init__(self) -> None:
        try:
            self._check_scalars()
            metrics = _numbers(self.metrics, "metrics")
            for name, kind in (("training_code", TrainingCode), ("privacy", PrivacyRecord),
                               ("policy", PolicyRecord)):  # fmt: skip
                if not isinstance(getattr(self, name), kind):
                    raise ValueError(f"{name}: expected a {kind.__name__}")
        except ValueError as exc:
            raise _rejecting("manifest", exc) from None
        object.__setattr__(self, "metrics", MappingProxyType(dict(sorted(metrics.items()))))

    def _check_scalars(self) -> None:
        check_str(self.federation, "federation", max_len=256)
        check_str(self.run_id, "run_id", max_len=256)
        check_int(self.round, "round")
        check_name(self.site, "site")
        check_int(self.sequence, "sequence")
        check_hex(self.base_model_sha256, "base_model_sha256", nbytes=_SHA256_BYTES)
        check_hex(self.payload_sha256, "payload_sha256", nbytes=_SHA256_BYTES)
        if self.payload_kind not in _PAYLOAD_KINDS:
            raise ValueError(f"payload_kind: {self.payload_kind!r} is not one of {list(_PAYLOAD_KINDS)}")
        check_int(self.num_samples, "num_samples")
        if self.preprocessing_sha256 is not None:
            check_hex(self.preprocessing_sha256, "preprocessing_sha256", nbytes=_SHA256_BYTES)
        check_str(self.dataset_fingerprint, "dataset_fingerprint", max_len=256)
        check_timestamp(self.timestamp, "timestamp")
        if self.init_model_sha256 is not None:
            check_hex(self.init_model_sha256, "init_model_sha256", nbytes=_SHA256_BYTES)
        if self.model_code_sha256 is not None:
            check_hex(self.model_code_sha256, "model_code_sha256", nbytes=_SHA256_BYTES)
        if self.norm_bound is not None and not check_number(self.norm_bound, "norm_bound") > 0:
            raise ValueError("norm_bound: must be > 0")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "federation": self.federation,
            "run_id": self.run_id,
            "round": self.round,
            "site": self.site,
            "sequence": self.sequence,
            "base_model_sha256": self.base_model_sha256,
            "payload_sha256": self.payload_sha256,
            "payload_kind": self.payload_kind,
            "num_samples": self.num_samples,
            "training_code": self.training_code.to_dict(),
            "preprocessing_sha256": self.preprocessing_sha256,
            "dataset_fingerprint": self.dataset_fingerprint,
            "metrics": dict(self.metrics),
            "privacy": self.privacy.to_dict(),
            "policy": self.policy.to_dict(),
            "timestamp": self.timestamp,
        }
        if self.init_model_sha256 is not None:
            out["init_model_sha256"] = self.init_model_sha256
        if self.model_code_sha256 is not None:
            out["model_code_sha256"] = self.model_code_sha256
        if self.norm_bound is not None:
            out["norm_bound"] = self.norm_bound
        return out

    def to_bytes(self) -> bytes:
        """The canonical JSON encoding: the bytes that are signed and hashed."""
        return canonical_bytes(self.to_dict())

    def sha256(self) -> str:
        """Hex SHA-256 of the canonical bytes: the manifest's identity in the ledger and replay checks."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = MAX_MANIFEST_BYTES) -> UpdateManifest:
        """Parse canonical manifest bytes strictly; raises `PackageError` on anything else."""
        try:
            return cls.from_dict(parse_canonical(data, max_bytes=max_bytes))
        except (CanonicalError, ValueError) as exc:  # PackageError is a ValueError
            raise PackageError(f"malformed manifest: {exc}") from None

    @classmethod
    def from_dict(cls, value: Any) -> UpdateManifest:
        mapping = check_object(value, "manifest")
        optional = set(mapping) & _OPTIONAL_KEYS
        doc = dict(check_keys(mapping, _KEYS | optional, "manifest"))
        for key in sorted(optional):
            if doc[key] is None:
                raise ValueError(f"manifest: {key} is left out when there is none, never null")
        code = check_keys(doc.pop("training_code"), {"fedward_version", "task_sha256"}, "training_code")
        privacy = check_keys(doc.pop("privacy"), set(PrivacyRecord.__dataclass_fields__), "privacy")
        policy = check_keys(doc.pop("policy"), {"sha256", "checks", "passed"}, "policy")
        return cls(
            training_code=TrainingCode(**code),
            privacy=PrivacyRecord(**privacy),
            policy=PolicyRecord(**policy),
            **doc,
        )
