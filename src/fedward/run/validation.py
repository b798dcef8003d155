"""The `validation` section of summary.json: where the final global model is weak, per site.

Every site evaluated the final model on its own test data and sent back only aggregates (site/node.py
EVALUATE; coordinator/evaluation.py `site_evidence`): its confusion matrix, its reliability bins, the
count of test pages and of right answers per quality band (documents, from the site's own preprocessing
measurements), and its confidence threshold with the coverage it leaves. From those this module builds,
per site:

- `by_class`: per class, its support, recall and precision (each with a Wilson 95% interval) and F1;
- `by_quality`: per quality dimension and band, the accuracy with its interval (documents only);
- `by_tier`: per `[validation] tiers` tier, the accuracy on the records whose true class is in the tier;
- `ece` and `reliability`: the expected calibration error over 15 equal-width bins, and the bins;
- `threshold`, `coverage`, `review_share`: the confidence threshold the site chose on its validation split
  for `[validation] target_accuracy`, the share of its test records at or above it (automated) and the
  share below it (human review); null with `threshold_status` saying why ("kept_at_site" under
  differential privacy, "no_validation_split", "unreachable" when no threshold meets the target).

Every cell with fewer than `min_cell` records carries a `warning`. `weakest` lists the cells of every site,
lowest figure first, so the reader starts where the model fails. A site's evidence that is malformed is
left out with a note (`unreadable`): the sites are other parties, and their figures are checked, not
trusted to be well formed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fedward.config import ValidationConfig
from fedward.core.calibration import NUM_BINS, ece_from_bins, wilson_interval

__all__ = ["validation_section"]

Cell = dict[str, Any]


def validation_section(
    config: ValidationConfig, classes: Sequence[str], evidence: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """summary.json's `validation`: the settings, each site's cells and the weakest cells first."""
    sites: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for site, ev in evidence.items():
        try:
            sites[site] = _site(config, classes, ev)
        except (TypeError, ValueError, KeyError) as exc:
            unreadable[site] = f"{type(exc).__name__}: {exc}"
    return {
        "confidence_level": 0.95,
        "interval": "wilson",
        "bins": NUM_BINS,
        "min_cell": config.min_cell,
        "target_accuracy": config.target_accuracy,
        "tiers": {t: list(c) for t, c in config.tiers.items()},
        "sites": sites,
        "weakest": weakest_cells(sites),
        "unreadable": unreadable,
    }


def _site(config: ValidationConfig, classes: Sequence[str], ev: Mapping[str, Any]) -> dict[str, Any]:
    cm = _matrix(ev["confusion"], len(classes))
    n, right, conf = (
        _numbers(ev.get(f"reliability/{k}"), NUM_BINS) for k in ("n", "correct", "confidence_sum")
    )
    out: dict[str, Any] = {
        "by_class": by_class(cm, classes, config.min_cell),
        "by_quality": by_quality(ev, config.min_cell),
        "by_tier": by_tier(cm, classes, config.tiers, config.min_cell),
        "ece": ece_from_bins([int(v) for v in n], [int(v) for v in right], conf),
        "reliability": _reliability(n, right, conf),
    }
    return out | _threshold(ev, config.min_cell)


def cell(successes: int, n: int, min_cell: int) -> Cell:
    """A proportion with its Wilson 95% interval and a warning below `min_cell` records."""
    ci = wilson_interval(successes, n)
    return {
        "n": n,
        "correct": successes,
        "value": successes / n if n else None,
        "ci_low": ci[0] if ci else None,
        "ci_high": ci[1] if ci else None,
        "warning": _warning(n, min_cell),
    }


def _warning(n: int, min_cell: int) -> str | None:
    if n >= min_cell:
        return None
    return f"only {n} record(s), fewer than min_cell={min_cell}: too few to say much"


def by_class(cm: list[list[int]], classes: Sequence[str], min_cell: int) -> dict[str, Cell]:
    """Per class: `support` (true records), recall and precision cells, and F1."""
    out: dict[str, Cell] = {}
    for i, name in enumerate(classes):
        tp = cm[i][i]
        support = sum(cm[i])
        predicted = sum(row[i] for row in cm)
        recall, precision = cell(tp, support, min_cell), cell(tp, predicted, min_cell)
        f1 = 2 * tp / (support + predicted) if support + predicted else None
        out[name] = {
            "support": support,
            "predicted": predicted,
            "recall": recall,
            "precision": precision,
            "f1": f1,
            "warning": _warning(support, min_cell),
        }
    return out


def by_tier(
    cm: list[list[int]], classes: Sequence[str], tiers: Mapping[str, Sequence[str]], min_cell: int
) -> dict[str, Cell]:
    """Per tier: the accuracy over the test records whose true class is in the tier."""
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, Cell] = {}
    for tier, names in tiers.items():
        rows = [index[c] for c in names if c in index]
        n = sum(sum(cm[i]) for i in rows)
        out[tier] = {"classes": list(names), **cell(sum(cm[i][i] for i in rows), n, min_cell)}
    return out


def by_quality(ev: Mapping[str, Any], min_cell: int) -> dict[str, dict[str, Cell]]:
    """Per quality dimension and band, the accuracy from the site's `quality/<dim>/<band>/{n,correct}`
    counts; empty for tabular data (no page, no quality)."""
    out: dict[str, dict[str, Cell]] = {}
    for key, value in sorted(ev.items()):
        if not (key.startswith("quality/") and key.endswith("/n")):
            continue
        _, dimension, band, _ = key.split("/")
        n, right = _count(value), _count(ev.get(f"quality/{dimension}/{band}/correct"))
        if right > n:
            raise ValueError(f"{key}: {right} right out of {n}")
        out.setdefault(dimension, {})[band] = cell(right, n, min_cell)
    return out


def _reliability(n: Sequence[float], right: Sequence[float], conf: Sequence[float]) -> dict[str, Any]:
    """The reliability diagram: per bin its edges, count, accuracy and mean confidence (null if empty)."""
    return {
        "edges": [i / NUM_BINS for i in range(NUM_BINS + 1)],
        "n": [int(v) for v in n],
        "accuracy": [c / k if k else None for k, c in zip(n, right, strict=True)],
        "confidence": [s / k if k else None for k, s in zip(n, conf, strict=True)],
    }


def _threshold(ev: Mapping[str, Any], min_cell: int) -> dict[str, Any]:
    status = ev.get("threshold_status")
    out: dict[str, Any] = {
        "threshold_status": status if isinstance(status, str) else "not_reported",
        "threshold": None,
        "coverage": None,
        "review_share": None,
    }
    if status in ("chosen", "unreachable"):
        out["coverage"] = _share(ev.get("coverage"))
        out["review_share"] = _share(ev.get("review_share"))
        out["n_validation"] = _count(ev.get("n_validation"))
    if status == "chosen":
        out["threshold"] = _share(ev.get("threshold"))
        out["validation_coverage"] = _share(ev.get("validation_coverage"))
        automated, right = _count(ev.get("automated_n")), _count(ev.get("automated_correct"))
        if right > automated:
            raise ValueError(f"automated_correct {right} > automated_n {automated}")
        out["automated_accuracy"] = cell(right, automated, min_cell)
    return out


def weakest_cells(sites: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every class (by recall), quality band and tier cell of every site, lowest figure first (ties: the
    larger cell first, since it is the surer failure); cells without a figure are left out."""
    cells: list[dict[str, Any]] = []
    for site, v in sites.items():
        for name, c in v["by_class"].items():
            cells.append({"site": site, "kind": "class", "cell": name, **c["recall"]})
        for dimension, bands in v["by_quality"].items():
            for band, c in bands.items():
                cells.append({"site": site, "kind": "quality", "cell": f"{dimension}: {band}", **c})
        for tier, c in v["by_tier"].items():
            cells.append(
                {"site": site, "kind": "tier", "cell": tier, **{k: c[k] for k in c if k != "classes"}}
            )
    ranked = [c for c in cells if c["value"] is not None]
    return sorted(ranked, key=lambda c: (c["value"], -c["n"], c["site"], c["kind"], c["cell"]))


def _matrix(value: Any, k: int) -> list[list[int]]:
    if (
        not isinstance(value, list)
        or len(value) != k
        or any(not isinstance(r, list) or len(r) != k for r in value)
    ):
        raise ValueError(f"confusion matrix is not {k} x {k}")
    return [[_count(v) for v in r] for r in value]


def _numbers(value: Any, length: int) -> list[float]:
    if not isinstance(value, list) or len(value) != length:
        raise ValueError(f"reliability bins: expected a list of {length}")
    out = [float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(out) != length or any(v < 0 for v in out):
        raise ValueError("reliability bins must be non-negative numbers")
    return out


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise ValueError(f"expected a non-negative whole count, got {value!r}")
    return int(value)


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"expected a share in [0, 1], got {value!r}")
    return float(value)
