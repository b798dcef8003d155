"""Signed update packages: a site's canonical manifest, its Ed25519 signature, and the payload.

The signature (RFC 8032) covers a domain-separated message, `MANIFEST_SIGNING_CONTEXT + manifest
bytes`, so a manifest signature cannot be passed off as a signature on a roster, a release or a ledger
checkpoint made with the same key. The payload is covered through the manifest's `payload_sha256`.

On the wire a reply carries JSON scalars in `info` and bytes in `parameters`, so the package is split
transport-neutrally: `to_fields()` gives the manifest as its canonical JSON text and the signature as
hex, to sit in `info` beside the payload in `parameters`; `from_fields()` reads them back strictly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from fedward.crypto import SIGNATURE_BYTES, SigningKey, verify
from fedward.trust.errors import PackageError
from fedward.trust.formats import check_hex
from fedward.trust.manifest import MAX_MANIFEST_BYTES, UpdateManifest

__all__ = [
    "MANIFEST_FIELD",
    "MANIFEST_SIGNING_CONTEXT",
    "SIGNATURE_FIELD",
    "UpdatePackage",
    "decode_manifest_field",
    "decode_signature_field",
    "sign_package",
    "verify_package_signature",
]

MANIFEST_SIGNING_CONTEXT = b"fedward/update-manifest/v1\n"
MANIFEST_FIELD = "update_manifest"
SIGNATURE_FIELD = "update_signature"


@dataclass(frozen=True)
class UpdatePackage:
    """What a site sends for one update. Nothing in it is trusted until `PackageVerifier` says so."""

    manifest_bytes: bytes
    signature: bytes
    payload: bytes

    def to_fields(self) -> dict[str, str]:
        """`{MANIFEST_FIELD: canonical JSON text, SIGNATURE_FIELD: hex}`, for a reply's `info`."""
        return {MANIFEST_FIELD: self.manifest_bytes.decode("utf-8"), SIGNATURE_FIELD: self.signature.hex()}

    @classmethod
    def from_fields(cls, fields: Mapping[str, object], payload: bytes) -> UpdatePackage:
        """The package carried by `fields` (other keys are ignored) and `payload`; raises `PackageError`."""
        manifest = decode_manifest_field(fields.get(MANIFEST_FIELD))
        return cls(manifest, decode_signature_field(fields.get(SIGNATURE_FIELD)), bytes(payload))


def decode_manifest_field(value: object) -> bytes:
    """The manifest bytes of a `MANIFEST_FIELD` value (a string); its content is checked later."""
    if not isinstance(value, str):
        raise PackageError(f"{MANIFEST_FIELD!r}: expected the manifest as a JSON string")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise PackageError(f"{MANIFEST_FIELD!r}: not encodable as UTF-8") from None


def decode_signature_field(value: object) -> bytes:
    """The signature bytes of a `SIGNATURE_FIELD` value: exactly 128 lowercase hex digits."""
    try:
        return bytes.fromhex(check_hex(value, repr(SIGNATURE_FIELD), nbytes=SIGNATURE_BYTES))
    except ValueError as exc:
        raise PackageError(str(exc)) from None


def sign_package(manifest: UpdateManifest, payload: bytes, key: SigningKey) -> UpdatePackage:
    """Sign `manifest` for `payload`; refuses a payload whose SHA-256 is not the manifest's."""
    actual = hashlib.sha256(payload).hexdigest()
    if actual != manifest.payload_sha256:
        raise PackageError(f"payload SHA-256 {actual} is not the manifest's {manifest.payload_sha256}")
    manifest_bytes = manifest.to_bytes()
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise PackageError(f"manifest is {len(manifest_bytes)} bytes, over the {MAX_MANIFEST_BYTES} limit")
    return UpdatePackage(manifest_bytes, key.sign(MANIFEST_SIGNING_CONTEXT + manifest_bytes), bytes(payload))


def verify_package_signature(
    package: UpdatePackage, public_key: bytes, *, max_bytes: int = MAX_MANIFEST_BYTES
) -> UpdateManifest:
    """Check only the signature and the manifest's form, e.g. to audit a package from an earlier round.

    Raises `fedward.crypto.SignatureError` or `PackageError`. It does not check the roster, round, run,
    replay or payload: admitting an update is `PackageVerifier.verify`'s job.
    """
    if len(package.manifest_bytes) > max_bytes:
        raise PackageError(f"manifest is {len(package.manifest_bytes)} bytes, over the {max_bytes} limit")
    verify(public_key, MANIFEST_SIGNING_CONTEXT + package.manifest_bytes, package.signature)
    return UpdateManifest.from_bytes(package.manifest_bytes, max_bytes=max_bytes)
