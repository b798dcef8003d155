"""The update manifest: exact fields, strict canonical parsing, and a byte-exact round trip."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from trust_harness import make_manifest, make_payload

from fedward.core.canonical import canonical_bytes
from fedward.trust import MAX_MANIFEST_BYTES, PackageError, PolicyRecord, PrivacyRecord, UpdateManifest

FIELDS = [
    "federation",
    "run_id",
    "round",
    "site",
    "sequence",
    "base_model_sha256",
    "payload_sha256",
    "payload_kind",
    "num_samples",
    "training_code",
    "preprocessing_sha256",
    "dataset_fingerprint",
    "metrics",
    "privacy",
    "policy",
    "timestamp",
]


def _doc() -> dict[str, Any]:
    return make_manifest(make_payload()).to_dict()


def test_fields_are_exactly_the_documented_ones() -> None:
    doc = _doc()
    assert sorted(doc) == sorted(FIELDS)
    assert sorted(doc["training_code"]) == ["fedward_version", "task_sha256"]
    assert sorted(doc["privacy"]) == sorted(
        ["dp", "noise_multiplier", "sample_rate", "steps", "epsilon", "secure_aggregation"]
    )
    assert sorted(doc["policy"]) == ["checks", "passed", "sha256"]


def test_round_trip_is_byte_exact_and_hash_is_of_canonical_bytes() -> None:
    manifest = make_manifest(make_payload())
    data = manifest.to_bytes()
    assert data == canonical_bytes(manifest.to_dict())
    assert UpdateManifest.from_bytes(data) == manifest
    assert UpdateManifest.from_bytes(data).to_bytes() == data
    assert manifest.sha256() == hashlib.sha256(data).hexdigest()


_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_hex = st.binary(min_size=32, max_size=32).map(bytes.hex)
_number = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
_opt_pos = st.one_of(st.none(), st.integers(0, 1000), st.floats(0, 1e6, allow_nan=False))


@given(
    site=_names,
    numbers=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**40)),
    kind=st.sampled_from(["safetensors", "secagg-masked"]),
    pre=st.one_of(st.none(), _hex),
    metrics=st.dictionaries(st.text(min_size=1, max_size=12), _number, max_size=4),
    checks=st.dictionaries(st.text(min_size=1, max_size=12), st.booleans(), max_size=4),
    privacy=st.tuples(
        _opt_pos, _opt_pos, st.one_of(st.none(), st.integers(0, 10**6)), _opt_pos, st.booleans()
    ),
    text=st.text(min_size=1, max_size=30),
)
def test_any_valid_manifest_round_trips(
    site: str,
    numbers: tuple[int, int, int],
    kind: str,
    pre: str | None,
    metrics: dict[str, float],
    checks: dict[str, bool],
    privacy: tuple[Any, ...],
    text: str,
) -> None:
    manifest = make_manifest(
        make_payload(),
        site=site,
        round=numbers[0],
        sequence=numbers[1],
        num_samples=numbers[2],
        payload_kind=kind,
        preprocessing_sha256=pre,
        metrics=metrics,
        run_id=text,
        dataset_fingerprint=text,
        policy=PolicyRecord("ab" * 32, checks, all(checks.values())),
        privacy=PrivacyRecord(text, *privacy),
    )
    data = manifest.to_bytes()
    assert UpdateManifest.from_bytes(data) == manifest
    assert UpdateManifest.from_bytes(data).to_bytes() == data


def _reject(doc: Any, match: str | None = None) -> None:
    with pytest.raises(PackageError, match=match):
        UpdateManifest.from_bytes(canonical_bytes(doc))


@pytest.mark.parametrize("key", FIELDS)
def test_missing_key_is_rejected(key: str) -> None:
    doc = _doc()
    del doc[key]
    _reject(doc, "missing keys")


@pytest.mark.parametrize("where", ["", "training_code", "privacy", "policy"])
def test_unknown_key_is_rejected(where: str) -> None:
    doc = _doc()
    (doc[where] if where else doc)["extra"] = 1
    _reject(doc, "unknown keys")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("federation", ""),
        ("federation", 7),
        ("run_id", None),
        ("round", True),
        ("round", "1"),
        ("round", 1.0),
        ("round", -1),
        ("site", "../etc"),
        ("site", ""),
        ("sequence", 2.5),
        ("base_model_sha256", "AB" * 32),
        ("base_model_sha256", "ab" * 31),
        ("payload_sha256", 0),
        ("payload_kind", "pickle"),
        ("num_samples", -3),
        ("num_samples", False),
        ("training_code", "0.1.0"),
        ("training_code", {"fedward_version": "", "task_sha256": "ab" * 32}),
        ("preprocessing_sha256", ""),
        ("dataset_fingerprint", ""),
        ("metrics", {"auc": "high"}),
        ("metrics", {"auc": True}),
        ("metrics", [1.0]),
        ("privacy", None),
        ("policy", {"sha256": "ab" * 32}),
        ("timestamp", "2025-03-01T12:00:00"),
        ("timestamp", "2025-03-01T12:00:00+01:00"),
        ("timestamp", 1740830400),
    ],
)
def test_wrong_type_or_value_is_rejected(key: str, value: Any) -> None:
    doc = _doc()
    doc[key] = value
    _reject(doc)


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("privacy", "noise_multiplier", "1.1"),
        ("privacy", "sample_rate", -0.1),
        ("privacy", "steps", 1.5),
        ("privacy", "secure_aggregation", 0),
        ("privacy", "dp", None),
        ("policy", "checks", {"a": 1}),
        ("policy", "passed", "yes"),
        ("policy", "sha256", "x" * 64),
        ("training_code", "task_sha256", None),
    ],
)
def test_wrong_nested_value_is_rejected(where: str, key: str, value: Any) -> None:
    doc = _doc()
    doc[where][key] = value
    _reject(doc)


def test_duplicate_keys_are_rejected() -> None:
    data = make_manifest(make_payload()).to_bytes()
    duplicated = data[:-1] + b',"round":2}'
    with pytest.raises(PackageError, match="duplicate"):
        UpdateManifest.from_bytes(duplicated)
    # power check: a lenient JSON parser silently takes the last value, a different meaning
    assert json.loads(duplicated)["round"] == 2 != json.loads(data)["round"]


def test_non_canonical_encodings_are_rejected() -> None:
    doc = _doc()
    variants = {
        "spaces": json.dumps(doc, sort_keys=True).encode(),
        "reordered": json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":")).encode(),
        "ascii escapes": json.dumps(
            doc | {"dataset_fingerprint": "é"}, sort_keys=True, separators=(",", ":")
        ).encode(),
        "trailing newline": canonical_bytes(doc) + b"\n",
        "float as 1e0": canonical_bytes(doc).replace(b'"accuracy":0.75', b'"accuracy":7.5e-1'),
    }
    for label, data in variants.items():
        assert data != canonical_bytes(json.loads(data)), label
        with pytest.raises(PackageError, match="canonical"):
            UpdateManifest.from_bytes(data)
        # power check: the same meaning parses fine once canonical form is not required
        assert UpdateManifest.from_dict(json.loads(data)).to_dict() == json.loads(data), label


def test_oversize_manifest_is_rejected() -> None:
    big = make_manifest(make_payload(), metrics={f"m{i:05d}": 0.5 for i in range(5000)})
    assert len(big.to_bytes()) > MAX_MANIFEST_BYTES
    with pytest.raises(PackageError, match="limit"):
        UpdateManifest.from_bytes(big.to_bytes())
    assert UpdateManifest.from_bytes(big.to_bytes(), max_bytes=1 << 20) == big  # power check


def test_construction_runs_the_same_checks() -> None:
    manifest = make_manifest(make_payload())
    with pytest.raises(PackageError):
        replace(manifest, round=-1)
    with pytest.raises(PackageError):
        replace(manifest, metrics={"loss": float("nan")})
    with pytest.raises(PackageError):
        replace(manifest, privacy={"dp": "none"})  # type: ignore[arg-type]
    with pytest.raises(PackageError):
        PolicyRecord("ab" * 32, {"ok": 1}, True)  # type: ignore[dict-item]


def test_numpy_metric_values_become_plain_numbers_and_mappings_are_frozen() -> None:
    manifest = make_manifest(make_payload(), metrics={"auc": np.float64(0.9), "n": 3})
    assert type(manifest.metrics["auc"]) is float and type(manifest.metrics["n"]) is int
    assert UpdateManifest.from_bytes(manifest.to_bytes()) == manifest
    with pytest.raises(TypeError):
        manifest.metrics["auc"] = 1.0  # type: ignore[index]
    with pytest.raises(PackageError):
        make_manifest(make_payload(), metrics={"auc": np.float32(0.9)})
