"""What `fedward predict` scores: document pages through the release's preprocessing `Pipeline`, or the
rows of a CSV in the release's feature order and standardization.

Documents: one PDF, TIFF, PNG, JPEG or DICOM file, or a folder searched recursively for them (other files
are skipped), read as a site reads its training folder (`fedward.documents.sources`: every page of a
PDF or multi-page TIFF, PDF pages rendered at the same fixed dpi). Each page is named by its file's path
relative to the folder and its 1-based page number. A page the pipeline rejects (too low a resolution,
blank), or a file that cannot be read (broken, truncated, encrypted: one row, without a page number), is
kept as a row without a class and with its reason, so it goes to review rather than disappearing.
Tables: a CSV with a header holding every feature column the release names (in any order; other
columns, such as a label, are ignored); a row is named by its line number. A missing column, a
non-numeric or non-finite value is a `DataError` naming the file, the column and the line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedward.documents.dataset import process_file
from fedward.documents.pipeline import Pipeline, PipelineSpec
from fedward.documents.sources import DOCUMENT_SUFFIXES
from fedward.errors import DataError
from fedward.release.inference import InferenceSpec
from fedward.tabular.csvdata import read_csv_rows
from fedward.tabular.impute import MISSING_SUFFIX

__all__ = ["IMAGE_SUFFIXES", "Inputs", "read_documents", "read_table"]

IMAGE_SUFFIXES = DOCUMENT_SUFFIXES


@dataclass(frozen=True)
class Inputs:
    """Model inputs (float32, in the model's input shape) for the `names` whose `reasons` entry is None;
    `names` lists every input in order, the rejected ones with their reason."""

    names: tuple[str, ...]
    reasons: tuple[str | None, ...]
    x: npt.NDArray[np.float32]
    key: str  # the output column naming an input: "file" or "row"
    pages: tuple[int | None, ...] = ()  # documents: each input's 1-based page (None: an unreadable file)


def read_documents(path: Path, spec: PipelineSpec) -> Inputs:
    """Every page of the documents at `path` (a file or a folder), preprocessed by `spec`'s pipeline."""
    files = _document_files(path)
    root = path if path.is_dir() else path.parent
    pipeline = Pipeline(spec)
    names: list[str] = []
    pages: list[int | None] = []
    reasons: list[str | None] = []
    images: list[npt.NDArray[np.float32]] = []
    for file in files:
        name = file.relative_to(root).as_posix()
        result = process_file(pipeline, file, name)
        if result.problem is not None:
            names.append(name)
            pages.append(None)
            reasons.append(result.problem)
            continue
        for number, page in enumerate(result.pages, start=1):
            names.append(name)
            pages.append(number)
            reasons.append(None if page.image is not None else page.reason or "rejected by the preprocessing")
            if page.image is not None:
                images.append(page.image.astype(np.float32, copy=False))
    x = np.stack(images)[:, None] if images else np.zeros((0, 1, spec.image_size, spec.image_size))
    return Inputs(tuple(names), tuple(reasons), x.astype(np.float32, copy=False), "file", tuple(pages))


def _document_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"not a document: a documents release reads {', '.join(IMAGE_SUFFIXES)}",
                where=path,
            )
        return [path]
    if not path.is_dir():
        raise DataError("input not found", where=path)
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not p.is_symlink() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise DataError(f"no documents ({', '.join(IMAGE_SUFFIXES)}) in the folder", where=path)
    return files


def read_table(path: Path, spec: InferenceSpec) -> Inputs:
    """The rows of CSV `path`, their features in the release's order, standardized as the federation did."""
    rows = read_csv_rows(path, "input CSV not found")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise DataError("duplicate column names in the header", where=path)
    if spec.impute is not None:
        return _imputed_table(path, rows, header, spec, spec.impute)
    for feature in spec.features:
        if feature not in header:
            raise DataError(
                f"feature column {feature!r} is missing; the release's model reads {len(spec.features)} "
                f"columns: {', '.join(spec.features)}",
                where=path,
            )
    columns = [header.index(f) for f in spec.features]
    names, values = _rows(
        path, rows, header, lambda line, row: [_number(path, line, header[i], row[i]) for i in columns]
    )
    x = (np.asarray(values, np.float32) - np.asarray(spec.mean, np.float32)) / np.asarray(
        spec.scale, np.float32
    )
    return Inputs(tuple(names), (None,) * len(names), x.astype(np.float32), "row")


def _imputed_table(
    path: Path, rows: Sequence[list[str]], header: list[str], spec: InferenceSpec, impute: Mapping[str, float]
) -> Inputs:
    """Rows for a release trained under `[data] missing = "impute"`: an empty cell, or a feature column
    the CSV lacks, takes the release's imputation value, and its `<feature>__missing` input is 1."""
    raw = list(impute)

    def parse(line: int, row: list[str]) -> list[float]:
        cells = {f: row[header.index(f)].strip() if f in header else "" for f in raw}
        return [_number(path, line, f, c) if c else math.nan for f, c in cells.items()]

    names, values = _rows(path, rows, header, parse)
    x = np.asarray(values, np.float64)
    miss = np.isnan(x)
    filled = np.where(miss, np.asarray([impute[f] for f in raw]), x)
    col = {f: i for i, f in enumerate(raw)}
    inputs = [
        miss[:, col[f[: -len(MISSING_SUFFIX)]]].astype(np.float64) if f not in col else filled[:, col[f]]
        for f in spec.features
    ]
    out = (np.stack(inputs, axis=1).astype(np.float32) - np.asarray(spec.mean, np.float32)) / np.asarray(
        spec.scale, np.float32
    )
    return Inputs(tuple(names), (None,) * len(names), out.astype(np.float32), "row")


def _rows(
    path: Path, rows: Sequence[list[str]], header: list[str], parse: Callable[[int, list[str]], list[float]]
) -> tuple[list[str], list[list[float]]]:
    """(line numbers as names, parsed values) of the data rows, blank rows skipped; a row with the wrong
    number of fields, or no data row at all, is a DataError naming the file (and line)."""
    names: list[str] = []
    values: list[list[float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"line {line}: {len(row)} fields, header has {len(header)}", where=path)
        values.append(parse(line, row))
        names.append(str(line))
    if not values:
        raise DataError("no data rows", where=path)
    return names, values


def _number(path: Path, line: int, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"line {line}: column {column!r} is not numeric: {cell!r}", where=path) from None
    if not math.isfinite(value):
        raise DataError(f"line {line}: column {column!r} is not finite: {cell!r}", where=path)
    return value
