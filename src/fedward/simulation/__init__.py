"""In-process federation: every site in one process, the same round loop as a deployment."""

from fedward.simulation.runner import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
