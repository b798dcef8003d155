"""The coordinator role: set up the federation, run rounds, aggregate, evaluate."""

from fedward.coordinator.federation import federate, run_federation
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.result import FederationResult
from fedward.coordinator.rounds import RoundRecord
from fedward.coordinator.selection import select_sites

__all__ = ["FederationPlan", "FederationResult", "RoundRecord", "federate", "run_federation", "select_sites"]
