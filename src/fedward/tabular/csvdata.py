"""Load a site's tabular data: a CSV file with a header; one label column, optionally one patient key
column (`[data] patient_column`: any non-empty text, not a feature), every other column numeric.
An empty feature cell is refused (`missing="refuse"`, the default) or kept as NaN (`missing="impute"`,
filled later by the federation's imputation, fedward.tabular.impute).

Errors name the file, the column and the line, so a data manager can fix the export.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedward.errors import DataError

__all__ = ["TabularTable", "load_table", "read_csv_rows"]


@dataclass(frozen=True)
class TabularTable:
    features: tuple[str, ...]
    x: npt.NDArray[np.float32]
    y: tuple[str, ...]
    patients: tuple[str, ...] = ()  # each row's patient key; empty without a patient column


def load_table(path: Path, label: str, patient: str | None = None, missing: str = "refuse") -> TabularTable:
    rows = read_csv_rows(path, "file not found", "check the path in the config's [[sites]] table")
    header = [h.strip() for h in rows[0]]
    if label not in header:
        raise DataError(
            f"label column {label!r} not found; columns are {', '.join(header)}",
            where=path,
            hint="set [data] label to the name of the label column",
        )
    if len(set(header)) != len(header):
        raise DataError("duplicate column names in the header", where=path)
    li = header.index(label)
    pi = _patient_index(path, header, label, patient)
    features = tuple(h for i, h in enumerate(header) if i not in (li, pi))
    if not features:
        raise DataError("no feature columns besides the label", where=path)
    x, y, patients = _parse_rows(path, rows[1:], header, li, pi, missing == "impute")
    if not y:
        raise DataError("no data rows", where=path)
    return TabularTable(features, x, tuple(y), tuple(patients))


def _patient_index(path: Path, header: list[str], label: str, patient: str | None) -> int | None:
    if patient is None:
        return None
    if patient == label:
        raise DataError(f"patient column {patient!r} is also the label column", where=path)
    if patient not in header:
        raise DataError(
            f"patient column {patient!r} not found; columns are {', '.join(header)}",
            where=path,
            hint="set [data] patient_column to the name of the column holding each row's patient key",
        )
    return header.index(patient)


def _parse_rows(
    path: Path, rows: list[list[str]], header: list[str], li: int, pi: int | None, impute: bool = False
) -> tuple[npt.NDArray[np.float32], list[str], list[str]]:
    values: list[list[float]] = []
    labels: list[str] = []
    patients: list[str] = []
    width = len(header) - (1 if pi is None else 2)
    for lineno, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"line {lineno}: {len(row)} fields, header has {len(header)}", where=path)
        lab = row[li].strip()
        if not lab:
            raise DataError(f"line {lineno}: empty label in column {header[li]!r}", where=path)
        if pi is not None:
            key = row[pi].strip()
            if not key:
                raise DataError(f"line {lineno}: empty patient key in column {header[pi]!r}", where=path)
            patients.append(key)
        feats = []
        for i, cell in enumerate(row):
            if i in (li, pi):
                continue
            if not cell.strip():
                if not impute:
                    raise DataError(
                        f"line {lineno}: empty cell in column {header[i]!r}",
                        where=path,
                        hint='fill the cell, or set [data] missing = "impute" to impute it federated',
                    )
                feats.append(float("nan"))
                continue
            try:
                v = float(cell)
            except ValueError:
                raise DataError(
                    f"line {lineno}: column {header[i]!r} is not numeric: {cell!r}",
                    where=path,
                    hint="every column except the label must be a number",
                ) from None
            if not np.isfinite(v):
                raise DataError(f"line {lineno}: column {header[i]!r} is not finite: {cell!r}", where=path)
            feats.append(v)
        values.append(feats)
        labels.append(_canonical_label(lab))
    return np.asarray(values, dtype=np.float32).reshape(len(values), width), labels, patients


def _canonical_label(text: str) -> str:
    """'1', '1.0' and ' 1 ' are one class: integral numbers are written without a fraction."""
    try:
        v = float(text)
    except ValueError:
        return text
    return str(int(v)) if v.is_integer() else repr(v)


def read_csv_rows(path: Path, not_found: str = "file not found", hint: str | None = None) -> list[list[str]]:
    """Every row of a UTF-8 CSV (a BOM allowed), the header first; a missing, unreadable or empty file
    is a DataError naming it."""
    if not path.is_file():
        raise DataError(not_found, where=path, hint=hint)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read CSV: {exc}", where=path) from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DataError("empty file: expected a header row and data rows", where=path)
    return rows
