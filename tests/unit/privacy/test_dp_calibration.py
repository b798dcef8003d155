"""Noise calibration: never above the target, tight, the analytic Gaussian for a single release."""

import json
import math
import time
from pathlib import Path

import pytest

from fedward.privacy import PrivacyEvent, calibrate_noise_multiplier, compute_epsilon
from fedward.privacy.calibration import MIN_NOISE_MULTIPLIER

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "dp-epsilon.json").read_text())


def _epsilon(sigma: float, q: float, steps: int, delta: float = 1e-5) -> float:
    return compute_epsilon([PrivacyEvent(sigma, q, steps)], delta).epsilon


def test_single_release_is_the_analytic_gaussian_not_the_classic_formula():
    cal = VECTORS["calibration"]
    sigma = calibrate_noise_multiplier(cal["epsilon"], cal["delta"], 1.0, 1)
    assert sigma == pytest.approx(cal["sigma"], rel=2e-4)
    classic = math.sqrt(2 * math.log(1.25 / cal["delta"])) / cal["epsilon"]  # 4.84: 30% more noise
    assert abs(sigma - classic) > 1.0


@pytest.mark.parametrize("target", [0.5, 1.0, 3.0, 8.0])
@pytest.mark.parametrize(("q", "steps"), [(1.0, 1), (1.0, 40), (0.1, 50), (0.02, 500)])
def test_calibration_never_overshoots_and_is_tight(target, q, steps):
    sigma = calibrate_noise_multiplier(target, 1e-5, q, steps)
    assert _epsilon(sigma, q, steps) <= target
    assert _epsilon(0.99 * sigma, q, steps) > target


def test_more_budget_means_less_noise():
    args = (1e-5, 1.0, 10)
    assert calibrate_noise_multiplier(1.0, *args) > calibrate_noise_multiplier(3.0, *args)


def test_a_lavish_target_gets_the_floor():
    sigma = calibrate_noise_multiplier(500.0, 1e-5, 1.0, 1)
    assert sigma == MIN_NOISE_MULTIPLIER
    assert _epsilon(sigma, 1.0, 1) <= 500.0


def test_an_unreachable_target_is_a_clear_error():
    with pytest.raises(ValueError, match="unreachable"):
        calibrate_noise_multiplier(1e-4, 1e-5, 1.0, 1_000_000)


@pytest.mark.parametrize(
    ("target", "delta", "q", "steps"),
    [
        (0.0, 1e-5, 0.1, 10),
        (-1.0, 1e-5, 0.1, 10),
        (math.inf, 1e-5, 0.1, 10),
        (math.nan, 1e-5, 0.1, 10),
        (1.0, 0.0, 0.1, 10),
        (1.0, 1.0, 0.1, 10),
        (1.0, 1e-5, 0.0, 10),
        (1.0, 1e-5, 1.5, 10),
        (1.0, 1e-5, 0.1, 0),
    ],
)
def test_bad_arguments_are_refused(target, delta, q, steps):
    with pytest.raises(ValueError):
        calibrate_noise_multiplier(target, delta, q, steps)


def test_calibration_of_a_long_run_is_quick():
    start = time.perf_counter()  # generous: a regression guard against a search gone wild, not a benchmark
    sigma = calibrate_noise_multiplier(3.0, 1e-5, 0.04, 2250)
    assert time.perf_counter() - start < 30
    assert _epsilon(sigma, 0.04, 2250) <= 3.0
