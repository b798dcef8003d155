"""The manifest's `norm_bound`: the L2 bound the site clipped its update to (`[strategy] norm_bound`),
present only when the run sets one, signed with the rest; the audit refuses a package whose manifest does
not state the run's bound (under secure aggregation the site's signed statement is the only evidence)."""

import json

import pytest
from trust_harness import check, make_manifest, make_package, make_payload, new_verifier, sign_raw

from fedward.core.canonical import canonical_bytes
from fedward.trust import PackageError, Reason, UpdateManifest


def test_without_a_bound_the_manifest_is_what_it_was():
    manifest = make_manifest(make_payload())
    assert manifest.norm_bound is None and "norm_bound" not in manifest.to_dict()


def test_with_a_bound_it_round_trips_and_verifies():
    manifest = make_manifest(make_payload(), norm_bound=0.5)
    back = UpdateManifest.from_bytes(manifest.to_bytes())
    assert back == manifest and back.to_dict()["norm_bound"] == 0.5
    verified = check(new_verifier(), make_package(norm_bound=0.5))
    assert isinstance(verified, UpdateManifest) and verified.norm_bound == 0.5


@pytest.mark.parametrize("value", [0, -1.0, "1"])
def test_a_bad_bound_is_refused(value):
    with pytest.raises(PackageError, match="norm_bound"):
        make_manifest(make_payload(), norm_bound=value)


def test_a_null_bound_on_the_wire_is_refused():
    doc = make_manifest(make_payload()).to_dict() | {"norm_bound": None}
    with pytest.raises(PackageError, match="never null"):
        UpdateManifest.from_bytes(canonical_bytes(doc))


def test_the_bound_is_signed():
    """Raising the stated bound after signing breaks the signature; re-signed, it passes (power)."""
    package = make_package(norm_bound=0.5)
    doc = json.loads(package.manifest_bytes) | {"norm_bound": 100.0}
    forged = type(package)(canonical_bytes(doc), package.signature, package.payload)
    assert check(new_verifier(), forged) is Reason.BAD_SIGNATURE
    assert isinstance(check(new_verifier(), sign_raw(canonical_bytes(doc), package.payload)), UpdateManifest)
