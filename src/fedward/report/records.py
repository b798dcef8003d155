"""Defensive readers of a run's records, for the HTML report.

The records are a run's `summary.json` and its `metrics.jsonl` rounds. They come from JSON files that an
older fedward or a run that stopped halfway may have written, so every level is checked rather than
trusted: a reader returns None, an empty container or a neutral value where a part is missing or has the
wrong type, and never raises. This module owns what the report derives from the records: the sites and
classes of a run, its worst site, the unweighted means over sites, the per-round curves, each round's
framework overhead, and the cross-site accuracy matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fedward.report.plots import Series

__all__ = [
    "Record",
    "as_list",
    "as_map",
    "class_counts",
    "classes",
    "cross_matrix",
    "curve",
    "dig",
    "mean",
    "num",
    "overhead",
    "round_number",
    "site_means",
    "sites",
    "worst_site",
]

Record = Mapping[str, Any]
"""One JSON object of a run: the summary, or one round of the metrics."""


def dig(record: Any, *keys: str) -> Any:
    """The value at `keys` in nested mappings, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(record, Mapping):
            return None
        record = record.get(key)
    return record


def num(value: Any) -> float | None:
    """A finite number, or None (for a missing value, a bool, a string, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def as_map(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """`value` as a list if it is a list or tuple, else an empty list."""
    return list(value) if isinstance(value, list | tuple) else []


def mean(values: Iterable[Any]) -> float | None:
    """The mean of the values that are finite numbers, or None when there are none."""
    numbers = [v for v in map(num, values) if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def sites(summary: Record, rounds: Sequence[Record]) -> list[str]:
    """Sites in the summary's order, then any that appear only in the data, final metrics or a round."""
    names = [str(site) for site in as_list(summary.get("sites"))]
    sources = [dig(summary, "data", "sites"), dig(summary, "metrics", "federated", "sites")]
    for source in sources + [dig(record, "sites") for record in rounds]:
        names += [str(site) for site in as_map(source) if str(site) not in names]
    return names


def classes(summary: Record) -> list[str]:
    """The summary's classes or, when it lists none, those named by per-class recall in the final metrics."""
    names = [str(name) for name in as_list(summary.get("classes"))]
    if names:
        return names
    federated = as_map(dig(summary, "metrics", "federated"))
    for scores in [federated.get("pooled"), *as_map(federated.get("sites")).values()]:
        names += [k[7:] for k in as_map(scores) if k.startswith("recall/") and k[7:] not in names]
    return names


def worst_site(federated: Any) -> str | None:
    """The site the summary names as worst or, failing that, the site with the lowest federated accuracy."""
    named = dig(federated, "worst_site", "site")
    if named is not None:
        return str(named)
    accuracies = {str(s): num(dig(m, "accuracy")) for s, m in as_map(dig(federated, "sites")).items()}
    scored = {site: value for site, value in accuracies.items() if value is not None}
    return min(scored, key=lambda site: scored[site]) if scored else None


def site_means(approach: Mapping[str, Any]) -> dict[str, float | None]:
    """Unweighted mean over sites: every hospital counts once, whatever the size of its test set."""
    scores = as_map(approach.get("sites")).values()
    accuracy = num(approach.get("mean_site_accuracy"))
    if accuracy is None:
        accuracy = mean(dig(m, "accuracy") for m in scores)
    return {"accuracy": accuracy, "macro_f1": mean(dig(m, "macro_f1") for m in scores)}


def curve(rounds: Sequence[Record], *path: str) -> Series:
    """The value at `path` in each round that has one, with its round number."""
    xs, ys = [], []
    for index, record in enumerate(rounds):
        value = num(dig(record, *path))
        if value is not None:
            xs.append(round_number(record, index))
            ys.append(value)
    return xs, ys


def round_number(record: Record, index: int) -> int:
    """The round's recorded number or, when absent, its 1-based position in the rounds."""
    number = num(dig(record, "round"))
    return int(number) if number is not None else index + 1


def overhead(record: Record) -> float:
    """The round's recorded framework overhead or, when absent, wall time minus training and evaluation."""
    recorded = num(dig(record, "overhead_seconds"))
    if recorded is not None:
        return recorded
    total = num(dig(record, "seconds")) or 0.0
    return max(
        0.0,
        total - (num(dig(record, "train_seconds")) or 0.0) - (num(dig(record, "eval_seconds")) or 0.0),
    )


def cross_matrix(cross: Any) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Train sites, test sites and a full accuracy matrix (None where a value is missing)."""
    train = [str(site) for site in as_list(dig(cross, "train_sites"))]
    test = [str(site) for site in as_list(dig(cross, "test_sites"))]
    given = [as_list(row) for row in as_list(dig(cross, "accuracy"))]
    matrix = [
        [num(given[i][j]) if i < len(given) and j < len(given[i]) else None for j in range(len(test))]
        for i in range(len(train))
    ]
    return train, test, matrix


def class_counts(counts: Any, names: Sequence[str]) -> dict[str, int]:
    """The count of each class in `names` that `counts` records as a number; other classes are left out."""
    found = {name: num(dig(counts, name)) for name in names}
    return {name: int(value) for name, value in found.items() if value is not None}
