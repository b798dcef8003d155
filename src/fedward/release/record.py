"""The release record: the signed description of one released global model (`release.json`).

A release folder `DIR/releases/<version>/` holds four files, all required:

- `model.safetensors`: the global model's parameters (safetensors, never pickle);
- `release.json`: this record, as canonical JSON (fedward.core.canonical, RFC 8785 style), so the
  signed bytes have exactly one meaning;
- `release.sig`: the coordinator's Ed25519 signature (RFC 8032) over the exact bytes of release.json,
  as hex;
- `coordinator.pub`: the coordinator's public key (PEM).

A release written by this version also holds what inference needs outside fedward (`fedward predict`,
fedward.release.inference): `inference.json` (class names, task kind, model architecture, the tables'
feature order and standardization, the documents' preprocessing spec and its hash) and `model.onnx` (the
model as ONNX). The record names their SHA-256 (`inference_sha256`, `onnx_sha256`), so the signature
covers them too; a release written before them has neither field and verifies as it was.

The record ties the model (`model_sha256`, the SHA-256 of the model file's bytes) to the run, the round,
its lineage (the previous release, `parent`, and, only when the run started from a `[model] init` file,
that file's SHA-256, `init_model_sha256`, and, only when the sites ran the user's own `[model] code`,
that file's SHA-256, `model_code_sha256`; absent otherwise, so older records verify as they were),
the update packages that went into it, the per-site metrics, the
privacy spent, and a ledger checkpoint (RFC 6962 tree size and root hash). This module only defines and
validates the record; `publish` writes releases and `verify` checks them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.errors import UserError

__all__ = [
    "INFERENCE_FILE",
    "KEY_FILE",
    "MODEL_FILE",
    "ONNX_FILE",
    "RECORD_FILE",
    "RELEASE_FILES",
    "SIGNATURE_FILE",
    "ReleaseError",
    "ReleaseRecord",
    "check_version",
]

MODEL_FILE = "model.safetensors"
RECORD_FILE = "release.json"
SIGNATURE_FILE = "release.sig"
KEY_FILE = "coordinator.pub"
INFERENCE_FILE = "inference.json"
ONNX_FILE = "model.onnx"
RELEASE_FILES = (MODEL_FILE, RECORD_FILE, SIGNATURE_FILE, KEY_FILE)

MAX_RECORD_BYTES = 16 << 20  # a record lists package hashes and metrics; far below this in practice

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_FIELDS = (
    "version",
    "run_id",
    "round",
    "parent",
    "model_sha256",
    "accepted_packages",
    "site_metrics",
    "privacy",
    "ledger_checkpoint",
    "coordinator_key_id",
)
# present only when set; the inference files' hashes name INFERENCE_FILE and ONNX_FILE
_OPTIONAL_FIELDS = ("init_model_sha256", "inference_sha256", "onnx_sha256", "model_code_sha256")
OPTIONAL_FILES = (("inference_sha256", INFERENCE_FILE), ("onnx_sha256", ONNX_FILE))


class ReleaseError(UserError):
    """A release cannot be written or does not verify; the message names the problem and the file."""


@dataclass(frozen=True)
class ReleaseRecord:
    """The signed fields of release.json, validated; `key_pinned` says how `verify_release` trusted it."""

    version: str
    run_id: str
    round: int
    parent: str | None
    model_sha256: str
    accepted_packages: tuple[str, ...]
    site_metrics: Mapping[str, Mapping[str, float]]
    privacy: Mapping[str, Any]
    ledger_checkpoint: Mapping[str, Any] | None
    coordinator_key_id: str
    init_model_sha256: str | None = None  # the `[model] init` file the run started from, if any
    inference_sha256: str | None = None  # inference.json, when the release carries it
    onnx_sha256: str | None = None  # model.onnx, when the release carries it
    model_code_sha256: str | None = None  # the `[model] code` file the sites ran, if any
    key_pinned: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON value of release.json (the signed fields only; each optional hash only when set)."""
        out: dict[str, Any] = {
            "version": self.version,
            "run_id": self.run_id,
            "round": self.round,
            "parent": self.parent,
            "model_sha256": self.model_sha256,
            "accepted_packages": list(self.accepted_packages),
            "site_metrics": {site: dict(m) for site, m in self.site_metrics.items()},
            "privacy": dict(self.privacy),
            "ledger_checkpoint": None if self.ledger_checkpoint is None else dict(self.ledger_checkpoint),
            "coordinator_key_id": self.coordinator_key_id,
        }
        for name in _OPTIONAL_FIELDS:
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def to_bytes(self) -> bytes:
        """The exact bytes of release.json: canonical JSON."""
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> ReleaseRecord:
        """Parse release.json strictly; raises ValueError (CanonicalError included) on anything else."""
        value = parse_canonical(data, max_bytes=MAX_RECORD_BYTES)
        if not isinstance(value, dict):
            raise ValueError("release.json is not a JSON object")
        keys = set(value)
        if not set(_FIELDS) <= keys <= set(_FIELDS + _OPTIONAL_FIELDS):
            extra = sorted(keys - set(_FIELDS + _OPTIONAL_FIELDS))
            missing = sorted(set(_FIELDS) - keys)
            raise ValueError(f"release.json fields differ: unknown {extra}, missing {missing}")
        for name in _OPTIONAL_FIELDS:
            if name in value and value[name] is None:
                raise ValueError(f"'{name}' is left out when there is none, never null")
        accepted = value["accepted_packages"]
        if not isinstance(accepted, list):
            raise ValueError("'accepted_packages' must be a list")
        return cls(**{**value, "accepted_packages": tuple(accepted)})

    def trust_note(self) -> str:
        """One line on what a successful verification proves about this release."""
        if self.key_pinned:
            return f"signed by the pinned coordinator key {self.coordinator_key_id}"
        return (
            f"signed by key {self.coordinator_key_id} from the release's own coordinator.pub: this proves "
            "integrity, not the coordinator's identity (key not pinned; pin it with --key)"
        )


