"""Admission of update packages at the coordinator: every check an update must pass before aggregation.

`PackageVerifier.verify` returns the manifest of a package that passes, or raises `PackageRejected` with
a stable `Reason` code for the first check that fails. The checks run cheapest and least-trusting first:
the package's form, then the sender's standing in the roster, then the Ed25519 signature (RFC 8032),
and only then is the manifest parsed (strict canonical JSON) and compared with what the coordinator
expects: federation, run, round, base model, sequence (replay), payload hash and payload content, and
the sample count the update is weighted by: the one the reply claims must be the signed one, and the
signed one may not exceed what the site described at set-up (when the caller passes those counts).
Any unexpected exception inside verification is itself a rejection (`Reason.MALFORMED`): fail closed.

The verifier remembers, per site, the last accepted sequence number and every accepted manifest's hash,
and only after a package has passed every check, so a rejected package never changes what is accepted
next. A restarted coordinator rebuilds that memory by replaying its journal through `verify`.
Each check is a separate method so that a test can switch exactly one off and show the attack it stops.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from fedward.core.arrays import check_finite, tensors_from_bytes
from fedward.crypto import SignatureError, verify
from fedward.trust.errors import PackageError, PackageRejected, Reason, RosterError
from fedward.trust.formats import check_hex, check_int, parse_utc
from fedward.trust.manifest import MAX_MANIFEST_BYTES, UpdateManifest
from fedward.trust.package import (
    MANIFEST_FIELD,
    MANIFEST_SIGNING_CONTEXT,
    SIGNATURE_FIELD,
    UpdatePackage,
    decode_manifest_field,
    decode_signature_field,
)
from fedward.trust.roster import Roster, SiteStatus

__all__ = ["PackageVerifier"]

_STATUS_REASONS = {
    SiteStatus.UNKNOWN: Reason.UNKNOWN_SIGNER,
    SiteStatus.REVOKED: Reason.REVOKED_SIGNER,
    SiteStatus.EXPIRED: Reason.EXPIRED_SIGNER,
}


@dataclass(frozen=True)
class _Expected:
    """What the coordinator knows independently of the package: who sent it, for which round, and when."""

    site: str
    round: int
    base_model_sha256: str
    now: str
    num_samples: int | None = None  # the count the reply claims (the aggregation weight)
    max_num_samples: int | None = None  # the count the site described at set-up


class PackageVerifier:
    """Verifies the update packages of one run of one federation against the admission roster."""

    def __init__(
        self, roster: Roster, federation: str, run_id: str, max_manifest_bytes: int = MAX_MANIFEST_BYTES
    ) -> None:
        if roster.federation != federation:
            raise RosterError(f"the roster is for federation {roster.federation!r}, not {federation!r}")
        self._roster = roster
        self.federation = federation
        self.run_id = run_id
        self.max_manifest_bytes = max_manifest_bytes
        self._last_sequence: dict[str, int] = {}
        self._seen: set[str] = set()

    @property
    def roster(self) -> Roster:
        return self._roster

    def update_roster(self, roster: Roster) -> None:
        """Switch to a newer roster (e.g. after a revocation); older or foreign rosters are refused."""
        if roster.federation != self.federation:
            raise RosterError(f"the roster is for federation {roster.federation!r}, not {self.federation!r}")
        if roster.version < self._roster.version:
            raise RosterError(f"roster version {roster.version} is older than {self._roster.version}")
        self._roster = roster

    def verify(
        self,
        package: UpdatePackage,
        *,
        site: str,
        round: int,
        base_model_sha256: str,
        now: str,
        num_samples: int | None = None,
        max_num_samples: int | None = None,
    ) -> UpdateManifest:
        """The manifest of `package` sent by `site` for `round`; raises `PackageRejected` otherwise.

        `base_model_sha256` is the hex SHA-256 of the global model the coordinator sent for this round;
        `now` is the current time (ISO 8601 UTC), against which key expiry is judged. `num_samples` is
        the sample count the reply claims (what the update would be weighted by): it must be the signed
        one; `max_num_samples` the count the site described at set-up: the signed one may not exceed
        it. The coordinator passes both; None skips that comparison (a package read out of a round).
        """
        expected = _expected(site, round, base_model_sha256, now, num_samples, max_num_samples)
        try:
            manifest, digest = self._check(package, expected)
        except PackageRejected:
            raise
        except Exception as exc:  # fail closed: an unforeseen error is a rejection, never a pass
            raise PackageRejected(Reason.MALFORMED, f"{type(exc).__name__}: {exc}") from None
        self._last_sequence[manifest.site] = manifest.sequence
        self._seen.add(digest)
        return manifest

    def verify_fields(
        self,
        fields: Mapping[str, object],
        payload: bytes,
        *,
        site: str,
        round: int,
        base_model_sha256: str,
        now: str,
        num_samples: int | None = None,
        max_num_samples: int | None = None,
    ) -> UpdateManifest:
        """`verify` for a package carried as `UpdatePackage.to_fields()` (a reply's `info`) and payload."""
        if fields.get(SIGNATURE_FIELD) in (None, ""):
            raise PackageRejected(Reason.MISSING_SIGNATURE, f"the reply has no {SIGNATURE_FIELD!r}")
        try:
            signature = decode_signature_field(fields.get(SIGNATURE_FIELD))
        except PackageError as exc:
            raise PackageRejected(Reason.BAD_SIGNATURE, str(exc)) from None
        try:
            manifest = decode_manifest_field(fields.get(MANIFEST_FIELD))
        except PackageError as exc:
            raise PackageRejected(Reason.MALFORMED_MANIFEST, str(exc)) from None
        package = UpdatePackage(manifest, signature, bytes(payload))
        return self.verify(
            package,
            site=site,
            round=round,
            base_model_sha256=base_model_sha256,
            now=now,
            num_samples=num_samples,
            max_num_samples=max_num_samples,
        )

    def _check(self, package: UpdatePackage, expected: _Expected) -> tuple[UpdateManifest, str]:
        self._check_form(package)
        public_key = self._check_signer(expected)
        self._check_signature(package, public_key)
        manifest = self._parse(package)
        self._check_binding(manifest, expected)
        digest = hashlib.sha256(package.manifest_bytes).hexdigest()
        self._check_replay(manifest, digest)
        self._check_payload(manifest, package.payload)
        self._check_policy(manifest)
        self._check_claimed_samples(manifest, expected)
        self._check_setup_samples(manifest, expected)
        return manifest, digest

    def _check_form(self, package: UpdatePackage) -> None:
        if not package.signature:
            raise PackageRejected(Reason.MISSING_SIGNATURE, "the package carries no signature")
        if len(package.manifest_bytes) > self.max_manifest_bytes:
            raise PackageRejected(
                Reason.OVERSIZE_MANIFEST,
                f"manifest is {len(package.manifest_bytes)} bytes, over the {self.max_manifest_bytes} limit",
            )

    def _check_signer(self, expected: _Expected) -> bytes:
        status = self._roster.status(expected.site, expected.round, expected.now)
        if status is not SiteStatus.OK:
            detail = f"site {expected.site!r} is {status.value} in roster version {self._roster.version}"
            raise PackageRejected(_STATUS_REASONS[status], f"{detail} for round {expected.round}")
        return self._roster.public_key(expected.site)

    def _check_signature(self, package: UpdatePackage, public_key: bytes) -> None:
        try:
            verify(public_key, MANIFEST_SIGNING_CONTEXT + package.manifest_bytes, package.signature)
        except SignatureError:
            raise PackageRejected(Reason.BAD_SIGNATURE, "the manifest signature does not verify") from None

    def _parse(self, package: UpdatePackage) -> UpdateManifest:
        try:
            return UpdateManifest.from_bytes(package.manifest_bytes, max_bytes=self.max_manifest_bytes)
        except PackageError as exc:
            raise PackageRejected(Reason.MALFORMED_MANIFEST, str(exc)) from None

    def _check_binding(self, manifest: UpdateManifest, expected: _Expected) -> None:
        """The manifest must be about exactly the federation, run, round, sender and model expected."""
        checks = (
            (manifest.site == expected.site, Reason.UNKNOWN_SIGNER, "site", manifest.site, expected.site),
            (manifest.federation == self.federation, Reason.WRONG_FEDERATION, "federation",
             manifest.federation, self.federation),
            (manifest.run_id == self.run_id, Reason.WRONG_RUN, "run_id", manifest.run_id, self.run_id),
            (manifest.round == expected.round, Reason.WRONG_ROUND, "round", manifest.round, expected.round),
            (manifest.base_model_sha256 == expected.base_model_sha256, Reason.WRONG_BASE_MODEL,
             "base_model_sha256", manifest.base_model_sha256, expected.base_model_sha256),
        )  # fmt: skip
        for ok, reason, name, got, want in checks:
            if not ok:
                raise PackageRejected(reason, f"manifest {name} is {got!r}, expected {want!r}")

    def _check_replay(self, manifest: UpdateManifest, digest: str) -> None:
        if digest in self._seen:
            raise PackageRejected(Reason.REPLAYED, f"manifest {digest[:16]} was already accepted")
        last = self._last_sequence.get(manifest.site)
        if last is not None and manifest.sequence <= last:
            raise PackageRejected(
                Reason.REPLAYED, f"sequence {manifest.sequence} is not after {last}, the last accepted"
            )

    def _check_payload(self, manifest: UpdateManifest, payload: bytes) -> None:
        actual = hashlib.sha256(payload).hexdigest()
        if actual != manifest.payload_sha256:
            raise PackageRejected(
                Reason.PAYLOAD_HASH_MISMATCH, f"payload SHA-256 {actual} is not {manifest.payload_sha256}"
            )
        if manifest.payload_kind != "safetensors":
            return  # a masked secure-aggregation payload is checked by the secure-aggregation layer
        try:  # float32 tensors, or a compressed update's int8/int32 ones (its layout: the combiner's check)
            tensors = tensors_from_bytes(payload)
        except Exception as exc:
            raise PackageRejected(
                Reason.MALFORMED_PAYLOAD, f"payload is not float32 (or int8/int32) safetensors: {exc}"
            ) from None
        try:
            check_finite({k: a for k, a in tensors.items() if a.dtype.kind == "f"})
        except ValueError as exc:
            raise PackageRejected(Reason.NON_FINITE_PAYLOAD, str(exc)) from None

    def _check_policy(self, manifest: UpdateManifest) -> None:
        failed = sorted(name for name, ok in manifest.policy.checks.items() if not ok)
        if not manifest.policy.passed or failed:
            raise PackageRejected(Reason.POLICY_FAILED, f"the site's policy checks did not pass: {failed}")

    def _check_claimed_samples(self, manifest: UpdateManifest, expected: _Expected) -> None:
        """The weight the reply claims must be the one the site signed: an unsigned weight is no weight."""
        claimed = expected.num_samples
        if claimed is not None and (type(claimed) is not int or claimed != manifest.num_samples):
            raise PackageRejected(
                Reason.NUM_SAMPLES_MISMATCH,
                f"the reply claims num_samples {claimed!r}, the signed manifest {manifest.num_samples}",
            )

    def _check_setup_samples(self, manifest: UpdateManifest, expected: _Expected) -> None:
        """A site cannot train on more samples than it described at set-up (its DESCRIBE reply)."""
        limit = expected.max_num_samples
        if limit is not None and manifest.num_samples > limit:
            raise PackageRejected(
                Reason.NUM_SAMPLES_EXCEEDS_SETUP,
                f"signed num_samples {manifest.num_samples} exceeds the {limit} site "
                f"{expected.site!r} described at set-up",
            )


def _expected(
    site: str,
    round: int,
    base_model_sha256: str,
    now: str,
    num_samples: int | None = None,
    max_num_samples: int | None = None,
) -> _Expected:
    """The caller's side of the comparison; a bad value here is the caller's bug, so it raises ValueError."""
    check_int(round, "round")
    check_hex(base_model_sha256, "base_model_sha256", nbytes=32)
    parse_utc(now)
    if max_num_samples is not None:
        check_int(max_num_samples, "max_num_samples")  # `num_samples` is the site's claim: compared, later
    return _Expected(site, round, base_model_sha256, now, num_samples, max_num_samples)
