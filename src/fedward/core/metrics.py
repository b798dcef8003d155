"""Classification metrics from a confusion matrix: accuracy, balanced accuracy, macro-F1 and per-class
recall; and the area under the ROC curve from scores.

Working from confusion counts lets the coordinator pool the sites' test results exactly (summing
matrices) without seeing a single prediction. Macro-F1 averages over the classes that occur in the
labels or the predictions, as scikit-learn's `f1_score(average="macro")` does; balanced accuracy is the
mean recall over the classes that occur in the labels, as `balanced_accuracy_score` does. The AUC needs
the scores themselves, so it is computed per site (`scored_metrics`) and cannot be pooled from counts.

`sender_metrics` splits a site's test records by sender: those whose sender the site's own training
records hold (seen) and the others (unseen), with the accuracy and count of each group; only those
aggregates leave a site.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "SENDER_KEYS",
    "ClassMetrics",
    "confusion_matrix",
    "metrics_from_confusion",
    "roc_auc",
    "scored_metrics",
    "sender_metrics",
]

ClassMetrics = dict[str, float]
SENDER_KEYS = ("seen_accuracy", "unseen_accuracy", "seen_n", "unseen_n")


def confusion_matrix(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, num_classes: int) -> npt.NDArray[np.int64]:
    """Rows are true classes, columns predicted classes."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    flat = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def metrics_from_confusion(cm: npt.NDArray[np.int64], classes: Sequence[str]) -> ClassMetrics:
    """`accuracy`, `balanced_accuracy`, `macro_f1`, `n` and `recall/<class>` for every class with
    support."""
    cm = np.asarray(cm, dtype=np.int64)
    n = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    present = (support + predicted) > 0
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    out: ClassMetrics = {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "balanced_accuracy": float(recall[support > 0].mean()) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n": float(n),
    }
    for i, name in enumerate(classes):
        if support[i] > 0:
            out[f"recall/{name}"] = float(tp[i] / support[i])
    return out


def roc_auc(y_true: npt.ArrayLike, score: npt.ArrayLike) -> float | None:
    """The area under the ROC curve of `score` for the positive labels (1) against the negatives (0):
    the probability that a random positive scores above a random negative, ties counting half
    (Mann-Whitney U / (n_pos * n_neg)); equal to scikit-learn's `roc_auc_score`, which computes it.
    None when only one class is present (the AUC is undefined). scikit-learn is a runtime dependency,
    imported here and not at module level: importing it costs startup time every command would pay."""
    t = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if len(t) != len(s):
        raise ValueError(f"roc_auc: {len(t)} labels but {len(s)} scores")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("roc_auc: labels must be 0 or 1")
    if len(t) == 0 or t.min() == t.max():  # no rows, or one class only
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(t, s))


def scored_metrics(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, classes: Sequence[str]
) -> tuple[npt.NDArray[np.int64], ClassMetrics]:
    """The confusion matrix of the argmax predictions of `scores` ([n, K], one column per class) and its
    `metrics_from_confusion`, plus `auc` (positive class: `classes[1]`, scored by column 1) when there
    are two classes and both occur in `y_true`."""
    t = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape != (len(t), len(classes)):
        raise ValueError(f"scored_metrics: scores of shape {s.shape}, expected ({len(t)}, {len(classes)})")
    cm = confusion_matrix(t, s.argmax(axis=1), len(classes))
    out = metrics_from_confusion(cm, classes)
    if len(classes) == 2:
        auc = roc_auc(t, s[:, 1])
        if auc is not None:
            out["auc"] = auc
    return cm, out


def sender_metrics(
    correct: npt.ArrayLike, test_senders: Sequence[str], seen: Collection[str]
) -> ClassMetrics:
    """`seen_n`, `unseen_n` and, for each group with records, `seen_accuracy` / `unseen_accuracy`:
    `correct[i]` says whether test record i was classified right, `test_senders[i]` who sent it ("" for
    unknown: in neither group), and `seen` the senders of the site's training records. Empty when the
    site knows no senders (`test_senders` empty)."""
    hits = np.asarray(correct, dtype=bool).ravel()
    if not test_senders:
        return {}
    if len(test_senders) != len(hits):
        raise ValueError(f"sender_metrics: {len(test_senders)} senders for {len(hits)} records")
    known = np.fromiter((bool(s) for s in test_senders), dtype=bool, count=len(hits))
    in_seen = np.fromiter((s in seen for s in test_senders), dtype=bool, count=len(hits))
    out: ClassMetrics = {}
    for group, rows in (("seen", known & in_seen), ("unseen", known & ~in_seen)):
        n = int(rows.sum())
        out[f"{group}_n"] = float(n)
        if n:
            out[f"{group}_accuracy"] = float(hits[rows].mean())
    return out
