"""Federated mean imputation with missing-indicator columns (`[data] missing = "impute"`).

Each site shares, per feature of its own CSV, the count of non-missing training cells beside the sums and
sums of squares it already sends for the standardization (`standardize.feature_sums`, NaN cells left out).
The coordinator (`federated_context`) takes the union of the sites' columns as the feature set (a column
a site never recorded is missing in every one of its rows), imputes each feature with its mean over all
sites' non-missing values, and adds one indicator column `<feature>__missing` per feature with a missing
cell at any site. The imputed columns' and indicators' means and standard deviations follow from the same
counts and sums, so the standardization equals standardizing the pooled imputed rows, and the imputation
values equal the pooled mean of the non-missing values (up to float64 rounding).

The context every task carries holds, beside `feature_mean` and `feature_scale` (over the model's inputs:
the features, then the indicators), one array per feature, `impute/NNNNN/<feature>` = [mean, indicator]
(NNNNN its position). A site builds its model inputs with `prepare`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from fedward.errors import FederationError

__all__ = ["MISSING_SUFFIX", "federated_context", "impute_values", "prepare"]

MISSING_SUFFIX = "__missing"
_PREFIX = "impute/"

Part = tuple[Sequence[str], Mapping[str, npt.NDArray[np.floating]]]


def federated_context(
    parts: Sequence[Part], *, impute: bool
) -> tuple[list[str], dict[str, npt.NDArray[np.float32]]]:
    """The model's input names and the task context from each site's (feature names, shared sums).

    Without `impute` this is the plain standardization (`feature_mean`, `feature_scale`) over the common
    columns. With it the context always carries the imputation values (a test row may have a gap where no
    training row had one: it takes the mean, with no indicator)."""
    if not parts:
        raise FederationError("no site statistics to combine")
    names: list[str] = []
    for feats, _ in parts:
        names.extend(f for f in feats if f not in names)
    index = {f: i for i, f in enumerate(names)}
    k = len(names)
    rows = 0.0
    present, total, total_sq = np.zeros(k), np.zeros(k), np.zeros(k)
    for feats, sums in parts:
        n = float(sums["count"][0])
        rows += n
        cols = [index[f] for f in feats]
        have = np.asarray(sums["present"], np.float64) if "present" in sums else np.full(len(cols), n)
        present[cols] += have
        total[cols] += np.asarray(sums["sum"], np.float64)
        total_sq[cols] += np.asarray(sums["sumsq"], np.float64)
    if rows <= 0:
        raise FederationError("no training rows to combine")
    needed = bool((present < rows).any())
    if not impute:
        first = list(parts[0][0])
        if needed or any(list(f) != first for f, _ in parts):
            raise FederationError(
                "the sites' columns differ or have missing cells",
                hint='every site\'s CSV must have the same columns, or set [data] missing = "impute"',
            )
    empty = [names[i] for i in np.flatnonzero(present == 0)]
    if empty:
        raise FederationError(
            f"column(s) {', '.join(map(repr, empty))} have no value at any site: nothing to impute from",
            hint="drop the column from the sites' CSVs",
        )
    mean = total / present
    # the imputed column: the non-missing values, and (rows - present) copies of the mean
    var = np.maximum((total_sq + (rows - present) * mean * mean) / rows - mean * mean, 0.0)
    flagged = present < rows
    share = (rows - present[flagged]) / rows  # each indicator's mean
    means = np.concatenate([mean, share])
    stds = np.sqrt(np.concatenate([var, share * (1.0 - share)]))
    scale = np.where(stds > 1e-12 * np.maximum(1.0, np.abs(means)), stds, 1.0)
    context: dict[str, npt.NDArray[np.float32]] = {
        "feature_mean": means.astype(np.float32),
        "feature_scale": scale.astype(np.float32),
    }
    if not impute:
        return names, context
    for i, f in enumerate(names):
        context[f"{_PREFIX}{i:05d}/{f}"] = np.array([mean[i], float(flagged[i])], np.float32)
    inputs = names + [f + MISSING_SUFFIX for f, m in zip(names, flagged, strict=True) if m]
    if len(set(inputs)) != len(inputs):
        clash = sorted({f for f in inputs if inputs.count(f) > 1})
        raise FederationError(
            f"column(s) {', '.join(map(repr, clash))} clash with a missing-indicator column's name",
            hint=f"rename the column: names ending in {MISSING_SUFFIX!r} are the indicators'",
        )
    return inputs, context


def impute_values(context: Mapping[str, npt.NDArray[np.floating]]) -> list[tuple[str, float, bool]]:
    """(feature, imputation value, has an indicator) in the model's order; empty without imputation."""
    keys = sorted(k for k in context if k.startswith(_PREFIX))
    out = []
    for key in keys:
        value = np.asarray(context[key])
        out.append((key[len(_PREFIX) + 6 :], float(value[0]), bool(value[1])))
    return out


def prepare(
    x: npt.NDArray[np.floating], features: Sequence[str], context: Mapping[str, npt.NDArray[np.floating]]
) -> npt.NDArray[np.float32]:
    """A site's rows (its own columns `features`, NaN where missing) as model inputs: aligned to the
    federation's features, imputed, with the indicators appended, standardized."""
    values = impute_values(context)
    if values:
        own = {f: i for i, f in enumerate(features)}
        cols, flags = [], []
        for name, fill, flagged in values:
            raw = x[:, own[name]] if name in own else np.full(len(x), np.nan, np.float32)
            miss = np.isnan(raw)
            cols.append(np.where(miss, np.float32(fill), raw))
            if flagged:
                flags.append(miss.astype(np.float32))
        x = np.stack(cols + flags, axis=1) if cols else x
    out: npt.NDArray[np.float32] = (
        (np.asarray(x, np.float32) - context["feature_mean"]) / context["feature_scale"]
    ).astype(np.float32)
    return out
