import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, recall_score

from fedward.core.metrics import confusion_matrix, metrics_from_confusion


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
