"""Signed releases: each published global model with a record the coordinator signs (Ed25519, RFC 8032)
over canonical JSON, and the checks that anyone holding the coordinator's public key can run.

`write_release` publishes `DIR/releases/<version>/` atomically; `verify_release` checks one release and
`verify_chain` a run's whole chain. Verifying with the folder's own coordinator.pub proves integrity, not
the coordinator's identity: pin the key (`--key`) for that.
"""

from fedward.release.publish import write_release
from fedward.release.record import (
    KEY_FILE,
    MODEL_FILE,
    RECORD_FILE,
    RELEASE_FILES,
    SIGNATURE_FILE,
    ReleaseError,
    ReleaseRecord,
)
from fedward.release.verify import verify_chain, verify_release

__all__ = [
    "KEY_FILE",
    "MODEL_FILE",
    "RECORD_FILE",
    "RELEASE_FILES",
    "SIGNATURE_FILE",
    "ReleaseError",
    "ReleaseRecord",
    "verify_chain",
    "verify_release",
    "write_release",
]
