"""Who prints a generated corpus's pages, and the seed domain every random draw of that corpus comes from.

A federation's cast (the default) is its hospitals (`HOSPITAL_NAMES`) and its pool of outside senders
(`SENDER_NAMES`); a public pretraining corpus (public.py) has a cast of its own, so no name or identity
is shared. The seed domain keeps every draw apart as well: the generator seeds each of its streams with
`np.random.SeedSequence([seed, stream, ...])`, where `stream` is a small constant (0 to 5 today, always far
below 2**16) and `seed` is below 2**32 (one 32-bit word). A cast with domain D > 0 uses the seed
`seed + D * 2**32` instead, which numpy splits into the two words `[seed, D]`; with D >= 2**16 the second
entropy word of every one of its streams is D, where a federation's (domain 0) is a stream number below
2**16, so no SeedSequence input of the one equals any input of the other, whatever the two seeds are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fedward.documents.synth.hospitals import FEDERATION_HOSPITALS, HospitalNames
from fedward.documents.synth.senders import SENDER_NAMES

__all__ = ["FEDERATION_CAST", "MAX_SEED", "Cast"]

MAX_SEED = 2**32  # a corpus seed is one 32-bit word (as a run's [federation] seed is)
_MIN_DOMAIN = 2**16  # above every stream number the generator uses


def _federation_senders() -> Mapping[str, tuple[str, ...]]:
    return SENDER_NAMES


@dataclass(frozen=True)
class Cast:
    """The hospitals and outside senders a corpus is printed by, and its seed domain (0: federations)."""

    hospitals: HospitalNames = FEDERATION_HOSPITALS
    senders: Mapping[str, tuple[str, ...]] = field(default_factory=_federation_senders)
    domain: int = 0

    def __post_init__(self) -> None:
        if self.domain != 0 and not _MIN_DOMAIN <= self.domain < 2**32:
            raise ValueError(f"a cast's seed domain is 0 or from 2**16 to 2**32 - 1, got {self.domain}")

    def entropy_seed(self, seed: int) -> int:
        """The seed the generator's streams start from: `seed` itself for domain 0, else `[seed, domain]`."""
        if not 0 <= seed < MAX_SEED:
            raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, got {seed}")
        return seed + (self.domain << 32)


FEDERATION_CAST = Cast()
