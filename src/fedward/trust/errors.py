"""The narrow errors of the trust layer, and the stable reason codes of a rejected update package.

`RosterError` is a `UserError`: a roster that is missing, tampered with or signed by the wrong key is
something the federation administrator fixes, and the CLI prints it in one or two lines. A rejected
update package is not a user error but data: `PackageRejected` carries a reason code, which is written
to the ledger and must therefore never change spelling, and a human-readable detail.
"""

from __future__ import annotations

from enum import StrEnum

from fedward.errors import UserError

__all__ = ["PackageError", "PackageRejected", "Reason", "RosterError", "TrustError"]


class TrustError(Exception):
    """Base class of the errors raised by `fedward.trust`."""


class RosterError(TrustError, UserError):
    """A roster cannot be read, does not verify, is malformed, or a change to it is invalid."""


class PackageError(TrustError, ValueError):
    """An update manifest or package is malformed (unknown or missing keys, wrong types, oversize)."""


class Reason(StrEnum):
    """Why a package was rejected. The values go into the ledger: add new ones, never rename."""

    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    OVERSIZE_MANIFEST = "oversize_manifest"
    MALFORMED_MANIFEST = "malformed_manifest"
    UNKNOWN_SIGNER = "unknown_signer"
    REVOKED_SIGNER = "revoked_signer"
    EXPIRED_SIGNER = "expired_signer"
    WRONG_FEDERATION = "wrong_federation"
    WRONG_RUN = "wrong_run"
    WRONG_ROUND = "wrong_round"
    WRONG_BASE_MODEL = "wrong_base_model"
    REPLAYED = "replayed"
    PAYLOAD_HASH_MISMATCH = "payload_hash_mismatch"
    MALFORMED_PAYLOAD = "malformed_payload"
    NON_FINITE_PAYLOAD = "non_finite_payload"
    POLICY_FAILED = "policy_failed"
    NUM_SAMPLES_MISMATCH = "num_samples_mismatch"  # the reply's weight is not the signed one
    NUM_SAMPLES_EXCEEDS_SETUP = "num_samples_exceeds_setup"  # more samples than the site described
    MALFORMED = "malformed"  # an unexpected error inside verification: fail closed


class PackageRejected(TrustError):
    """An update package failed verification; `reason` is a stable `Reason` code."""

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")
