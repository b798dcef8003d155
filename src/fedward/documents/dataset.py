"""A site's document folder, loaded through a preprocessing pipeline into arrays for training.

The folder holds `labels.csv` and the document files it names: PDF, TIFF (one page per frame), PNG,
JPEG or DICOM (see `fedward.documents.sources`). Its header starts `file,label` (each label covers every
page of its file) or `file,page,label` (`page` 1-based: one line per page, and a page not listed is not
used); `file` is relative to the folder. Optional columns may follow in any order: `sender` (who wrote the
page, free text, site-local; an empty cell is an unknown sender) and `patient` (a site-local patient key;
never empty when the column is there). Any other column is refused. Nothing else is read: in particular
not `truth.jsonl`, the synthetic generator's ground truth, which real sites do not have.

Every problem with labels.csv is a `DataError` that names the file (and the line of labels.csv) and what
is wrong: a listed file that is missing, or a page beyond its file's last. A file that is there but
cannot be read (broken, truncated, encrypted) is skipped and reported in `unreadable` with its reason; pages
the pipeline rejects (too low a resolution, blank) are kept apart in `rejected` with their reasons. Neither
is ever dropped silently, and neither stops the site. The order of the pages is the order of labels.csv
(a file's pages in page order), and `workers > 1` gives byte-identical results (each file is processed
independently). EXIF orientation tags are ignored, since the pipeline reads a page's orientation from
its content.
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

from fedward.documents.pipeline import PageResult, Pipeline, PipelineSpec
from fedward.documents.quality import PageQuality
from fedward.documents.sources import PDF_RENDER_DPI, UnreadableFileError, read_pages
from fedward.errors import DataError

__all__ = [
    "DocumentSet",
    "FileResult",
    "LabelRow",
    "RejectedPage",
    "UnreadableFile",
    "dataset_fingerprint",
    "load_document_folder",
    "process_file",
    "read_labels",
]

LABELS_FILE = "labels.csv"
_HEADER = ["file", "label"]
_PAGE_HEADER = ["file", "page", "label"]
OPTIONAL_COLUMNS = ("sender", "patient")


@dataclass(frozen=True)
class RejectedPage:
    """A page the pipeline did not accept, and why; `page` is 1-based within its file."""

    file: str
    reason: str
    page: int = 1


@dataclass(frozen=True)
class UnreadableFile:
    """A listed file that gave no pages (broken, truncated, encrypted, not a document), and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class LabelRow:
    """One line of labels.csv: `line` is the 1-based line number, for error messages; `page` is None
    when the label covers every page of the file."""

    file: str
    label: str
    line: int
    sender: str | None = None  # None: no sender column; "" : the sender of this page is unknown
    patient: str | None = None  # None: no patient column
    page: int | None = None


@dataclass(frozen=True)
class DocumentSet:
    """The accepted pages of a folder: images float32 [N, 1, S, S] (ink in [0, 1]), labels, files, and
    each page's 1-based number within its file."""

    images: npt.NDArray[np.float32]
    labels: tuple[str, ...]
    files: tuple[str, ...]
    rejected: tuple[RejectedPage, ...]
    senders: tuple[str, ...] = ()  # per accepted page ("" unknown); empty without a sender column
    patients: tuple[str, ...] = ()  # per accepted page; empty without a patient column
    pages: tuple[int, ...] = ()  # per accepted page
    unreadable: tuple[UnreadableFile, ...] = ()
    quality: tuple[PageQuality, ...] = ()  # per accepted page, as the pipeline measured it


@dataclass(frozen=True)
class FileResult:
    """One file through the pipeline: its pages' results in page order, or why it gave none."""

    file: str
    pages: tuple[PageResult, ...]
    problem: str | None = None


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
        raise DataError("labels.csv lists no pages", where=path, hint="add one line per file: file,label")
    _reject_duplicates(path, parsed)
    return parsed


