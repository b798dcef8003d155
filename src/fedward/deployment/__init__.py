"""Deployment: startup kits for a federation that runs across machines over mutual TLS.

`provision` makes a private certificate authority (`pki`, over `cryptography`'s x509, RFC 5280), the
Ed25519 signing keys and the signed roster (RFC 8032), and lays them out as one kit per participant
(`kits`); the coordinator service and the site nodes start from `load_coordinator_kit` and
`load_site_kit`. `revoke_site` takes a site out at the TLS handshake (the CRL) and in the roster.
"""

from fedward.deployment.kits import (
    AUTHORITY,
    AUTHORITY_FILES,
    COORDINATOR,
    COORDINATOR_FILES,
    KIT_FORMAT,
    SITE_FILES,
    CoordinatorKit,
    SiteKit,
    load_coordinator_kit,
    load_kit_config,
    load_site_kit,
)
from fedward.deployment.provisioning import ProvisionResult, provision
from fedward.deployment.revocation import RevokeResult, revoke_site

__all__ = [
    "AUTHORITY",
    "AUTHORITY_FILES",
    "COORDINATOR",
    "COORDINATOR_FILES",
    "KIT_FORMAT",
    "SITE_FILES",
    "CoordinatorKit",
    "ProvisionResult",
    "RevokeResult",
    "SiteKit",
    "load_coordinator_kit",
    "load_kit_config",
    "load_site_kit",
    "provision",
    "revoke_site",
]
