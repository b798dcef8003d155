"""The coordinator role: set up the federation, run rounds, aggregate, evaluate."""

from fedward.coordinator.federation import FederationPlan, FederationResult, run_federation
from fedward.coordinator.rounds import RoundRecord
from fedward.coordinator.selection import select_sites

__all__ = ["FederationPlan", "FederationResult", "RoundRecord", "run_federation", "select_sites"]