def _columns(path: Path, header: list[str] | None) -> tuple[str, ...]:
    """The header's column names: `file,label` or `file,page,label`, then any of OPTIONAL_COLUMNS once
    each, in any order."""
    names = tuple(cell.strip() for cell in header) if header else ()
    fixed = 3 if list(names[:3]) == _PAGE_HEADER else 2
    if list(names[:fixed]) not in (_HEADER, _PAGE_HEADER):
        found = ",".join(header) if header else "nothing"
        raise DataError(
            f"header must start with 'file,label' or 'file,page,label', found {found!r}", where=path
        )
    for i, name in enumerate(names[fixed:], start=fixed):
        if name not in OPTIONAL_COLUMNS:
            raise DataError(
                f"unknown column {name!r} in the header",
                where=path,
                hint=f"after {','.join(names[:fixed])} only these are read: {', '.join(OPTIONAL_COLUMNS)}",
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
    values = {name: cells[i].strip() for i, name in enumerate(columns)}
    file, label = values["file"], values["label"]
    if not file:
        raise DataError("empty file name", where=where)
    page = _page_number(values["page"], file, where) if "page" in values else None
    if not label:
        raise DataError(f"empty label for {file}", where=where, hint="every page needs a label")
    patient = values.get("patient")
    if patient == "":
        raise DataError(f"empty patient for {file}", where=where, hint="every page needs its patient key")
    _check_inside(folder, file, where)
    if not (folder / file).is_file():
        raise DataError(f"file not found: {file}", where=where, hint=f"expected it at {folder / file}")
    return LabelRow(
        file=file, label=label, line=line, sender=values.get("sender"), patient=patient, page=page
    )


def _page_number(cell: str, file: str, where: str) -> int:
    if not cell.isdigit() or int(cell) < 1:
        raise DataError(
            f"page of {file} must be a whole number from 1, found {cell!r}",
            where=where,
            hint="pages are counted from 1 within their file",
        )
    return int(cell)


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
    first: dict[tuple[str, int | None], int] = {}
    for row in rows:
        key = (Path(row.file).as_posix(), row.page)
        if key in first:
            what = row.file if row.page is None else f"page {row.page} of {row.file}"
            raise DataError(f"{what} is listed twice (also on line {first[key]})", where=f"{path}:{row.line}")
        first[key] = row.line


def load_document_folder(folder: Path, pipeline: Pipeline, *, workers: int = 1) -> DocumentSet:
    """Read labels.csv, run every page of every listed file through `pipeline`, and stack the accepted
    pages in labels.csv order (a file's pages in page order)."""
    rows = read_labels(folder)
    files = list(dict.fromkeys(Path(row.file).as_posix() for row in rows))
    by_file = {r.file: r for r in _process_all(folder, files, pipeline.spec, workers)}
    examples: list[tuple[LabelRow, int, PageResult]] = []
    for row in rows:
        result = by_file[Path(row.file).as_posix()]
        if result.problem is not None:
            continue
        if row.page is None:
            examples += [(row, i, page) for i, page in enumerate(result.pages, start=1)]
        elif row.page > len(result.pages):
            raise DataError(
                f"page {row.page} of {row.file} does not exist: the file has {len(result.pages)} page(s)",
                where=f"{folder / LABELS_FILE}:{row.line}",
            )
        else:
            examples.append((row, row.page, result.pages[row.page - 1]))
    unreadable = tuple(
        UnreadableFile(r.file, r.problem) for r in (by_file[f] for f in files) if r.problem is not None
    )
    accepted = [(row, n, result) for row, n, result in examples if result.image is not None]
    rejected = tuple(
        RejectedPage(row.file, result.reason or "rejected", n)
        for row, n, result in examples
        if result.image is None
    )
    if not accepted:
        first = rejected[0] if rejected else unreadable[0] if unreadable else None
        example = f" (e.g. {first.file}: {first.reason})" if first is not None else ""
        raise DataError(
            f"no usable pages: all {len(examples)} page(s) were rejected and {len(unreadable)} file(s) "
            f"could not be read{example}",
            where=folder / LABELS_FILE,
            hint=f"the pipeline needs readable pages of {pipeline.spec.min_dpi} dpi or more, with ink",
        )
    images = np.stack([result.image for _, _, result in accepted if result.image is not None])[:, None]
    return DocumentSet(
        images=images.astype(np.float32, copy=False),
        labels=tuple(row.label for row, _, _ in accepted),
        files=tuple(row.file for row, _, _ in accepted),
        rejected=rejected,
        senders=tuple(row.sender or "" for row, _, _ in accepted) if rows[0].sender is not None else (),
        patients=tuple(row.patient or "" for row, _, _ in accepted) if rows[0].patient is not None else (),
        pages=tuple(n for _, n, _ in accepted),
        unreadable=unreadable,
        quality=tuple(result.quality for _, _, result in accepted if result.quality is not None),
    )


def _process_all(folder: Path, files: list[str], spec: PipelineSpec, workers: int) -> Iterator[FileResult]:
    """Files in input order; with workers > 1 a spawn-started process pool (no fork of a threaded parent)."""
    if workers <= 1 or len(files) < 2:
        pipeline = Pipeline(spec)
        yield from (process_file(pipeline, folder / file, file) for file in files)
        return
    context = multiprocessing.get_context("spawn")
    chunk = max(1, len(files) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        jobs = [(str(folder), file, spec.to_dict()) for file in files]
        yield from pool.map(_process_in_worker, jobs, chunksize=chunk)


def _process_in_worker(job: tuple[str, str, dict[str, object]]) -> FileResult:
    folder, file, spec = job
    return process_file(Pipeline(PipelineSpec.from_dict(spec)), Path(folder) / file, file)


def process_file(pipeline: Pipeline, path: Path, name: str) -> FileResult:
    """Every page of the file at `path` through `pipeline`; a file that cannot be read comes back as
    data (its `problem`), never as an exception, so one bad file cannot stop a site."""
    try:
        images = read_pages(path, render_dpi=PDF_RENDER_DPI)
    except UnreadableFileError as exc:
        return FileResult(name, (), exc.reason)
    try:
        return FileResult(name, tuple(pipeline.process(image, file=name) for image in images))
    except Exception as exc:  # a page that decodes but breaks a step: the file is reported, not fatal
        return FileResult(name, (), f"cannot process a page ({type(exc).__name__}: {exc})")


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
