"""PackageVerifier: every rejection reason from a crafted package, each with its power check.

A power check runs the same attack against a verifier with exactly that defence switched off (the
`No*Check` classes of trust_harness) and shows the attack would have succeeded.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pytest
from trust_harness import (
    BASE_MODEL,
    INTRUDER,
    NOW,
    SITES,
    NoBindingCheck,
    NoClaimedSamplesCheck,
    NoPayloadCheck,
    NoReplayCheck,
    NoSetupSamplesCheck,
    NoSignatureCheck,
    NoSignerCheck,
    check,
    make_manifest,
    make_package,
    make_payload,
    make_roster,
    manifest_dict,
    new_verifier,
    sign_raw,
)

from fedward.core.arrays import arrays_to_bytes
from fedward.core.canonical import canonical_bytes
from fedward.trust import (
    PackageError,
    PackageRejected,
    PackageVerifier,
    PolicyRecord,
    Reason,
    RosterError,
    SiteEntry,
    UpdateManifest,
    UpdatePackage,
    revoke,
    sign_package,
)


def test_a_good_package_is_accepted() -> None:
    package = make_package()
    manifest = check(new_verifier(), package)
    assert isinstance(manifest, UpdateManifest)
    assert manifest.to_bytes() == package.manifest_bytes and manifest.site == "st-anne"


def test_reason_codes_are_stable() -> None:
    assert {r.value for r in Reason} == {
        "missing_signature",
        "bad_signature",
        "oversize_manifest",
        "malformed_manifest",
        "unknown_signer",
        "revoked_signer",
        "expired_signer",
        "wrong_federation",
        "wrong_run",
        "wrong_round",
        "wrong_base_model",
        "replayed",
        "payload_hash_mismatch",
        "malformed_payload",
        "non_finite_payload",
        "policy_failed",
        "num_samples_mismatch",
        "num_samples_exceeds_setup",
        "malformed",
    }


def _leaf_paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))]
    return [prefix]


def _mutated(leaf: Any) -> Any:
    if isinstance(leaf, bool):
        return not leaf
    if isinstance(leaf, int | float):
        return leaf + 1
    if isinstance(leaf, str):
        return "f" + leaf[1:] if leaf[:1] != "f" else "e" + leaf[1:]  # keeps hex hex and names valid
    if leaf is None:
        return 0.5
    return {"added": 1.0}


def test_every_manifest_field_changed_after_signing_is_a_bad_signature() -> None:
    package = make_package()
    doc = manifest_dict(package)
    paths = _leaf_paths(doc)
    assert {p[0] for p in paths} == set(doc) and len(paths) >= 25  # every field, nested ones leaf by leaf
    for path in paths:
        copy = json.loads(package.manifest_bytes)
        holder = copy
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = _mutated(holder[path[-1]])
        tampered = UpdatePackage(canonical_bytes(copy), package.signature, package.payload)
        assert tampered.manifest_bytes != package.manifest_bytes
        assert check(new_verifier(), tampered) is Reason.BAD_SIGNATURE, path


def test_power_check_a_forged_sample_count_passes_without_signature_checking() -> None:
    package = make_package()
    doc = manifest_dict(package)
    doc["num_samples"] = 10**9  # weight the site's update a million times more in the average
    forged = UpdatePackage(canonical_bytes(doc), package.signature, package.payload)
    assert check(new_verifier(), forged) is Reason.BAD_SIGNATURE
    accepted = check(new_verifier(cls=NoSignatureCheck), forged)
    assert isinstance(accepted, UpdateManifest) and accepted.num_samples == 10**9


def test_an_intruder_key_and_a_broken_signature_are_bad_signatures() -> None:
    package = make_package()
    by_intruder = make_package(key=INTRUDER)
    flipped = bytearray(package.signature)
    flipped[10] ^= 0x20
    assert check(new_verifier(), by_intruder) is Reason.BAD_SIGNATURE
    assert check(new_verifier(), UpdatePackage(package.manifest_bytes, bytes(flipped), package.payload)) == (
        Reason.BAD_SIGNATURE
    )
    assert check(new_verifier(), UpdatePackage(package.manifest_bytes, b"\x01" * 63, package.payload)) == (
        Reason.BAD_SIGNATURE
    )
    assert isinstance(check(new_verifier(cls=NoSignatureCheck), by_intruder), UpdateManifest)


def test_signature_without_the_domain_prefix_is_refused() -> None:
    package = make_package()
    bare = SITES["st-anne"].sign(package.manifest_bytes)  # e.g. a signature made for another protocol
    assert check(new_verifier(), UpdatePackage(package.manifest_bytes, bare, package.payload)) == (
        Reason.BAD_SIGNATURE
    )


def test_missing_signature() -> None:
    package = make_package()
    unsigned = UpdatePackage(package.manifest_bytes, b"", package.payload)
    assert check(new_verifier(), unsigned) is Reason.MISSING_SIGNATURE
    with pytest.raises(PackageRejected) as info:
        new_verifier().verify_fields(
            {"update_manifest": package.manifest_bytes.decode()},
            package.payload,
            site="st-anne",
            round=1,
            base_model_sha256=BASE_MODEL,
            now=NOW,
        )
    assert info.value.reason == "missing_signature"


def test_oversize_manifest() -> None:
    payload = make_payload()
    manifest = make_manifest(payload, metrics={f"metric-{i:05d}": 0.5 for i in range(5000)})
    with pytest.raises(PackageError, match="limit"):
        sign_package(manifest, payload, SITES["st-anne"])  # an honest site never sends one
    big = sign_raw(manifest.to_bytes(), payload)
    assert check(new_verifier(), big) is Reason.OVERSIZE_MANIFEST
    roomy = PackageVerifier(make_roster(), "north-consortium", "run-2025-03", max_manifest_bytes=1 << 20)
    assert isinstance(check(roomy, big), UpdateManifest)  # power check: the size limit is what refused it


def test_duplicate_keys_and_malformed_manifests_even_when_validly_signed() -> None:
    package = make_package()
    good = package.manifest_bytes
    variants = {
        "duplicate key": good[:-1] + b',"round":1}',
        "spaces": json.dumps(json.loads(good), sort_keys=True).encode(),
        "reordered": json.dumps(dict(reversed(json.loads(good).items())), separators=(",", ":")).encode(),
        "missing key": canonical_bytes({k: v for k, v in json.loads(good).items() if k != "metrics"}),
        "unknown key": canonical_bytes(json.loads(good) | {"note": "x"}),
        "not json": b"\xff\xfe{",
        "a list": b"[1,2]",
    }
    for label, data in variants.items():
        assert check(new_verifier(), sign_raw(data, package.payload)) is Reason.MALFORMED_MANIFEST, label
    # re-encoded after signing (not re-signed), the same bytes fail the signature first
    spaced = UpdatePackage(variants["spaces"], package.signature, package.payload)
    assert check(new_verifier(), spaced) is Reason.BAD_SIGNATURE


def test_unknown_signer() -> None:
    assert check(new_verifier(), make_package(site="lakeside"), site="lakeside") is Reason.UNKNOWN_SIGNER
    # st-anne's genuine package, relayed as if riverside had sent it
    assert check(new_verifier(), make_package(), site="riverside") is Reason.BAD_SIGNATURE
    # riverside signs a manifest claiming to be st-anne: the key matches the sender, the claim does not
    claimed = make_package(key=SITES["riverside"])
    assert check(new_verifier(), claimed, site="riverside") is Reason.UNKNOWN_SIGNER
    assert isinstance(check(new_verifier(cls=NoBindingCheck), claimed, site="riverside"), UpdateManifest)


def test_unknown_signer_power_check() -> None:
    roster = make_roster(lakeside=SiteEntry(INTRUDER.public, revoked_from_round=1))
    package = make_package(site="lakeside")
    assert check(new_verifier(roster), package, site="lakeside") is Reason.REVOKED_SIGNER
    assert isinstance(check(new_verifier(roster, NoSignerCheck), package, site="lakeside"), UpdateManifest)


def test_revocation_applies_from_its_round_and_old_packages_stay_verifiable() -> None:
    roster = revoke(make_roster(), "st-anne", 3)
    verifier = new_verifier(roster)
    for round_ in (1, 2):
        package = make_package(round=round_, sequence=round_)
        assert isinstance(check(verifier, package, round=round_), UpdateManifest)  # audit of old rounds
    late = make_package(round=3, sequence=3)
    assert check(verifier, late, round=3) is Reason.REVOKED_SIGNER
    assert check(verifier, make_package(round=7, sequence=7), round=7) is Reason.REVOKED_SIGNER
    assert isinstance(check(new_verifier(roster, NoSignerCheck), late, round=3), UpdateManifest)


def test_revocation_mid_run_via_update_roster() -> None:
    verifier = new_verifier()
    assert isinstance(check(verifier, make_package()), UpdateManifest)
    verifier.update_roster(revoke(verifier.roster, "st-anne", 2))
    assert check(verifier, make_package(round=2, sequence=2), round=2) is Reason.REVOKED_SIGNER
    with pytest.raises(RosterError, match="older"):
        verifier.update_roster(make_roster())


def test_expired_signer() -> None:
    roster = make_roster(**{"st-anne": SiteEntry(SITES["st-anne"].public, not_after="2025-02-01T00:00:00Z")})
    package = make_package()
    assert check(new_verifier(roster), package) is Reason.EXPIRED_SIGNER
    assert isinstance(check(new_verifier(roster), package, now="2025-01-31T00:00:00Z"), UpdateManifest)
    assert isinstance(check(new_verifier(roster, NoSignerCheck), package), UpdateManifest)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"federation": "south-consortium"}, Reason.WRONG_FEDERATION),
        ({"run_id": "run-2024-11"}, Reason.WRONG_RUN),
        ({"round": 2}, Reason.WRONG_ROUND),
        ({"base_model_sha256": hashlib.sha256(b"an older model").hexdigest()}, Reason.WRONG_BASE_MODEL),
    ],
)
def test_binding_to_federation_run_round_and_model(override: dict[str, Any], reason: Reason) -> None:
    package = make_package(**override)
    assert check(new_verifier(), package) is reason
    assert isinstance(check(new_verifier(cls=NoBindingCheck), package), UpdateManifest)


def test_replayed_package_and_stale_sequence() -> None:
    verifier = new_verifier()
    first = make_package(sequence=5)
    assert isinstance(check(verifier, first), UpdateManifest)
    assert check(verifier, first) is Reason.REPLAYED
    assert check(verifier, make_package(sequence=5, num_samples=7)) is Reason.REPLAYED
    assert check(verifier, make_package(sequence=4)) is Reason.REPLAYED
    assert isinstance(check(verifier, make_package(sequence=6)), UpdateManifest)
    assert isinstance(
        check(verifier, make_package(site="riverside", sequence=1), site="riverside"), UpdateManifest
    )
    # power check: without replay tracking the same package is counted twice
    insecure = new_verifier(cls=NoReplayCheck)
    assert isinstance(check(insecure, first), UpdateManifest) and isinstance(
        check(insecure, first), UpdateManifest
    )


def test_a_rejected_package_changes_nothing() -> None:
    verifier = new_verifier()
    bad = make_package(sequence=9, base_model_sha256="00" * 32)
    assert check(verifier, bad) is Reason.WRONG_BASE_MODEL
    # had the rejected package's sequence 9 been remembered, 2 would now be refused as a replay
    assert isinstance(check(verifier, make_package(sequence=2)), UpdateManifest)


def test_payload_hash_mismatch() -> None:
    package = make_package()
    swapped = UpdatePackage(package.manifest_bytes, package.signature, make_payload([9.0, 9.0, 9.0]))
    assert check(new_verifier(), swapped) is Reason.PAYLOAD_HASH_MISMATCH
    assert isinstance(check(new_verifier(cls=NoPayloadCheck), swapped), UpdateManifest)


def test_non_finite_and_unparseable_payloads() -> None:
    for bad in ([np.nan, 1.0, 2.0], [np.inf, 0.0, 0.0]):
        package = make_package(make_payload(bad))
        assert check(new_verifier(), package) is Reason.NON_FINITE_PAYLOAD
        assert isinstance(check(new_verifier(cls=NoPayloadCheck), package), UpdateManifest)
    for junk in (b"not safetensors", arrays_to_bytes({"w": np.zeros(3, dtype=np.float64)})):
        package = make_package(junk)
        assert check(new_verifier(), package) is Reason.MALFORMED_PAYLOAD
        assert isinstance(check(new_verifier(cls=NoPayloadCheck), package), UpdateManifest)
    masked = make_package(b"\x00\x01 masked field elements", payload_kind="secagg-masked")
    assert isinstance(check(new_verifier(), masked), UpdateManifest)  # checked by secure aggregation


def test_failed_policy() -> None:
    for policy in (
        PolicyRecord("ab" * 32, {"schema": True}, False),
        PolicyRecord("ab" * 32, {"schema": False}, True),
    ):
        assert check(new_verifier(), make_package(policy=policy)) is Reason.POLICY_FAILED


def test_unexpected_errors_are_rejections() -> None:
    class Exploding(PackageVerifier):
        def _check_policy(self, manifest: UpdateManifest) -> None:
            raise KeyError("surprise")

    with pytest.raises(PackageRejected) as info:
        new_verifier(cls=Exploding).verify(
            make_package(), site="st-anne", round=1, base_model_sha256=BASE_MODEL, now=NOW
        )
    assert info.value.reason is Reason.MALFORMED and "surprise" in info.value.detail
    not_bytes = UpdatePackage(None, b"x" * 64, b"")  # type: ignore[arg-type]
    assert check(new_verifier(), not_bytes) is Reason.MALFORMED


def test_callers_own_mistakes_raise_instead_of_blaming_the_site() -> None:
    with pytest.raises(ValueError):
        check(new_verifier(), make_package(), now="tomorrow")
    with pytest.raises(ValueError):
        check(new_verifier(), make_package(), base="not-a-hash")
    with pytest.raises(RosterError):
        PackageVerifier(make_roster(), "another-federation", "run")


def test_verify_fields_round_trip_through_json() -> None:
    package = make_package()
    info = json.loads(json.dumps(package.to_fields() | {"other": 1}))
    manifest = new_verifier().verify_fields(
        info, package.payload, site="st-anne", round=1, base_model_sha256=BASE_MODEL, now=NOW
    )
    assert manifest.to_bytes() == package.manifest_bytes
    for fields, reason in (
        (info | {"update_signature": "zz" * 64}, Reason.BAD_SIGNATURE),
        (info | {"update_signature": info["update_signature"].upper()}, Reason.BAD_SIGNATURE),
        ({"update_signature": info["update_signature"]}, Reason.MALFORMED_MANIFEST),
        (info | {"update_manifest": 5}, Reason.MALFORMED_MANIFEST),
        (info | {"update_signature": ""}, Reason.MISSING_SIGNATURE),
    ):
        with pytest.raises(PackageRejected) as rejected:
            new_verifier().verify_fields(
                fields, package.payload, site="st-anne", round=1, base_model_sha256=BASE_MODEL, now=NOW
            )
        assert rejected.value.reason is reason


# The aggregation weight: the reply's sample count must be the signed one (the manifest signs 120),
# and the signed one may not exceed what the site described at set-up.


@pytest.mark.parametrize("claimed", [10**9, 119, 0, -1, True, 120.0])
def test_a_reply_claiming_another_weight_than_the_signed_one_is_rejected(claimed: Any) -> None:
    verifier = new_verifier()
    assert check(verifier, make_package(), num_samples=claimed) is Reason.NUM_SAMPLES_MISMATCH
    # a rejection changes nothing: the same package with its true count is accepted next
    assert isinstance(check(verifier, make_package(), num_samples=120), UpdateManifest)
    # power check: without the comparison the inflated claim gets through
    unchecked = check(new_verifier(cls=NoClaimedSamplesCheck), make_package(), num_samples=claimed)
    assert isinstance(unchecked, UpdateManifest)


def test_a_signed_count_above_the_set_up_count_is_rejected() -> None:
    inflated = make_package(num_samples=10**9)
    verifier = new_verifier()
    got = check(verifier, inflated, num_samples=10**9, max_num_samples=120)
    assert got is Reason.NUM_SAMPLES_EXCEEDS_SETUP
    assert isinstance(check(verifier, make_package(), num_samples=120, max_num_samples=120), UpdateManifest)
    # power check: without the bound the signed, inflated count gets through
    unchecked = check(new_verifier(cls=NoSetupSamplesCheck), inflated, num_samples=10**9, max_num_samples=120)
    assert isinstance(unchecked, UpdateManifest) and unchecked.num_samples == 10**9


def test_the_coordinators_own_set_up_count_must_be_a_count() -> None:
    with pytest.raises(ValueError, match="max_num_samples"):
        new_verifier().verify(
            make_package(), site="st-anne", round=1, base_model_sha256=BASE_MODEL, now=NOW, max_num_samples=-1
        )
