"""The manifest's `init_model_sha256`: present only when the run started from a `[model] init` file, so a
manifest without it keeps the keys and bytes it always had; a malformed or null value is refused, and the
field is covered by the site's signature (changing it breaks the package)."""

import hashlib
import json

import pytest
from trust_harness import check, make_manifest, make_package, make_payload, new_verifier, sign_raw

from fedward.core.canonical import canonical_bytes
from fedward.trust import PackageError, Reason, UpdateManifest

INIT = hashlib.sha256(b"base model file").hexdigest()


def test_without_an_init_file_the_manifest_is_what_it_was():
    manifest = make_manifest(make_payload())
    assert manifest.init_model_sha256 is None and "init_model_sha256" not in manifest.to_dict()
    assert UpdateManifest.from_bytes(manifest.to_bytes()) == manifest


def test_with_an_init_file_it_round_trips_and_verifies():
    manifest = make_manifest(make_payload(), init_model_sha256=INIT)
    assert manifest.to_dict()["init_model_sha256"] == INIT
    back = UpdateManifest.from_bytes(manifest.to_bytes())
    assert back == manifest and back.to_bytes() == manifest.to_bytes()
    verified = check(new_verifier(), make_package(init_model_sha256=INIT))
    assert isinstance(verified, UpdateManifest) and verified.init_model_sha256 == INIT


@pytest.mark.parametrize("value", ["xyz", INIT.upper(), "ab" * 33])
def test_a_malformed_hash_is_refused(value):
    with pytest.raises(PackageError, match="init_model_sha256"):
        make_manifest(make_payload(), init_model_sha256=value)


def test_a_null_hash_on_the_wire_is_refused():
    doc = make_manifest(make_payload()).to_dict() | {"init_model_sha256": None}
    with pytest.raises(PackageError, match="never null"):
        UpdateManifest.from_bytes(canonical_bytes(doc))


def test_the_hash_is_signed():
    """Changing the stated init model after signing breaks the signature; re-signed, it passes (power)."""
    package = make_package(init_model_sha256=INIT)
    doc = json.loads(package.manifest_bytes) | {"init_model_sha256": "00" * 32}
    forged = type(package)(canonical_bytes(doc), package.signature, package.payload)
    assert check(new_verifier(), forged) is Reason.BAD_SIGNATURE
    resigned = sign_raw(canonical_bytes(doc), package.payload)
    assert isinstance(check(new_verifier(), resigned), UpdateManifest)
