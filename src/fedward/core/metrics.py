"""Classification metrics from a confusion matrix: accuracy, macro-F1 and per-class recall.

Working from confusion counts lets the coordinator pool the sites' test results exactly (summing
matrices) without seeing a single prediction. Macro-F1 averages over the classes that occur in the
labels or the predictions, as scikit-learn's `f1_score(average="macro")` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["ClassMetrics", "confusion_matrix", "metrics_from_confusion"]

ClassMetrics = dict[str, float]


def confusion_matrix(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, num_classes: int) -> npt.NDArray[np.int64]:
    """Rows are true classes, columns predicted classes."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    flat = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def metrics_from_confusion(cm: npt.NDArray[np.int64], classes: Sequence[str]) -> ClassMetrics:
    """`accuracy`, `macro_f1`, `n` and `recall/<class>` for every class with support."""
    cm = np.asarray(cm, dtype=np.int64)
    n = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    present = (support + predicted) > 0
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    out: ClassMetrics = {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n": float(n),
    }
    for i, name in enumerate(classes):
        if support[i] > 0:
            out[f"recall/{name}"] = float(tp[i] / support[i])
    return out
