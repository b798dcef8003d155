"""Test-wide settings: hypothesis without per-example deadlines (CI machines are shared and noisy)."""

from hypothesis import HealthCheck, settings

settings.register_profile("fedward", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fedward")
