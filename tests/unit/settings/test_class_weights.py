"""`[strategy] class_weights`: the weights against scikit-learn, the "auto" rule, and the federated
weights (from the sites' summed DESCRIBE counts) equal to the pooled ones (from the concatenated labels)."""

import typing
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

from fedward.config import StrategyConfig, parse_config
from fedward.coordinator.setup import federated_class_counts
from fedward.core.messages import Reply, ReplyStatus, TaskKind
from fedward.settings.class_weights import CLASS_WEIGHT_MODES, SKEW_RATIO, class_weights, is_skewed
from fedward.simulation.baselines import label_counts
from fedward.site import LocalData

CLASSES = ["a", "b", "c", "d"]


@given(st.lists(st.sampled_from(CLASSES), min_size=1, max_size=200))
def test_balanced_weights_match_scikit_learn_on_the_classes_present(labels):
    weights = class_weights(Counter(labels), CLASSES, "balanced")
    assert weights is not None
    present = sorted(set(labels))
    expected = compute_class_weight("balanced", classes=np.array(present), y=np.array(labels))
    for c, w in zip(present, expected, strict=True):
        assert weights[CLASSES.index(c)] == pytest.approx(w, rel=1e-12)
    for i, c in enumerate(CLASSES):
        if c not in present:
            assert weights[i] == 1.0  # no training row carries it: neutral, and positive on the wire


def test_balanced_weights_average_one_over_the_training_rows():
    counts = {"a": 90, "b": 10}
    weights = class_weights(counts, ["a", "b"], "balanced")
    assert weights == (100 / 180, 100 / 20)
    assert sum(counts[c] * w for c, w in zip(["a", "b"], weights, strict=True)) == pytest.approx(100)


def test_balanced_on_a_balanced_set_is_all_ones_and_none_is_none():
    assert class_weights({"a": 5, "b": 5}, ["a", "b"], "balanced") == (1.0, 1.0)
    assert class_weights({"a": 90, "b": 10}, ["a", "b"], "none") is None


@pytest.mark.parametrize(
    ("counts", "skewed"),
    [
        ({"a": 20, "b": 10}, True),  # exactly 2x: weighed
        ({"a": 19, "b": 10}, False),  # just under
        ({"a": 10, "b": 10}, False),
        ({"a": 10, "b": 0, "c": 25}, True),  # an empty class is not "the smallest"
        ({"a": 10, "b": 0}, False),  # one class with rows: nothing to balance
        ({}, False),
    ],
)
def test_the_auto_rule(counts, skewed):
    classes = ["a", "b", "c"]
    assert SKEW_RATIO == 2
    assert is_skewed(counts, classes) is skewed
    auto = class_weights(counts, classes, "auto")
    assert auto == (class_weights(counts, classes, "balanced") if skewed else None)


def test_an_unknown_mode_or_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="class_weights"):
        class_weights({"a": 1}, ["a"], "inverse")
    with pytest.raises(ValueError, match="negative"):
        class_weights({"a": -1, "b": 3}, ["a", "b"], "balanced")


def test_the_config_offers_exactly_the_modes_the_function_knows():
    field = StrategyConfig.model_fields["class_weights"]
    assert typing.get_args(field.annotation) == CLASS_WEIGHT_MODES
    assert StrategyConfig().class_weights == "auto"
    with pytest.raises(ValueError):
        StrategyConfig(class_weights="inverse")


def test_the_default_mode_leaves_the_config_hash_as_it_was(tmp_path):
    raw = {
        "federation": {"task": "tabular", "name": "f", "rounds": 1, "seed": 3},
        "model": {"name": "logistic"},
        "sites": [{"name": "s", "train": "t.csv", "test": "u.csv"}],
    }
    auto = parse_config(raw, source=tmp_path / "f.toml")
    explicit = parse_config(raw | {"strategy": {"class_weights": "auto"}}, source=tmp_path / "f.toml")
    balanced = parse_config(raw | {"strategy": {"class_weights": "balanced"}}, source=tmp_path / "f.toml")
    assert auto.sha256() == explicit.sha256() != balanced.sha256()


def _describe(site: str, labels: list[str]) -> Reply:
    metrics = {f"train_class/{k}": float(v) for k, v in sorted(Counter(labels).items())}
    return Reply("r", 0, site, TaskKind.DESCRIBE, ReplyStatus.OK, metrics={"n_train": 1.0, **metrics})


def _data(labels: list[str]) -> LocalData:
    x = np.zeros((len(labels), 1), np.float32)
    return LocalData(x, tuple(labels), x[:0], (), ("f",))


@given(
    st.lists(st.lists(st.sampled_from(CLASSES), min_size=1, max_size=80), min_size=1, max_size=5),
    st.sampled_from(CLASS_WEIGHT_MODES),
)
def test_federated_weights_equal_the_pooled_weights_exactly(sites, mode):
    """The coordinator sums counts; the centralized baseline counts the concatenated labels: same ints,
    same formula, so the same floats (==, not approx)."""
    federated = class_weights(
        federated_class_counts(_describe(f"s{i}", labels) for i, labels in enumerate(sites)), CLASSES, mode
    )
    pooled_labels = [label for labels in sites for label in labels]
    pooled = class_weights(Counter(pooled_labels), CLASSES, mode)
    assert federated == pooled
    assert class_weights(label_counts([_data(labels) for labels in sites]), CLASSES, mode) == pooled