def check_version(name: str, what: str = "version") -> str:
    """A release version is a safe folder name ("r0003", "final"); raise ValueError otherwise."""
    if not isinstance(name, str) or not _VERSION.match(name):
        raise ValueError(
            f"'{what}' {name!r} must be 1-64 letters, digits, '_', '.', '-', starting alphanumeric"
        )
    return name


def _validate(record: ReleaseRecord) -> None:
    check_version(record.version)
    if record.parent is not None:
        check_version(record.parent, "parent")
        if record.parent == record.version:
            raise ValueError(f"'parent' {record.parent!r} is the release itself")
    if not isinstance(record.run_id, str) or not record.run_id:
        raise ValueError("'run_id' must be a non-empty string")
    if isinstance(record.round, bool) or not isinstance(record.round, int) or record.round < 0:
        raise ValueError(f"'round' must be a whole number >= 0, not {record.round!r}")
    _hex(record.model_sha256, _SHA256_HEX, "model_sha256")
    for i, package in enumerate(record.accepted_packages):
        _hex(package, _SHA256_HEX, f"accepted_packages[{i}]")
    _hex(record.coordinator_key_id, _KEY_ID, "coordinator_key_id")
    for name in _OPTIONAL_FIELDS:
        if getattr(record, name) is not None:
            _hex(getattr(record, name), _SHA256_HEX, name)
    if (record.inference_sha256 is None) != (record.onnx_sha256 is None):
        raise ValueError("'inference_sha256' and 'onnx_sha256' come together or not at all")
    _validate_metrics(record.site_metrics)
    if not isinstance(record.privacy, Mapping):
        raise ValueError("'privacy' must be an object")
    _validate_checkpoint(record.ledger_checkpoint)
    try:
        canonical_bytes(record.to_dict())
    except CanonicalError as exc:
        raise ValueError(f"release record cannot be encoded canonically: {exc}") from None


def _hex(value: Any, pattern: re.Pattern[str], name: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"'{name}' must be lowercase hex ({pattern.pattern}), not {value!r}")


def _validate_metrics(site_metrics: Any) -> None:
    if not isinstance(site_metrics, Mapping):
        raise ValueError("'site_metrics' must be an object {site: {metric: number}}")
    for site, metrics in site_metrics.items():
        if not isinstance(site, str) or not isinstance(metrics, Mapping):
            raise ValueError(f"'site_metrics' entry {site!r} must be an object {{metric: number}}")
        for name, value in metrics.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not isinstance(name, str) or not number or not math.isfinite(value):
                raise ValueError(f"'site_metrics.{site}.{name}' must be a finite number, not {value!r}")


def _validate_checkpoint(checkpoint: Any) -> None:
    if checkpoint is None:
        return
    if not isinstance(checkpoint, Mapping) or set(checkpoint) != {"tree_size", "root_hash"}:
        raise ValueError("'ledger_checkpoint' must be null or {tree_size, root_hash}")
    size = checkpoint["tree_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"'ledger_checkpoint.tree_size' must be a whole number >= 0, not {size!r}")
    _hex(checkpoint["root_hash"], _SHA256_HEX, "ledger_checkpoint.root_hash")
