"""The robust rules (trimmed mean, Krum, Multi-Krum, centered clip) and norm bounding: each against a
float64 reference written out plainly, each against its stated tolerance, with the power check that the
plain weighted mean (FedAvg) is moved far by the same attack."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from fedward.aggregation import NormBounded, TooFewUpdates, WeightedMean, build_strategy
from fedward.aggregation.robust import (
    CenteredClip,
    Krum,
    MultiKrum,
    TrimmedMean,
    centered_clip,
    krum_scores,
    multikrum,
    trimmed_mean,
)

DIM = 6
HONEST = 7


def _combine(strategy, rows, start=None):
    start = {"p": np.zeros(rows[0].shape, np.float32)} if start is None else start
    acc = strategy.accumulator(start)
    for r in rows:
        acc.add({"p": np.asarray(r, np.float32)}, 10.0)
    return acc.result()["p"].astype(np.float64)


def _fedavg(rows):
    acc = WeightedMean()
    for r in rows:
        acc.add({"p": np.asarray(r, np.float32)}, 10.0)
    return acc.result()["p"].astype(np.float64)


def _honest(seed=0, n=HONEST):
    rng = np.random.default_rng(seed)
    return [rng.normal(1.0, 0.1, size=DIM) for _ in range(n)]


# ------------------------------------------------------------------------------ float64 references


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(3, 12), st.floats(0.05, 0.45))
def test_trimmed_mean_matches_scipy_trim_mean(seed, n, beta):
    x = np.random.default_rng(seed).normal(size=(n, DIM))
    k = int(np.floor(beta * n))
    np.testing.assert_allclose(trimmed_mean(x, k), stats.trim_mean(x, beta, axis=0), rtol=1e-12)
    got = _combine(TrimmedMean(beta), list(x))
    np.testing.assert_allclose(got, stats.trim_mean(x, beta, axis=0), rtol=1e-5, atol=1e-5)


def _krum_reference(x, f, m):
    n = len(x)
    scores = []
    for i in range(n):
        d = sorted(float(np.sum((x[i] - x[j]) ** 2)) for j in range(n) if j != i)
        scores.append(sum(d[: n - f - 2]))
    order = sorted(range(n), key=lambda i: (scores[i], i))
    return np.mean([x[i] for i in order[:m]], axis=0), scores


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 3), st.data())
def test_krum_and_multikrum_match_a_loop_reference(seed, f, data):
    n = data.draw(st.integers(2 * f + 3, 2 * f + 8))
    m = data.draw(st.integers(1, n - f))
    x = np.random.default_rng(seed).normal(size=(n, DIM))
    expected, scores = _krum_reference(x, f, m)
    np.testing.assert_allclose(krum_scores(x, f), scores, rtol=1e-9)
    np.testing.assert_allclose(multikrum(x, f, m), expected, rtol=1e-9)
    np.testing.assert_allclose(_combine(MultiKrum(f, m), list(x)), expected, rtol=1e-5, atol=1e-5)
    krum, _ = _krum_reference(x, f, 1)
    np.testing.assert_allclose(_combine(Krum(f), list(x)), krum, rtol=1e-5, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 10), st.floats(0.01, 5.0), st.integers(1, 5))
def test_centered_clip_matches_a_loop_reference(seed, n, tau, iterations):
    rng = np.random.default_rng(seed)
    x, v0 = rng.normal(size=(n, DIM)), rng.normal(size=DIM)
    v = v0.copy()
    for _ in range(iterations):
        steps = []
        for xi in x:
            d = xi - v
            norm = np.sqrt(np.sum(d * d))
            steps.append(d * min(1.0, tau / norm) if norm > 0 else d)
        v = v + np.mean(steps, axis=0)
    np.testing.assert_allclose(centered_clip(x, v0, tau, iterations), v, rtol=1e-9, atol=1e-12)
    got = _combine(CenteredClip(tau, iterations), list(x), {"p": v0.astype(np.float32)})
    np.testing.assert_allclose(got, v, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ tolerance + power


ROBUST = {
    "trimmed_mean (f=2, beta=0.25)": lambda: TrimmedMean(0.25, byzantine_sites=2),
    "krum (f=2)": lambda: Krum(2),
    "multikrum (f=2, m=5)": lambda: MultiKrum(2, 5),
    "centered_clip (tau=0.5)": lambda: CenteredClip(0.5, 5, byzantine_sites=2),
    "fedmedian": lambda: build_strategy("fedmedian", mu=0, server_lr=1, beta1=0, beta2=0, tau=1),
}


@pytest.mark.parametrize("outlier", [1e6, -1e6])
@pytest.mark.parametrize("rule", sorted(ROBUST))
def test_f_outliers_leave_a_robust_rule_near_the_honest_mean(rule, outlier):
    """2 of 9 sites send 1e6 in every coordinate: each robust rule stays within the honest spread; the
    power check: FedAvg of the same rows is moved by more than 1e5."""
    honest = _honest()
    rows = honest + [np.full(DIM, outlier)] * 2
    honest_mean = np.mean(honest, axis=0)
    got = _combine(ROBUST[rule](), rows)
    assert np.max(np.abs(got - honest_mean)) < 0.5, got
    assert np.max(np.abs(_fedavg(rows) - honest_mean)) > 1e5  # power check: the attack works on FedAvg


def test_krum_picks_an_honest_model_under_a_colluding_cluster():
    """Two attackers send the same far model (they agree with each other, not with the honest sites):
    Krum with f = 2 still picks an honest row."""
    honest = _honest(1)
    rows = [*honest, np.full(DIM, 50.0), np.full(DIM, 50.0)]
    got = _combine(Krum(2), rows)
    assert any(np.allclose(got, h, atol=1e-5) for h in honest)


@pytest.mark.parametrize(
    ("strategy", "n", "message"),
    [
        (Krum(2), 6, "n >= 2f + 3 = 7"),
        (MultiKrum(1, 5), 5, "multikrum_m = 5 is more than n - f = 4"),
        (TrimmedMean(0.2, byzantine_sites=2), 9, "trims 1 per side"),
        (CenteredClip(1.0, 3, byzantine_sites=2), 4, "more than 2f = 4"),
    ],
)
def test_too_few_updates_for_the_tolerance_is_refused_at_aggregation(strategy, n, message):
    with pytest.raises(TooFewUpdates, match=re.escape(message)):
        _combine(strategy, _honest(n=n))


def test_robust_rules_need_individual_updates_and_the_start_model():
    for make in ROBUST.values():
        assert make().requires_individual_updates
    with pytest.raises(ValueError, match="start model"):
        Krum(1).accumulator()


# ------------------------------------------------------------------------------ norm bounding


def test_norm_bound_clips_each_update_and_stops_a_scaled_update():
    start = {"p": np.full(DIM, 2.0, np.float32)}
    honest = [start["p"] + 0.01 * r.astype(np.float32) for r in _honest(2)]
    attack = start["p"] + np.float32(1e4)  # model replacement: a huge update
    bounded = NormBounded(WeightedMean(), start, 0.1)
    for r in [*honest, attack]:
        bounded.add({"p": r}, 1.0)
    got = bounded.result()["p"]
    assert np.linalg.norm(got - start["p"]) <= 0.1 + 1e-6
    assert np.linalg.norm(_fedavg([*honest, attack]) - start["p"]) > 1e3  # power check


def test_norm_bound_leaves_small_updates_alone():
    start = {"p": np.zeros(DIM, np.float32)}
    rows = [0.01 * r.astype(np.float32) for r in _honest(3)]
    bounded = NormBounded(WeightedMean(), start, 10.0)
    for r in rows:
        bounded.add({"p": r}, 1.0)
    np.testing.assert_allclose(bounded.result()["p"], _fedavg(rows), rtol=1e-6)


def test_every_rule_returns_the_common_model_when_all_sites_agree():
    """Identical models: every rule gives that model (centered clip moves at most tau per iteration, so
    it starts within tau of it)."""
    row = np.arange(DIM, dtype=np.float64)
    start = {"p": (row - 0.1).astype(np.float32)}
    for make in ROBUST.values():
        np.testing.assert_allclose(_combine(make(), [row] * 9, start), row, atol=1e-5)
