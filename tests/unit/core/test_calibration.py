"""Calibration and confidence (fedward.core.calibration): Wilson intervals against published values,
the ECE and reliability bins on hand-made cases, and the threshold that reaches a target accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedward.core.calibration import (
    NUM_BINS,
    choose_threshold,
    ece_from_bins,
    expected_calibration_error,
    reliability,
    wilson_interval,
)

# Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 17, Table I, method 3 (Wilson score, no continuity correction)
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("k", "n", "low", "high"), NEWCOMBE)
def test_wilson_interval_matches_the_published_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)  # type: ignore[misc]
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_interval_is_the_formula_and_exact_at_the_ends() -> None:
    z = 1.959963984540054
    k, n = 7, 19
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0  # type: ignore[index]
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="6 successes out of 5"):
        wilson_interval(6, 5)


def test_ece_on_a_hand_made_case() -> None:
    # two records at 0.9 (one right): |0.5 - 0.9| = 0.4; two at 0.6 (both right): |1.0 - 0.6| = 0.4
    conf, right = [0.9, 0.9, 0.6, 0.6], [True, False, True, True]
    assert expected_calibration_error(conf, right) == pytest.approx(0.4)
    bins = reliability(conf, right)
    assert len(bins.n) == NUM_BINS and sum(bins.n) == 4
    assert bins.n[13] == 2 and bins.correct[13] == 1  # 0.9 lies in (13/15, 14/15]
    assert bins.n[8] == 2 and bins.correct[8] == 2  # 0.6 lies in (8/15, 9/15]
    assert ece_from_bins(bins.n, bins.correct, bins.confidence_sum) == pytest.approx(0.4)


def test_a_calibrated_model_has_no_ece_and_the_bins_have_closed_upper_edges() -> None:
    # in one bin, confidence 0.75 and three of four right: calibrated
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    bins = reliability([0.0, 1 / 15, 1.0], [True, True, True])
    assert bins.n[0] == 2 and bins.n[-1] == 1
    assert expected_calibration_error([], []) is None
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability([1.2], [True])


def test_the_threshold_is_the_lowest_that_reaches_the_target() -> None:
    conf = [0.99, 0.95, 0.90, 0.80, 0.70, 0.60]
    right = [True, True, True, False, True, False]
    # accuracy from the top down: 1, 1, 1, 3/4, 4/5, 4/6
    assert choose_threshold(conf, right, 0.75) == 0.70
    assert choose_threshold(conf, right, 0.80) == 0.70
    assert choose_threshold(conf, right, 0.90) == 0.90
    assert choose_threshold(conf, right, 0.50) == 0.60
    assert choose_threshold(np.asarray(conf)[::-1], np.asarray(right)[::-1], 0.90) == 0.90  # any order


def test_a_threshold_takes_ties_whole_and_may_not_exist() -> None:
    assert choose_threshold([0.9, 0.9, 0.5], [True, False, True], 1.0) is None  # cannot keep half a tie
    assert choose_threshold([0.9, 0.8], [False, True], 0.95) is None
    assert choose_threshold([], [], 0.9) is None
