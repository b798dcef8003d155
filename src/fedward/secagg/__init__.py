"""Secure aggregation: the coordinator learns the sum of the sites' vectors and nothing else.

Bonawitz et al., "Practical secure aggregation for privacy-preserving machine learning", CCS 2017, with
the sparse neighbour graph of SecAgg+ (Bell et al., "Secure single-server aggregation with
(poly)logarithmic overhead", CCS 2020). Sans-IO: `SecAggSite` and `SecAggCoordinator` turn messages
(bytes) into messages; the transport only moves them. `FixedPoint` maps model updates into the ring.

Flow for one round, with `params = SessionParams.create(...)` built identically on both sides:

    coordinator = SecAggCoordinator(params)
    site = SecAggSite(params, "site-a", FixedPoint(...).encode(update))
    coordinator.receive("site-a", site.start())                # every site, then:
    for name, message in coordinator.advance().items():       # four times in all
        coordinator.receive(name, sites[name].receive(message))
    FixedPoint(...).decode(coordinator.result())               # the sum of the survivors' updates
"""

from fedward.secagg.coordinator import CoordinatorStage, SecAggCoordinator
from fedward.secagg.errors import AbortError, ProtocolError, SecAggConfigError, SecAggError
from fedward.secagg.graph import neighbours, shareholders
from fedward.secagg.messages import (
    AdvertiseKeys,
    EncryptedShares,
    KeyDirectory,
    MaskedInput,
    ShareInbox,
    UnmaskReply,
    UnmaskRequest,
)
from fedward.secagg.params import SessionParams
from fedward.secagg.quantize import FixedPoint, ring_dtype
from fedward.secagg.site import SecAggSite, SiteStage

__all__ = [
    "AbortError",
    "AdvertiseKeys",
    "CoordinatorStage",
    "EncryptedShares",
    "FixedPoint",
    "KeyDirectory",
    "MaskedInput",
    "ProtocolError",
    "SecAggConfigError",
    "SecAggCoordinator",
    "SecAggError",
    "SecAggSite",
    "SessionParams",
    "ShareInbox",
    "SiteStage",
    "UnmaskReply",
    "UnmaskRequest",
    "neighbours",
    "ring_dtype",
    "shareholders",
]
