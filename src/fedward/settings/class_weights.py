"""Class weights for the training loss (`[strategy] class_weights`), from training-label counts only.

- "none": no weights (plain cross-entropy);
- "balanced": class c weighs N / (K * n_c), N the number of training rows and K the number of classes
  with at least one training row (scikit-learn's `compute_class_weight("balanced")` over the classes
  present). A class with no training row weighs 1.0: no training row carries its weight, so the value
  never changes the loss, and a positive number keeps the weights a valid task setting;
- "auto": "balanced" when the label mix is skewed, the largest class count at least `SKEW_RATIO` (2)
  times the smallest non-zero one; otherwise "none".

Counts are integers and the formula is the same everywhere, so the coordinator's weights from the sites'
summed DESCRIBE counts equal, bit for bit, the weights computed from the pooled labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = ["CLASS_WEIGHT_MODES", "SKEW_RATIO", "ClassWeightMode", "class_weights", "is_skewed"]

ClassWeightMode = Literal["auto", "balanced", "none"]
CLASS_WEIGHT_MODES: tuple[ClassWeightMode, ...] = ("auto", "balanced", "none")
SKEW_RATIO = 2  # "auto" weighs when the largest class has at least this many times the smallest's rows


def is_skewed(counts: Mapping[str, int], classes: Sequence[str]) -> bool:
    """Is the largest count among `classes` at least `SKEW_RATIO` times the smallest non-zero one?"""
    present = [int(counts.get(c, 0)) for c in classes if counts.get(c, 0) > 0]
    return len(present) >= 2 and max(present) >= SKEW_RATIO * min(present)


def class_weights(counts: Mapping[str, int], classes: Sequence[str], mode: str) -> tuple[float, ...] | None:
    """One weight per class of `classes`, in order, under `mode` (see the module docstring); None when
    no weighting applies ("none", or "auto" on a label mix that is not skewed)."""
    if mode not in CLASS_WEIGHT_MODES:
        raise ValueError(f"class_weights must be one of {', '.join(CLASS_WEIGHT_MODES)}; got {mode!r}")
    if any(int(n) < 0 for n in counts.values()):
        raise ValueError("class counts must not be negative")
    if mode == "none" or (mode == "auto" and not is_skewed(counts, classes)):
        return None
    n = [int(counts.get(c, 0)) for c in classes]
    total, present = sum(n), sum(1 for k in n if k > 0)
    if present == 0:
        return None
    return tuple(total / (present * k) if k > 0 else 1.0 for k in n)
