"""Loading a site's document folder: order, rejections, provenance, one DataError per kind of bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fedward.documents.dataset import (
    DocumentSet,
    RejectedPage,
    dataset_fingerprint,
    load_document_folder,
    read_labels,
)
from fedward.documents.pipeline import Pipeline, PipelineSpec
from fedward.errors import DataError

PIPELINE = Pipeline(PipelineSpec(image_size=32))
PageMaker = Callable[..., Image.Image]  # the page makers of conftest.py, handed in as fixtures
WriteFolder = Callable[..., Path]  # see the write_folder fixture
# (file, label, dpi, orientation, skew); the 72 dpi page must be rejected by the resolution check
PAGES = (
    ("pages/p00003.png", "referral_letter", 100, 0, 1.5),
    ("pages/p00001.png", "lab_report", 100, 90, -2.0),
    ("pages/low.png", "lab_report", 72, 0, 0.0),
    ("pages/p00002.jpg", "prescription", 100, 180, 4.0),
    ("pages/p00004.tif", "referral_letter", 100, 0, -6.0),
)


@pytest.fixture(scope="module")
def write_folder(render_page: PageMaker, scan: PageMaker) -> WriteFolder:
    """`write_folder(folder, pages=PAGES)`: the pages as image files and their labels.csv; the folder."""

    def write(folder: Path, pages: tuple[tuple[str, str, int, int, float], ...] = PAGES) -> Path:
        (folder / "pages").mkdir(parents=True)
        lines = ["file,label"]
        for i, (file, label, dpi, orientation, skew) in enumerate(pages):
            image = scan(render_page(i, dpi=dpi), orientation=orientation, skew=skew, dpi=dpi)
            image.save(folder / file, dpi=(dpi, dpi))
            lines.append(f"{file},{label}")
        (folder / "labels.csv").write_text("\n".join(lines) + "\n")
        return folder

    return write


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, write_folder: WriteFolder) -> Path:
    return write_folder(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def loaded(site: Path) -> DocumentSet:
    return load_document_folder(site, PIPELINE)


def _labels(folder: Path, text: str) -> Path:
    (folder / "labels.csv").write_text(text)
    return folder


def _expect_error(folder: Path, *, names: str) -> DataError:
    with pytest.raises(DataError) as info:
        load_document_folder(folder, PIPELINE)
    assert names in f"{info.value.where} {info.value}", info.value.render()
    return info.value


def test_pages_load_in_labels_order_and_low_resolution_is_rejected(loaded: DocumentSet) -> None:
    assert loaded.files == ("pages/p00003.png", "pages/p00001.png", "pages/p00002.jpg", "pages/p00004.tif")
    assert loaded.labels == ("referral_letter", "lab_report", "prescription", "referral_letter")
    assert loaded.images.shape == (4, 1, 32, 32) and loaded.images.dtype == np.float32
    assert float(loaded.images.min()) >= 0.0 and float(loaded.images.max()) <= 1.0
    assert len(loaded.rejected) == 1
    rejected = loaded.rejected[0]
    assert isinstance(rejected, RejectedPage) and rejected.file == "pages/low.png"
    assert "72 dpi" in rejected.reason


def test_loading_is_deterministic(site: Path, loaded: DocumentSet) -> None:
    again = load_document_folder(site, PIPELINE)
    assert again.images.tobytes() == loaded.images.tobytes()
    assert (again.files, again.labels, again.rejected) == (loaded.files, loaded.labels, loaded.rejected)


def test_two_workers_give_identical_results(site: Path, loaded: DocumentSet) -> None:
    parallel = load_document_folder(site, PIPELINE, workers=2)
    assert parallel.images.tobytes() == loaded.images.tobytes()
    assert (parallel.files, parallel.labels, parallel.rejected) == (
        loaded.files,
        loaded.labels,
        loaded.rejected,
    )


def test_truth_file_is_never_read(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    (folder / "truth.jsonl").write_text("this is not json\n")
    assert load_document_folder(folder, PIPELINE).files == (PAGES[0][0],)


def test_missing_folder(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nowhere", names="nowhere")


def test_missing_labels_file(tmp_path: Path) -> None:
    _expect_error(tmp_path, names="labels.csv")


@pytest.mark.parametrize("header", ["path,label", "file,label,extra", "file", "label,file", ""])
def test_header_must_be_file_label(tmp_path: Path, header: str) -> None:
    error = _expect_error(_labels(tmp_path, f"{header}\n"), names="labels.csv")
    assert "header" in str(error)


def test_header_may_carry_a_byte_order_mark(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    text = (folder / "labels.csv").read_text()
    (folder / "labels.csv").write_text("\ufeff" + text.replace("\n", "\r\n"))
    assert read_labels(folder)[0].file == PAGES[0][0]


def test_empty_label(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    _labels(folder, f"file,label\n{PAGES[0][0]},\n")
    error = _expect_error(folder, names=PAGES[0][0])
    assert "empty label" in str(error) and error.where is not None and error.where.endswith("labels.csv:2")


def test_wrong_number_of_columns(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    _expect_error(_labels(folder, f"file,label\n{PAGES[0][0]},a,b\n"), names="labels.csv:2")


def test_no_pages_listed(tmp_path: Path) -> None:
    _expect_error(_labels(tmp_path, "file,label\n"), names="labels.csv")


def test_missing_image(tmp_path: Path) -> None:
    _expect_error(_labels(tmp_path, "file,label\npages/gone.png,x\n"), names="pages/gone.png")


def test_unreadable_image(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    error = _expect_error(_labels(tmp_path, "file,label\nbroken.png,x\n"), names="broken.png")
    assert "unreadable" in str(error)


def test_unreadable_image_is_skipped_and_reported_with_workers(
    tmp_path: Path, write_folder: WriteFolder
) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:2])
    (folder / "broken.png").write_bytes(b"not an image")
    text = (folder / "labels.csv").read_text() + "broken.png,x\n"
    loaded = load_document_folder(_labels(folder, text), PIPELINE, workers=2)
    assert loaded.files == (PAGES[0][0], PAGES[1][0])
    assert [u.file for u in loaded.unreadable] == ["broken.png"]
    assert "unreadable" in loaded.unreadable[0].reason


@pytest.mark.parametrize("file", ["../outside.png", "pages/../../outside.png", "/etc/passwd"])
def test_paths_may_not_escape_the_folder(
    tmp_path: Path, file: str, render_page: PageMaker, scan: PageMaker
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    scan(render_page(0)).save(tmp_path / "outside.png")
    error = _expect_error(_labels(folder, f"file,label\n{file},x\n"), names=file)
    assert "escapes" in str(error)


def test_links_may_not_escape_the_folder(tmp_path: Path, render_page: PageMaker, scan: PageMaker) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    scan(render_page(0)).save(tmp_path / "outside.png")
    (folder / "link.png").symlink_to(tmp_path / "outside.png")
    _expect_error(_labels(folder, "file,label\nlink.png,x\n"), names="link.png")


def test_duplicate_entries(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    text = f"file,label\n{PAGES[0][0]},a\n./{PAGES[0][0]},b\n"
    error = _expect_error(_labels(folder, text), names="labels.csv:3")
    assert "listed twice" in str(error) and "line 2" in str(error)


def test_no_usable_pages(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", (PAGES[2],))
    error = _expect_error(folder, names="labels.csv")
    assert "no usable pages" in str(error) and "pages/low.png" in str(error)


def test_fingerprint_covers_names_and_sizes_only(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:2])
    first = dataset_fingerprint(folder)
    assert len(first) == 64 and dataset_fingerprint(folder) == first
    (folder / "truth.jsonl").write_text("{}\n")
    (folder / "pages" / "unlisted.png").write_bytes(b"x")
    assert dataset_fingerprint(folder) == first  # only labels.csv and the pages it lists count
    page = folder / PAGES[0][0]
    data = bytearray(page.read_bytes())
    data[-1] ^= 0xFF
    page.write_bytes(bytes(data))
    assert dataset_fingerprint(folder) == first  # same size, different content: by design, never content
    page.write_bytes(bytes(data) + b"\0")
    assert dataset_fingerprint(folder) != first


def test_fingerprint_rejects_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        dataset_fingerprint(tmp_path / "nowhere")


# Optional columns after file,label: sender (who wrote the page) and patient (a site-local key)


def _with_columns(folder: Path, header: str, cells: tuple[str, ...]) -> Path:
    """labels.csv of PAGES (low-resolution page included) with `header`, each page's extra `cells` in
    page order appended after its file and label."""
    lines = [header] + [
        f"{file},{label},{extra}" for (file, label, *_), extra in zip(PAGES, cells, strict=True)
    ]
    return _labels(folder, "\n".join(lines) + "\n")


def test_sender_and_patient_columns_are_carried_in_page_order(
    tmp_path: Path, write_folder: WriteFolder
) -> None:
    folder = write_folder(tmp_path / "site")
    cells = ("gp-north,pt-1", "lab-east,pt-2", "gp-north,pt-3", ",pt-2", "insurer,pt-4")
    loaded = load_document_folder(_with_columns(folder, "file,label,sender,patient", cells), PIPELINE)
    # the 72 dpi page (third) is rejected: its sender and patient go with it
    assert loaded.files == ("pages/p00003.png", "pages/p00001.png", "pages/p00002.jpg", "pages/p00004.tif")
    assert loaded.senders == ("gp-north", "lab-east", "", "insurer")  # an empty cell: an unknown sender
    assert loaded.patients == ("pt-1", "pt-2", "pt-2", "pt-4")


def test_extra_columns_may_come_in_any_order_or_alone(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site")
    cells = tuple(f"pt-{i}, sender {i} " for i in range(len(PAGES)))
    swapped = load_document_folder(_with_columns(folder, "file,label,patient,sender", cells), PIPELINE)
    assert swapped.senders == ("sender 0", "sender 1", "sender 3", "sender 4")
    assert swapped.patients == ("pt-0", "pt-1", "pt-3", "pt-4")
    alone = load_document_folder(_with_columns(folder, "file,label,sender", ("a",) * len(PAGES)), PIPELINE)
    assert alone.senders == ("a",) * 4 and alone.patients == ()


def test_without_extra_columns_there_are_no_senders_or_patients(loaded: DocumentSet) -> None:
    assert loaded.senders == () and loaded.patients == ()


@pytest.mark.parametrize(
    "header", ["file,label,sender,site", "file,label,Sender", "file,label,patient,notes"]
)
def test_an_unknown_column_is_refused_by_name(tmp_path: Path, write_folder: WriteFolder, header: str) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    unknown = header.split(",")[-1]
    error = _expect_error(_labels(folder, f"{header}\n{PAGES[0][0]},a,b,c\n"), names="labels.csv")
    assert f"unknown column {unknown!r}" in str(error)


def test_a_column_twice_is_refused(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    error = _expect_error(
        _labels(folder, f"file,label,sender,sender\n{PAGES[0][0]},a,b,c\n"), names="labels.csv"
    )
    assert "'sender' appears twice" in str(error)


def test_an_empty_patient_is_refused_naming_the_line(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:2])
    text = f"file,label,patient\n{PAGES[0][0]},a,pt-1\n{PAGES[1][0]},b, \n"
    error = _expect_error(_labels(folder, text), names=PAGES[1][0])
    assert "empty patient" in str(error) and error.where is not None and error.where.endswith("labels.csv:3")


def test_a_row_missing_an_extra_cell_is_refused(tmp_path: Path, write_folder: WriteFolder) -> None:
    folder = write_folder(tmp_path / "site", PAGES[:1])
    error = _expect_error(_labels(folder, f"file,label,sender\n{PAGES[0][0]},a\n"), names="labels.csv:2")
    assert "file,label,sender" in str(error)
