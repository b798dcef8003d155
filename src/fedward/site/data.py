"""A site's local data as the site node sees it: feature arrays and string labels, train and test.

Labels stay strings at the site; the coordinator sends the federation's class list with each task and
the site maps its labels onto it, so no site has to know another site's classes in advance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LocalData", "encode_labels"]


@dataclass(frozen=True)
class LocalData:
    """`train_x`/`test_x` are float32: `[n, features]` for tabular data, `[n, 1, s, s]` for page images."""

    train_x: npt.NDArray[np.float32]
    train_y: tuple[str, ...]
    test_x: npt.NDArray[np.float32]
    test_y: tuple[str, ...]
    features: tuple[str, ...] = ()

    @property
    def standardizable(self) -> bool:
        """Tabular features get the federated standardization; images are normalized by the pipeline."""
        return self.train_x.ndim == 2


def encode_labels(labels: Sequence[str], classes: Sequence[str]) -> npt.NDArray[np.int64]:
    """Map string labels to class indices; a label outside `classes` is an error naming it."""
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of the federation's classes") from None
