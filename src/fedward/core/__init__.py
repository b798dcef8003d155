"""Foundations shared by every layer: named parameter arrays and the typed messages (Task, Reply)."""
