import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score, roc_auc_score

from fedward.core.metrics import confusion_matrix, metrics_from_confusion, roc_auc, scored_metrics


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60))
def test_metrics_match_scikit_learn(pairs):
    y_true = np.array([p[0] for p in pairs])
    y_pred = np.array([p[1] for p in pairs])
    classes = ["a", "b", "c", "d"]
    m = metrics_from_confusion(confusion_matrix(y_true, y_pred, 4), classes)
    assert m["accuracy"] == accuracy_score(y_true, y_pred)
    assert np.isclose(m["macro_f1"], f1_score(y_true, y_pred, average="macro", zero_division=0))
    for i, c in enumerate(classes):
        if (y_true == i).any():
            assert np.isclose(m[f"recall/{c}"], recall_score(y_true == i, y_pred == i))
        else:
            assert f"recall/{c}" not in m


def test_pooled_confusions_equal_metrics_on_pooled_predictions():
    rng = np.random.default_rng(0)
    parts = [(rng.integers(0, 3, 20), rng.integers(0, 3, 20)) for _ in range(3)]
    summed = sum(confusion_matrix(t, p, 3) for t, p in parts)
    all_t = np.concatenate([t for t, _ in parts])
    all_p = np.concatenate([p for _, p in parts])
    assert np.array_equal(summed, confusion_matrix(all_t, all_p, 3))


# --- balanced accuracy, AUC and scored metrics (issue 12) ---


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60))
def test_balanced_accuracy_matches_scikit_learn_absent_classes_included(pairs):
    """Labels drawn from 4 classes on up to 60 rows: classes absent from the labels (and classes only
    predicted) occur, and scikit-learn averages recall over the labels' classes only, as we must."""
    y_true = np.array([p[0] for p in pairs])
    y_pred = np.array([p[1] for p in pairs])
    m = metrics_from_confusion(confusion_matrix(y_true, y_pred, 4), ["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        expected = balanced_accuracy_score(y_true, y_pred)
    assert np.isclose(m["balanced_accuracy"], expected)


def test_balanced_accuracy_power_check_differs_from_accuracy_on_a_skewed_set():
    """Predicting the 90% majority: accuracy 0.9, balanced accuracy 0.5; a metric that ignored the
    class mix would read 0.9 for both."""
    y_true = np.array([0] * 90 + [1] * 10)
    m = metrics_from_confusion(confusion_matrix(y_true, np.zeros(100, np.int64), 2), ["no", "yes"])
    assert m["accuracy"] == 0.9 and m["balanced_accuracy"] == 0.5


@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4)), min_size=1, max_size=60),
)
def test_roc_auc_matches_scikit_learn_with_ties(rows):
    """Scores on 5 levels over up to 60 rows: ties between and within classes are common."""
    y = np.array([r[0] for r in rows])
    score = np.array([r[1] for r in rows], dtype=np.float64) / 4
    got = roc_auc(y, score)
    if len(set(y.tolist())) < 2:
        assert got is None
    else:
        assert got == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_roc_auc_counts_ties_half_and_is_none_for_one_class():
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert roc_auc([], []) is None
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.1, 0.2])


def test_roc_auc_power_check_reverses_with_the_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = y + rng.normal(scale=0.5, size=200)
    auc = roc_auc(y, score)
    assert auc is not None and auc > 0.8
    assert roc_auc(y, -score) == pytest.approx(1 - auc)


@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=40))
def test_scored_metrics_binary(rows):
    y = np.array([r[0] for r in rows])
    p1 = np.array([r[1] for r in rows])
    scores = np.stack([1 - p1, p1], axis=1)
    cm, m = scored_metrics(y, scores, ["no", "yes"])
    assert np.array_equal(cm, confusion_matrix(y, scores.argmax(axis=1), 2))
    assert {k: v for k, v in m.items() if k != "auc"} == metrics_from_confusion(cm, ["no", "yes"])
    if len(set(y.tolist())) == 2:
        assert m["auc"] == pytest.approx(roc_auc_score(y, p1), abs=1e-12)
    else:
        assert "auc" not in m


def test_scored_metrics_has_no_auc_for_more_than_two_classes_and_checks_the_shape():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 30)
    _, m = scored_metrics(y, rng.random((30, 3)), ["a", "b", "c"])
    assert "auc" not in m and "balanced_accuracy" in m
    with pytest.raises(ValueError, match="shape"):
        scored_metrics(y, rng.random((30, 2)), ["a", "b", "c"])
