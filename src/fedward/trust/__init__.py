"""Trust: identities, the admission roster, and signed update packages (Ed25519, RFC 8032).

The federation administrator signs a roster of site keys (`roster`); each site signs a canonical
manifest for every update it sends (`manifest`, `package`); the coordinator admits an update only after
`PackageVerifier` has checked the signer, signature, manifest, round, model, replay and payload
(`verify`). Key files are made by `keys.new_identity`.
"""

from fedward.trust.errors import PackageError, PackageRejected, Reason, RosterError, TrustError
from fedward.trust.federation_keys import FederationKeys, HeldKeyError, new_federation_keys
from fedward.trust.formats import NAME_PATTERN, format_utc, parse_utc
from fedward.trust.keys import new_identity
from fedward.trust.manifest import (
    MAX_MANIFEST_BYTES,
    PayloadKind,
    PolicyRecord,
    PrivacyRecord,
    TrainingCode,
    UpdateManifest,
)
from fedward.trust.package import (
    MANIFEST_FIELD,
    MANIFEST_SIGNING_CONTEXT,
    SIGNATURE_FIELD,
    UpdatePackage,
    sign_package,
    verify_package_signature,
)
from fedward.trust.roster import (
    ROSTER_SIGNING_CONTEXT,
    Roster,
    SignedRoster,
    SiteEntry,
    SiteStatus,
    admit,
    read_roster,
    revoke,
    sign_roster,
    verify_roster,
    write_roster,
)
from fedward.trust.verify import PackageVerifier

__all__ = [
    "MANIFEST_FIELD",
    "MANIFEST_SIGNING_CONTEXT",
    "MAX_MANIFEST_BYTES",
    "NAME_PATTERN",
    "ROSTER_SIGNING_CONTEXT",
    "SIGNATURE_FIELD",
    "FederationKeys",
    "HeldKeyError",
    "PackageError",
    "PackageRejected",
    "PackageVerifier",
    "PayloadKind",
    "PolicyRecord",
    "PrivacyRecord",
    "Reason",
    "Roster",
    "RosterError",
    "SignedRoster",
    "SiteEntry",
    "SiteStatus",
    "TrainingCode",
    "TrustError",
    "UpdateManifest",
    "UpdatePackage",
    "admit",
    "format_utc",
    "new_federation_keys",
    "new_identity",
    "parse_utc",
    "read_roster",
    "revoke",
    "sign_package",
    "sign_roster",
    "verify_package_signature",
    "verify_roster",
    "write_roster",
]
