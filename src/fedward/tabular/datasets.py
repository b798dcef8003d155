"""Public tabular data that ships inside scikit-learn, split across sites with Dirichlet label skew.

No download happens: breast-cancer, digits and diabetes are bundled with scikit-learn. Diabetes is a
regression set; here it becomes a binary task (disease progression above the median). The split follows
the usual non-IID benchmark recipe (Hsu et al. 2019): for each class, site shares ~ Dirichlet(alpha).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["DATASETS", "SiteSplit", "dirichlet_split", "load_dataset", "write_site_csvs"]

DATASETS = ("breast-cancer", "digits", "diabetes")


@dataclass(frozen=True)
class SiteSplit:
    name: str
    train: npt.NDArray[np.int64]  # row indices into the data set
    test: npt.NDArray[np.int64]


def load_dataset(name: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], list[str]]:
    """Features, integer labels and feature names of a bundled scikit-learn data set."""
    from sklearn import datasets

    if name == "breast-cancer":
        bunch = datasets.load_breast_cancer()
    elif name == "digits":
        bunch = datasets.load_digits()
    elif name == "diabetes":
        bunch = datasets.load_diabetes()
        y = (bunch.target > np.median(bunch.target)).astype(np.int64)
        return bunch.data, y, [str(f) for f in bunch.feature_names]
    else:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    names = [str(f).replace(" ", "_") for f in getattr(bunch, "feature_names", [])] or [
        f"f{i}" for i in range(bunch.data.shape[1])
    ]
    return bunch.data, bunch.target.astype(np.int64), names


def dirichlet_split(
    y: npt.NDArray[np.int64],
    sites: int,
    alpha: float,
    *,
    seed: int,
    test_fraction: float = 0.25,
    min_test: int | None = None,
) -> list[SiteSplit]:
    """Assign rows to sites with Dirichlet(alpha) label skew; retry draws until every site has a test set
    of at least `min_test` rows (default: the number of classes) and a training set at least as large."""
    classes = np.unique(y)
    min_test = len(classes) if min_test is None else min_test
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        parts: list[list[int]] = [[] for _ in range(sites)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(sites, alpha))) * len(idx)).astype(int)[:-1]
            for s, chunk in enumerate(np.split(idx, cuts)):
                parts[s].extend(chunk.tolist())
        splits = [
            _train_test(f"site_{s:02d}", np.array(sorted(p), np.int64), test_fraction, rng)
            for s, p in enumerate(parts)
        ]
        if all(len(sp.test) >= min_test and len(sp.train) >= min_test for sp in splits):
            return splits
    raise ValueError(
        f"could not split {len(y)} rows over {sites} sites with alpha={alpha}; "
        "use fewer sites or a larger alpha"
    )


def _train_test(
    name: str, rows: npt.NDArray[np.int64], fraction: float, rng: np.random.Generator
) -> SiteSplit:
    order = rng.permutation(rows)
    n_test = round(len(rows) * fraction)
    return SiteSplit(name, np.sort(order[n_test:]), np.sort(order[:n_test]))


def write_site_csvs(
    out: Path,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    features: list[str],
    split: SiteSplit,
    label: str,
) -> tuple[Path, Path]:
    paths = []
    for part, rows in (("train", split.train), ("test", split.test)):
        path = out / f"{split.name}_{part}.csv"
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([*features, label])
            for r in rows:
                w.writerow([*(repr(float(v)) for v in x[r]), int(y[r])])
        paths.append(path)
    return paths[0], paths[1]
