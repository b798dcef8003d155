"""The predictions, one per input, and the two CSV files `fedward predict` writes.

`predictions.csv` has the columns `file` and `page` (documents; the file's path relative to the input
folder and the 1-based page within it, empty for a file that could not be read) or `row` (tables; the
line of the input CSV), then `class`, `confidence` (the top class probability, 6
decimals), `review` (`true` when the confidence is under the threshold, or the input could not be
scored) and `reason` (why an input could not be scored, else empty). `review_queue.csv`, beside it,
holds the rows with `review` true, in the same columns.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedward.errors import UserError
from fedward.predict.inputs import Inputs

__all__ = ["DEFAULT_THRESHOLD", "REVIEW_QUEUE_FILE", "Prediction", "predictions", "write_csvs"]

DEFAULT_THRESHOLD = 0.5
REVIEW_QUEUE_FILE = "review_queue.csv"


@dataclass(frozen=True)
class Prediction:
    name: str
    label: str | None  # None: the input could not be scored
    confidence: float
    review: bool
    reason: str | None
    page: int | None = None  # documents: the 1-based page of `name`; None for tables or an unreadable file


def predictions(
    inputs: Inputs, probs: npt.NDArray[np.float64], classes: Sequence[str], threshold: float
) -> list[Prediction]:
    """One prediction per input, in input order; `probs` has a row per input that could be scored."""
    out: list[Prediction] = []
    scored = iter(range(len(probs)))
    pages = inputs.pages or (None,) * len(inputs.names)
    for name, reason, page in zip(inputs.names, inputs.reasons, pages, strict=True):
        if reason is not None:
            out.append(Prediction(name, None, 0.0, True, reason, page))
            continue
        row = probs[next(scored)]
        top = int(np.argmax(row))
        confidence = float(row[top])
        out.append(Prediction(name, classes[top], confidence, confidence < threshold, None, page))
    return out


def write_csvs(out: Path, key: str, rows: Sequence[Prediction]) -> Path:
    """Write `out` (every prediction) and `review_queue.csv` beside it (those for review); return the
    latter's path."""
    queue = out.parent / REVIEW_QUEUE_FILE
    if out.resolve() == queue.resolve():
        raise UserError(
            f"--out must not be named {REVIEW_QUEUE_FILE}: that file is written beside it", where=out
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(out, key, rows)
        _write(queue, key, [r for r in rows if r.review])
    except OSError as exc:
        raise UserError(f"cannot write the predictions: {exc.strerror}", where=exc.filename or out) from None
    return queue


def _write(path: Path, key: str, rows: Sequence[Prediction]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        paged = key == "file"
        writer.writerow([key, *(["page"] if paged else []), "class", "confidence", "review", "reason"])
        for r in rows:
            page = [] if not paged else ["" if r.page is None else str(r.page)]
            writer.writerow(
                [
                    r.name,
                    *page,
                    r.label or "",
                    f"{r.confidence:.6f}",
                    "true" if r.review else "false",
                    r.reason or "",
                ]
            )
