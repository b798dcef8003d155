"""Test-wide settings: hypothesis without per-example deadlines (CI machines are shared and noisy), and
OpenMP threads that sleep instead of spinning (see fedward/cli/__init__.py), set before torch loads."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hypothesis import HealthCheck, settings

settings.register_profile("fedward", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fedward")
