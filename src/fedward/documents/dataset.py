"""A site's document folder, loaded through a preprocessing pipeline into arrays for training.

The folder holds `labels.csv` and the page images it names. Its header starts `file,label` (`file`
relative to the folder); optional columns may follow in any order: `sender` (who wrote the page, free
text, site-local; an empty cell is an unknown sender) and `patient` (a site-local patient key; never
empty when the column is there). Any other column is refused. Nothing else is read: in particular not
`truth.jsonl`, the synthetic generator's ground truth, which real sites do not have. Every problem with
the input is a `DataError` that names the file (and the line of labels.csv) and what is wrong; pages the
pipeline rejects (too low a resolution, blank) are kept apart with their reasons rather than dropped
silently. The order of the pages is the order of
labels.csv, and `workers > 1` gives byte-identical results (each page is processed independently).
Multi-page files are refused (one image per page); EXIF orientation tags are ignored, since the pipeline
reads a page's orientation from its content.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from fedward.documents.pipeline import PageResult, Pipeline, PipelineSpec
from fedward.documents.quality import PageQuality
from fedward.errors import DataError

__all__ = [
    "DocumentSet",
    "LabelRow",
    "RejectedPage",
    "dataset_fingerprint",
    "load_document_folder",
    "read_labels",
]

LABELS_FILE = "labels.csv"
_HEADER = ["file", "label"]
OPTIONAL_COLUMNS = ("sender", "patient")


@dataclass(frozen=True)
class RejectedPage:
    """A page the pipeline did not accept, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class LabelRow:
    """One line of labels.csv: `line` is the 1-based line number, for error messages."""

    file: str
    label: str
    line: int
    sender: str | None = None  # None: no sender column; "" : the sender of this page is unknown
    patient: str | None = None  # None: no patient column


@dataclass(frozen=True)
class DocumentSet:
    """The accepted pages of a folder: images float32 [N, 1, S, S] (ink in [0, 1]), labels, files."""

    images: npt.NDArray[np.float32]
    labels: tuple[str, ...]
    files: tuple[str, ...]
    rejected: tuple[RejectedPage, ...]
    senders: tuple[str, ...] = ()  # per accepted page ("" unknown); empty without a sender column
    patients: tuple[str, ...] = ()  # per accepted page; empty without a patient column
    quality: tuple[PageQuality, ...] = ()  # per accepted page, as the pipeline measured it


def read_labels(folder: Path) -> list[LabelRow]:
    """Parse and validate labels.csv; every referenced path must stay inside `folder` and exist."""
    if not folder.is_dir():
        raise DataError("document folder not found", where=folder, hint="check the site's data path")
    path = folder / LABELS_FILE
    if not path.is_file():
        raise DataError("labels.csv not found", where=path, hint="add labels.csv with the header file,label")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read labels.csv: {exc}", where=path) from exc
    columns = _columns(path, rows[0] if rows else None)
    parsed = [
        _label_row(folder, path, cells, line, columns)
        for line, cells in enumerate(rows[1:], start=2)
        if cells
    ]
    if not parsed:
        raise DataError("labels.csv lists no pages", where=path, hint="add one line per page: file,label")
    _reject_duplicates(path, parsed)
    return parsed


def _columns(path: Path, header: list[str] | None) -> tuple[str, ...]:
    """The header's column names: `file,label`, then any of OPTIONAL_COLUMNS once each, in any order."""
    names = tuple(cell.strip() for cell in header) if header else ()
    if list(names[:2]) != _HEADER:
        found = ",".join(header) if header else "nothing"
        raise DataError(f"header must start with 'file,label', found {found!r}", where=path)
    for i, name in enumerate(names[2:], start=2):
        if name not in OPTIONAL_COLUMNS:
            raise DataError(
                f"unknown column {name!r} in the header",
                where=path,
                hint=f"after file,label only these columns are read: {', '.join(OPTIONAL_COLUMNS)}",
            )
        if name in names[:i]:
            raise DataError(f"column {name!r} appears twice in the header", where=path)
    return names


def _label_row(folder: Path, path: Path, cells: list[str], line: int, columns: tuple[str, ...]) -> LabelRow:
    where = f"{path}:{line}"
    if len(cells) != len(columns):
        raise DataError(
            f"expected {len(columns)} columns ({','.join(columns)}), found {len(cells)}", where=where
        )
    file, label = cells[0].strip(), cells[1].strip()
    extra = {name: cells[i].strip() for i, name in enumerate(columns) if i >= 2}
    if not file:
        raise DataError("empty file name", where=where)
    if not label:
        raise DataError(f"empty label for {file}", where=where, hint="every page needs a label")
    patient = extra.get("patient")
    if patient == "":
        raise DataError(f"empty patient for {file}", where=where, hint="every page needs its patient key")
    _check_inside(folder, file, where)
    if not (folder / file).is_file():
        raise DataError(f"page image not found: {file}", where=where, hint=f"expected it at {folder / file}")
    return LabelRow(file=file, label=label, line=line, sender=extra.get("sender"), patient=patient)


