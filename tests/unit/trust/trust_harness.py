"""A small federation for the trust tests: fixed keys, a signed roster, and well-formed update packages.

Keys come from fixed seeds so failures reproduce; the "insecure" verifiers switch exactly one check off
and exist only here, for the power checks (the attack must succeed once its defence is removed).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from fedward.core.arrays import arrays_to_bytes
from fedward.crypto import SigningKey
from fedward.trust import (
    PackageRejected,
    PackageVerifier,
    PolicyRecord,
    PrivacyRecord,
    Reason,
    Roster,
    SiteEntry,
    TrainingCode,
    UpdateManifest,
    UpdatePackage,
    sign_package,
)
from fedward.trust.package import MANIFEST_SIGNING_CONTEXT

FEDERATION = "north-consortium"
RUN_ID = "run-2025-03"
NOW = "2025-03-01T12:00:00Z"
ISSUED = "2025-01-01T00:00:00Z"
BASE_MODEL = hashlib.sha256(b"global model, round 1").hexdigest()
TASK_SHA = hashlib.sha256(b"task definition").hexdigest()
POLICY_SHA = hashlib.sha256(b"site policy").hexdigest()

ADMIN = SigningKey.from_seed(bytes([1]) * 32)
COORDINATOR = SigningKey.from_seed(bytes([2]) * 32)
SITES = {name: SigningKey.from_seed(bytes([10 + i]) * 32) for i, name in enumerate(("st-anne", "riverside"))}
INTRUDER = SigningKey.from_seed(bytes([99]) * 32)


def make_roster(**entries: SiteEntry) -> Roster:
    """The roster of `SITES`, with any entry replaced or added by keyword (site name -> entry)."""
    sites = {name: SiteEntry(key.public) for name, key in SITES.items()}
    sites.update(entries)
    return Roster(FEDERATION, 1, ISSUED, COORDINATOR.public, sites)


def make_payload(values: list[float] | None = None) -> bytes:
    weights = np.array(values if values is not None else [0.25, -1.5, 3.0], dtype=np.float32)
    return arrays_to_bytes({"bias": np.zeros(2, dtype=np.float32), "weight": weights})


def make_manifest(payload: bytes, **overrides: Any) -> UpdateManifest:
    """A manifest that passes every check for round 1 from st-anne; `overrides` replace fields."""
    fields: dict[str, Any] = {
        "federation": FEDERATION,
        "run_id": RUN_ID,
        "round": 1,
        "site": "st-anne",
        "sequence": 1,
        "base_model_sha256": BASE_MODEL,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_kind": "safetensors",
        "num_samples": 120,
        "training_code": TrainingCode("0.1.0", TASK_SHA),
        "preprocessing_sha256": None,
        "dataset_fingerprint": "rows=120;cols=8",
        "metrics": {"accuracy": 0.75, "loss": 0.5},
        "privacy": PrivacyRecord("record", 1.1, 0.01, 100, 2.5, False),
        "policy": PolicyRecord(POLICY_SHA, {"min_samples": True, "schema": True}, True),
        "timestamp": NOW,
    }
    fields.update(overrides)
    return UpdateManifest(**fields)


def make_package(
    payload: bytes | None = None, key: SigningKey | None = None, **overrides: Any
) -> UpdatePackage:
    payload = make_payload() if payload is None else payload
    site = overrides.get("site", "st-anne")
    return sign_package(make_manifest(payload, **overrides), payload, key or SITES.get(site, INTRUDER))


def sign_raw(manifest_bytes: bytes, payload: bytes, key: SigningKey | None = None) -> UpdatePackage:
    """Sign arbitrary manifest bytes, as a malicious or buggy site could."""
    signature = (key or SITES["st-anne"]).sign(MANIFEST_SIGNING_CONTEXT + manifest_bytes)
    return UpdatePackage(manifest_bytes, signature, payload)


def manifest_dict(package: UpdatePackage) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(package.manifest_bytes)
    return value


def new_verifier(
    roster: Roster | None = None, cls: type[PackageVerifier] = PackageVerifier
) -> PackageVerifier:
    return cls(roster or make_roster(), FEDERATION, RUN_ID)


def check(
    verifier: PackageVerifier,
    package: UpdatePackage,
    *,
    site: str = "st-anne",
    round: int = 1,
    base: str = BASE_MODEL,
    now: str = NOW,
    num_samples: int | None = None,
    max_num_samples: int | None = None,
) -> UpdateManifest | Reason:
    """The manifest if `verifier` accepts the package, else the rejection's reason code."""
    try:
        return verifier.verify(
            package,
            site=site,
            round=round,
            base_model_sha256=base,
            now=now,
            num_samples=num_samples,
            max_num_samples=max_num_samples,
        )
    except PackageRejected as exc:
        return exc.reason


class NoSignatureCheck(PackageVerifier):
    """INSECURE, tests only: accepts any signature."""

    def _check_signature(self, package: UpdatePackage, public_key: bytes) -> None:
        return None


class NoReplayCheck(PackageVerifier):
    """INSECURE, tests only: forgets nothing, so remembers nothing."""

    def _check_replay(self, manifest: UpdateManifest, digest: str) -> None:
        return None


class NoSignerCheck(PackageVerifier):
    """INSECURE, tests only: takes the signer's key from the roster whatever its standing."""

    def _check_signer(self, expected: Any) -> bytes:
        return self.roster.public_key(expected.site)


class NoPayloadCheck(PackageVerifier):
    """INSECURE, tests only: trusts the payload as sent."""

    def _check_payload(self, manifest: UpdateManifest, payload: bytes) -> None:
        return None


class NoBindingCheck(PackageVerifier):
    """INSECURE, tests only: does not compare the manifest with the round it is meant for."""

    def _check_binding(self, manifest: UpdateManifest, expected: Any) -> None:
        return None


class NoClaimedSamplesCheck(PackageVerifier):
    """INSECURE, tests only: does not compare the reply's sample count with the signed one."""

    def _check_claimed_samples(self, manifest: UpdateManifest, expected: Any) -> None:
        return None


class NoSetupSamplesCheck(PackageVerifier):
    """INSECURE, tests only: does not bound the signed sample count by the site's set-up count."""

    def _check_setup_samples(self, manifest: UpdateManifest, expected: Any) -> None:
        return None
