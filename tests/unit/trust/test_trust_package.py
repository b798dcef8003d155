"""Update packages: signing, the transport-neutral fields, and audit verification of the signature alone."""

from __future__ import annotations

import hashlib
import json

import pytest
from trust_harness import INTRUDER, SITES, make_manifest, make_package, make_payload

from fedward.crypto import SignatureError
from fedward.trust import (
    MANIFEST_FIELD,
    MANIFEST_SIGNING_CONTEXT,
    SIGNATURE_FIELD,
    PackageError,
    UpdatePackage,
    sign_package,
    verify_package_signature,
)


def test_sign_package_binds_manifest_and_payload() -> None:
    payload = make_payload()
    manifest = make_manifest(payload)
    package = sign_package(manifest, payload, SITES["st-anne"])
    assert package.manifest_bytes == manifest.to_bytes() and package.payload == payload
    assert len(package.signature) == 64
    assert verify_package_signature(package, SITES["st-anne"].public) == manifest


def test_sign_package_refuses_a_payload_the_manifest_does_not_name() -> None:
    manifest = make_manifest(make_payload())
    with pytest.raises(PackageError, match="SHA-256"):
        sign_package(manifest, make_payload([1.0, 2.0, 3.0]), SITES["st-anne"])


def test_fields_carry_the_package_as_json_scalars() -> None:
    package = make_package()
    fields = package.to_fields()
    assert set(fields) == {MANIFEST_FIELD, SIGNATURE_FIELD}
    assert all(isinstance(v, str) for v in fields.values())
    assert fields[MANIFEST_FIELD].encode() == package.manifest_bytes
    wire = json.loads(json.dumps({"info": fields | {"train_seconds": 1.5}}))
    assert UpdatePackage.from_fields(wire["info"], package.payload) == package


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {SIGNATURE_FIELD: "00" * 64},
        {MANIFEST_FIELD: "{}"},
        {MANIFEST_FIELD: b"{}", SIGNATURE_FIELD: "00" * 64},
        {MANIFEST_FIELD: "{}", SIGNATURE_FIELD: "00" * 63},
        {MANIFEST_FIELD: "{}", SIGNATURE_FIELD: "0X" * 64},
        {MANIFEST_FIELD: "{}", SIGNATURE_FIELD: "AB" * 64},
        {MANIFEST_FIELD: "{}", SIGNATURE_FIELD: 7},
        {MANIFEST_FIELD: "\ud800", SIGNATURE_FIELD: "00" * 64},
    ],
)
def test_from_fields_is_strict(fields: dict[str, object]) -> None:
    with pytest.raises(PackageError):
        UpdatePackage.from_fields(fields, b"")


def test_audit_verification_checks_only_signature_and_form() -> None:
    package = make_package(round=40, sequence=40)  # no roster, round or replay context needed
    assert verify_package_signature(package, SITES["st-anne"].public).round == 40
    with pytest.raises(SignatureError):
        verify_package_signature(package, INTRUDER.public)
    with pytest.raises(PackageError, match="limit"):
        verify_package_signature(package, SITES["st-anne"].public, max_bytes=100)


def test_the_signature_is_domain_separated() -> None:
    package = make_package()
    key = SITES["st-anne"]
    assert package.signature == key.sign(MANIFEST_SIGNING_CONTEXT + package.manifest_bytes)
    assert package.signature != key.sign(package.manifest_bytes)
    assert hashlib.sha256(package.payload).hexdigest() == json.loads(package.manifest_bytes)["payload_sha256"]