def _check_inside(folder: Path, file: str, where: str) -> None:
    """Refuse absolute paths, `..` and links that lead outside the folder: labels.csv must not reach out."""
    candidate = Path(file)
    root = folder.resolve()
    if (
        candidate.is_absolute()
        or ".." in candidate.parts
        or not (root / candidate).resolve().is_relative_to(root)
    ):
        raise DataError(f"path escapes the document folder: {file}", where=where, hint="use paths inside it")


def _reject_duplicates(path: Path, rows: list[LabelRow]) -> None:
    first: dict[str, int] = {}
    for row in rows:
        key = Path(row.file).as_posix()
        if key in first:
            raise DataError(
                f"{row.file} is listed twice (also on line {first[key]})", where=f"{path}:{row.line}"
            )
        first[key] = row.line


def load_document_folder(folder: Path, pipeline: Pipeline, *, workers: int = 1) -> DocumentSet:
    """Read labels.csv, run every page through `pipeline`, and stack the accepted ones in labels.csv order."""
    rows = read_labels(folder)
    results = list(_process_all(folder, [row.file for row in rows], pipeline.spec, workers))
    accepted = [(row, result) for row, result in zip(rows, results, strict=True) if result.image is not None]
    rejected = tuple(RejectedPage(r.file, r.reason or "rejected") for r in results if r.image is None)
    if not accepted:
        example = f" (e.g. {rejected[0].file}: {rejected[0].reason})" if rejected else ""
        raise DataError(
            f"no usable pages: all {len(rows)} were rejected{example}",
            where=folder / LABELS_FILE,
            hint=f"the pipeline needs pages of at least {pipeline.spec.min_dpi} dpi with visible ink",
        )
    images = np.stack([result.image for _, result in accepted if result.image is not None])[:, None]
    return DocumentSet(
        images=images.astype(np.float32, copy=False),
        labels=tuple(row.label for row, _ in accepted),
        files=tuple(row.file for row, _ in accepted),
        rejected=rejected,
        senders=tuple(row.sender or "" for row, _ in accepted) if rows[0].sender is not None else (),
        patients=tuple(row.patient or "" for row, _ in accepted) if rows[0].patient is not None else (),
        quality=tuple(result.quality for _, result in accepted if result.quality is not None),
    )


def _process_all(folder: Path, files: list[str], spec: PipelineSpec, workers: int) -> Iterator[PageResult]:
    """Pages in input order; with workers > 1 a spawn-started process pool (no fork of a threaded parent)."""
    if workers <= 1 or len(files) < 2:
        pipeline = Pipeline(spec)
        yield from (_unwrap(folder, _process_page(pipeline, folder, file)) for file in files)
        return
    context = multiprocessing.get_context("spawn")
    chunk = max(1, len(files) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        jobs = [(str(folder), file, spec.to_dict()) for file in files]
        yield from (
            _unwrap(folder, outcome) for outcome in pool.map(_process_in_worker, jobs, chunksize=chunk)
        )


def _process_in_worker(job: tuple[str, str, dict[str, object]]) -> PageResult | tuple[str, str]:
    folder, file, spec = job
    return _process_page(Pipeline(PipelineSpec.from_dict(spec)), Path(folder), file)


def _process_page(pipeline: Pipeline, folder: Path, file: str) -> PageResult | tuple[str, str]:
    """The page's result, or (file, problem) when the image cannot be read: errors travel back as data."""
    try:
        with Image.open(folder / file) as image:
            if getattr(image, "n_frames", 1) > 1:
                return file, "has several frames; split multi-page files into one image per page"
            image.load()
            return pipeline.process(image, file=file)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError, SyntaxError) as exc:
        return file, f"unreadable image ({type(exc).__name__}: {exc})"


def _unwrap(folder: Path, outcome: PageResult | tuple[str, str]) -> PageResult:
    if isinstance(outcome, PageResult):
        return outcome
    file, problem = outcome
    raise DataError(f"page {file} {problem}", where=folder / file, hint="replace or remove it in labels.csv")


def dataset_fingerprint(folder: Path) -> str:
    """Hex SHA-256 over the sorted (relative path, size in bytes) of labels.csv and the pages it lists.

    Sizes only, never content: cheap for provenance records, and it reveals nothing about the pages.
    """
    rows = read_labels(folder)
    entries = {LABELS_FILE: (folder / LABELS_FILE).stat().st_size}
    for row in rows:
        entries[Path(row.file).as_posix()] = (folder / row.file).stat().st_size
    listing = sorted(entries.items())
    return hashlib.sha256(json.dumps(listing, separators=(",", ":")).encode("utf-8")).hexdigest()
