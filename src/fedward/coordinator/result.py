"""What one run of the federation produced: the setup the sites described, the final model, the privacy
spend and every round's record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedward.coordinator.personalization import PersonalizationResult
from fedward.coordinator.privacy import PrivacyState
from fedward.coordinator.rounds import RoundRecord
from fedward.coordinator.setup import FederationSetup
from fedward.core.arrays import Arrays
from fedward.release.gates import GateResult, gates_passed

__all__ = ["FederationResult"]


@dataclass
class FederationResult:
    run_id: str
    setup: FederationSetup
    params: Arrays
    privacy: PrivacyState
    rounds: list[RoundRecord] = field(default_factory=list)
    init_model_sha256: str | None = None  # the `[model] init` file the run started from, if any
    model_code_sha256: str | None = None  # the `[model] code` file the sites ran (training-code hash)
    personalization: PersonalizationResult | None = None  # None: the plan had no personalization
    # why the run ended before its planned rounds (the privacy budget, too few admitted sites); None: it ran
    # them all
    stopped: str | None = None
    gates: list[GateResult] | None = None  # the `[release]` gates' results on the final model; None: none set

    @property
    def release_status(self) -> str:
        """ "promoted" (every gate passed), "refused" (a gate failed: no release), or "ungated" (none set)."""
        if self.gates is None:
            return "ungated"
        return "promoted" if gates_passed(self.gates) else "refused"

    @property
    def rounds_completed(self) -> int:
        return sum(r.aggregated for r in self.rounds)

    @property
    def final(self) -> RoundRecord:
        return self.rounds[-1]

    @property
    def last_aggregated_round(self) -> int:
        """The last round that produced a new global model (the round the release names)."""
        return max(r.round for r in self.rounds if r.aggregated)
