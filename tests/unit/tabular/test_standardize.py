import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fedward.tabular import combine_stats, feature_sums
from fedward.tabular.datasets import dirichlet_split, load_dataset


@given(st.lists(st.integers(1, 30), min_size=1, max_size=6), st.integers(0, 1000))
def test_federated_standardization_equals_pooled(sizes, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.normal(3, 2, size=(n, 4)) for n in sizes]
    stats = combine_stats(feature_sums(p) for p in parts)
    pooled = np.concatenate(parts)
    np.testing.assert_allclose(stats.mean, pooled.mean(0), rtol=1e-5, atol=1e-5)
    std = pooled.std(0)
    np.testing.assert_allclose(stats.scale, np.where(std > 1e-12, std, 1.0), rtol=1e-4, atol=1e-4)


def test_constant_feature_gets_unit_scale():
    stats = combine_stats([feature_sums(np.array([[5.0, 1.0], [5.0, 2.0]]))])
    assert stats.scale[0] == 1.0


def test_dirichlet_split_partitions_rows_with_skew():
    _, y, _ = load_dataset("digits")
    splits = dirichlet_split(y, 10, 0.5, seed=3)
    rows = np.concatenate([np.concatenate([s.train, s.test]) for s in splits])
    assert sorted(rows.tolist()) == list(range(len(y)))  # a partition: every row once
    assert all(len(s.test) >= 10 for s in splits)
    mixes = np.array([np.bincount(y[np.concatenate([s.train, s.test])], minlength=10) for s in splits], float)
    mixes /= mixes.sum(1, keepdims=True)
    assert mixes.std(0).mean() > 0.03  # label skew: class shares differ between sites
    again = dirichlet_split(y, 10, 0.5, seed=3)
    assert all(np.array_equal(a.train, b.train) for a, b in zip(splits, again, strict=True))
