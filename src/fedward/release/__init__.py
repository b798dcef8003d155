"""Signed releases: each published global model with a record the coordinator signs (Ed25519, RFC 8032)
over canonical JSON, and the checks that anyone holding the coordinator's public key can run.

`write_release` publishes `DIR/releases/<version>/` atomically; `verify_release` checks one release and
`verify_chain` a run's whole chain. Verifying with the folder's own coordinator.pub proves integrity, not
the coordinator's identity: pin the key (`--key`) for that.

`verify_trail` checks a run directory's ledger and releases against each other (a ledger cut back is a
failure); `write_manifest`/`verify_manifest` sign and check `DIR/run-manifest.json`, the hashes of every
file of a run directory.
"""

from fedward.release.manifest import (
    MANIFEST_FILE,
    ManifestError,
    RunManifest,
    verify_manifest,
    write_manifest,
)
from fedward.release.publish import write_release
from fedward.release.record import (
    INFERENCE_FILE,
    KEY_FILE,
    MODEL_FILE,
    ONNX_FILE,
    RECORD_FILE,
    RELEASE_FILES,
    SIGNATURE_FILE,
    ReleaseError,
    ReleaseRecord,
)
from fedward.release.trail import Trail, verify_trail
from fedward.release.verify import verify_chain, verify_release

__all__ = [
    "INFERENCE_FILE",
    "KEY_FILE",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "ONNX_FILE",
    "RECORD_FILE",
    "RELEASE_FILES",
    "SIGNATURE_FILE",
    "ManifestError",
    "ReleaseError",
    "ReleaseRecord",
    "RunManifest",
    "Trail",
    "verify_chain",
    "verify_manifest",
    "verify_release",
    "verify_trail",
    "write_manifest",
    "write_release",
]
