"""Which classes a hospital's pages belong to, and how they divide into train and test.

Label skew is part of the federated setting (Kairouz et al. 2021, section 3.1; Hsu et al. 2019 use a
Dirichlet over classes per client): each hospital's pages follow its own Dirichlet class mix. Every class
still appears in every split (twice when the split has room), so each test set can score every class.
"""

from __future__ import annotations

import numpy as np

from fedward.documents.synth.classes import DOCUMENT_CLASSES

__all__ = ["SPLITS", "assign_labels", "split_sizes"]

SPLITS = ("train", "test")
_LABEL_STREAM = 2


def split_sizes(pages: int, test_fraction: float) -> tuple[int, int]:
    """(train, test) page counts: the test share rounded, but never fewer pages than classes in either."""
    n_classes = len(DOCUMENT_CLASSES)
    n_test = min(max(round(pages * test_fraction), n_classes), pages - n_classes)
    return pages - n_test, n_test


def _counts(n: int, mix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-class counts for a split of `n` pages: a floor of one or two per class, the rest multinomial."""
    n_classes = len(DOCUMENT_CLASSES)
    floor = min(2, n // n_classes)
    counts = np.full(n_classes, floor, dtype=np.int64)
    return counts + rng.multinomial(n - floor * n_classes, mix)


def assign_labels(
    seed: int, hospital_index: int, mix: tuple[float, ...], pages: int, test_fraction: float
) -> dict[str, list[str]]:
    """The shuffled class labels of one hospital's train and test pages."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _LABEL_STREAM, hospital_index]))
    p = np.asarray(mix, dtype=np.float64)
    p = p / p.sum()
    labels: dict[str, list[str]] = {}
    for split, n in zip(SPLITS, split_sizes(pages, test_fraction), strict=True):
        counts = _counts(n, p, rng)
        names = [DOCUMENT_CLASSES[i] for i, k in enumerate(counts) for _ in range(int(k))]
        labels[split] = [names[int(i)] for i in rng.permutation(len(names))]
    return labels
