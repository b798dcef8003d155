"""Aggregation invariants (hypothesis) and the server-optimizer update rules against hand computation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fedward.aggregation import ROBUST_NAMES, STRATEGY_NAMES, WeightedMean, build_strategy
from fedward.aggregation.fedavg import FedAvg, FedProx
from fedward.aggregation.fedopt import FedAdagrad, FedAdam, FedYogi
from fedward.aggregation.median import FedMedian

finite = st.floats(-100, 100, allow_nan=False, width=32)
vectors = arrays(np.float32, st.integers(1, 20), elements=finite)
counts = st.lists(st.integers(1, 10_000), min_size=1, max_size=8)


def _mean(updates, weights):
    acc = WeightedMean()
    for u, w in zip(updates, weights, strict=True):
        acc.add({"p": u}, w)
    return acc.result()["p"]


@given(vectors, counts)
def test_fedavg_of_identical_updates_is_that_update(u, ns):
    agg = FedAvg().aggregate({"p": np.zeros_like(u)}, {"p": _mean([u] * len(ns), ns)})
    np.testing.assert_allclose(agg["p"], u, rtol=1e-5, atol=1e-4)


@given(st.lists(vectors, min_size=2, max_size=5), st.integers(2, 1000), st.data())
def test_weights_invariant_to_scaling_all_counts(updates, k, data):
    updates = [np.resize(u, updates[0].shape).astype(np.float32) for u in updates]
    ns = data.draw(st.lists(st.integers(1, 500), min_size=len(updates), max_size=len(updates)))
    a = _mean(updates, ns)
    b = _mean(updates, [k * n for n in ns])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


@given(st.lists(vectors, min_size=1, max_size=5), st.data())
def test_weighted_mean_matches_numpy(updates, data):
    updates = [np.resize(u, updates[0].shape).astype(np.float32) for u in updates]
    ns = data.draw(st.lists(st.integers(1, 500), min_size=len(updates), max_size=len(updates)))
    expected = np.average(np.stack(updates).astype(np.float64), axis=0, weights=ns)
    np.testing.assert_allclose(_mean(updates, ns), expected, rtol=1e-4, atol=1e-3)


@settings(max_examples=50)
@given(st.integers(0, 2**31), st.lists(st.integers(2, 40), min_size=2, max_size=6), st.floats(0.001, 0.1))
def test_one_full_batch_fedavg_step_equals_centralized_gradient_descent(seed, sizes, lr):
    """Linear regression, MSE loss: the sample-weighted mean of the sites' one-step models is one step
    of gradient descent on the pooled data (McMahan et al. 2017, FedSGD equivalence)."""
    rng = np.random.default_rng(seed)
    d = 4
    w0 = rng.normal(size=d)
    sites = [(rng.normal(size=(n, d)), rng.normal(size=n)) for n in sizes]

    def grad(x, y, w):
        return 2.0 / len(y) * x.T @ (x @ w - y)

    acc = WeightedMean()
    for x, y in sites:
        acc.add({"w": (w0 - lr * grad(x, y, w0)).astype(np.float32)}, len(y))
    fed = FedAvg().aggregate({"w": w0.astype(np.float32)}, acc.result())["w"]
    x_all = np.concatenate([x for x, _ in sites])
    y_all = np.concatenate([y for _, y in sites])
    central = w0 - lr * grad(x_all, y_all, w0)
    np.testing.assert_allclose(fed, central, rtol=1e-4, atol=1e-4)


def test_weighted_mean_rejects_mismatches():
    acc = WeightedMean()
    acc.add({"p": np.ones(3, np.float32)}, 1)
    with pytest.raises(ValueError, match="names differ"):
        acc.add({"q": np.ones(3, np.float32)}, 1)
    with pytest.raises(ValueError, match="shape"):
        acc.add({"p": np.ones(4, np.float32)}, 1)
    with pytest.raises(ValueError, match="positive"):
        acc.add({"p": np.ones(3, np.float32)}, 0)
    with pytest.raises(ValueError, match="no updates"):
        WeightedMean().result()


def _reference_fedopt(rule, w, means, eta, b1, b2, tau):
    """Reddi et al. 2021, Algorithm 2, written out in float64 with v starting at tau^2."""
    m, v = np.zeros_like(w), np.full_like(w, tau**2)
    for x in means:
        delta = x - w
        m = b1 * m + (1 - b1) * delta
        if rule == "adagrad":
            v = v + delta**2
        elif rule == "yogi":
            v = v - (1 - b2) * delta**2 * np.sign(v - delta**2)
        else:
            v = b2 * v + (1 - b2) * delta**2
        w = w + eta * m / (np.sqrt(v) + tau)
    return w


@pytest.mark.parametrize(("cls", "rule"), [(FedAdam, "adam"), (FedYogi, "yogi"), (FedAdagrad, "adagrad")])
def test_server_optimizers_follow_reddi_et_al(cls, rule):
    rng = np.random.default_rng(1)
    w = rng.normal(size=10)
    means = [w + rng.normal(scale=0.1, size=10) for _ in range(5)]
    strategy = cls(server_lr=0.05, beta1=0.9, beta2=0.99, tau=1e-3)
    cur = {"p": w.astype(np.float32)}
    for x in means:
        cur = strategy.aggregate(cur, {"p": x.astype(np.float32)})
    expected = _reference_fedopt(rule, w, means, 0.05, 0.9, 0.99, 1e-3)
    np.testing.assert_allclose(cur["p"], expected, rtol=1e-4, atol=1e-5)
    assert strategy.steps == 5


def test_fedprox_sends_mu_and_averages_like_fedavg():
    assert FedProx(0.1).site_config() == {"proximal_mu": 0.1}
    assert FedAvg().site_config() == {}
    with pytest.raises(ValueError):
        FedProx(-1)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_registry_builds_every_strategy(name):
    s = build_strategy(
        name, mu=0.01, server_lr=0.01, beta1=0.9, beta2=0.99, tau=1e-3, byzantine_sites=1, multikrum_m=2
    )
    assert s.name == name
    # only the robust rules need each site's update; the others run under secure aggregation
    assert s.requires_individual_updates == (name in ROBUST_NAMES)


def test_median_ignores_one_hostile_site_where_the_mean_does_not():
    honest = [{"w": np.full(4, v, np.float32)} for v in (1.0, 1.1, 0.9, 1.05)]
    hostile = {"w": np.full(4, 1e6, np.float32)}
    median = FedMedian().accumulator()
    mean = FedAvg().accumulator()
    for update in [*honest, hostile]:
        median.add(update, 10)
        mean.add(update, 10)
    assert median.count == 5
    np.testing.assert_allclose(median.result()["w"], 1.05)
    assert mean.result()["w"][0] > 1e5  # power check: the mean is dragged away by the one site
    np.testing.assert_allclose(FedMedian().aggregate({"w": np.zeros(4)}, median.result())["w"], 1.05)


def test_median_refuses_mismatched_updates():
    median = FedMedian().accumulator()
    median.add({"w": np.zeros(2, np.float32)}, 1)
    with pytest.raises(ValueError, match="parameter names differ"):
        median.add({"v": np.zeros(2, np.float32)}, 1)
    with pytest.raises(ValueError, match="weight"):
        median.add({"w": np.zeros(2, np.float32)}, 0)
    with pytest.raises(ValueError, match="no updates"):
        FedMedian().accumulator().result()


def test_registry_rejects_unknown():
    with pytest.raises(ValueError, match="unknown strategy"):
        build_strategy("median", mu=0, server_lr=0.1, beta1=0.9, beta2=0.9, tau=1e-3)


def test_result_is_the_mean_scaled_in_place_and_ends_the_accumulation():
    rng = np.random.default_rng(3)
    acc = WeightedMean()
    weights = (3.0, 5.0, 8.0)
    updates = [rng.normal(size=(4, 5)).astype(np.float32) for _ in weights]
    for w, u in zip(weights, updates, strict=True):
        acc.add({"p": u}, w)
    expected = sum(w * u.astype(np.float64) for w, u in zip(weights, updates, strict=True)) / sum(weights)
    result = acc.result()["p"]
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-7)
    assert acc.count == 0
    with pytest.raises(ValueError, match="no updates"):
        acc.result()


def test_mean_keeps_the_sum_and_equals_result():
    acc = WeightedMean()
    acc.add({"p": np.ones((2, 3), np.float32)}, 1.0)
    acc.add({"p": np.full((2, 3), 4.0, np.float32)}, 3.0)
    first, second = acc.mean()["p"], acc.mean()["p"]
    assert first is not second and acc.count == 2
    np.testing.assert_array_equal(first, np.full((2, 3), 3.25, np.float32))
    np.testing.assert_array_equal(acc.result()["p"], first)
