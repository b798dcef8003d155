"""Document files as hospitals have them: multi-page PDF and TIFF, DICOM (secondary capture and
encapsulated PDF), split into pages; labels per file or per page; broken, truncated and encrypted files
skipped and reported per file, never stopping a site (power check: the same folder without them reports
nothing); the same reading in `fedward predict`. Every fixture is made here, from pages drawn in
conftest.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pypdfium2")
pytest.importorskip("pydicom")

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from fedward.documents import sources
from fedward.documents.dataset import load_document_folder
from fedward.documents.pipeline import Pipeline, PipelineSpec
from fedward.documents.sources import PDF_RENDER_DPI, UnreadableFileError, read_pages
from fedward.errors import DataError
from fedward.predict.inputs import read_documents
from fedward.predict.output import predictions, write_csvs

SPEC = PipelineSpec(image_size=32)
PIPELINE = Pipeline(SPEC)
PageMaker = Callable[..., Image.Image]
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@pytest.fixture(scope="module")
def pages(render_page: PageMaker, scan: PageMaker) -> list[Image.Image]:
    """Four distinct letter pages at 100 dpi, the second one turned upside down."""
    return [scan(render_page(i), orientation=180 if i == 1 else 0, skew=1.0) for i in range(4)]


def pdf_bytes(images: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=100.0)
    return buffer.getvalue()


def encrypted(pdf: bytes) -> bytes:
    """The same PDF with a Standard security handler in its trailer whose user password is not empty:
    a reader cannot open it without the password (the offsets of the xref table stay valid)."""
    handler = (
        b"/Encrypt << /Filter /Standard /V 1 /R 2 /O <"
        + b"11" * 32
        + b"> /U <"
        + b"22" * 32
        + b"> /P -4 >>\n"
        b"/ID [<" + b"33" * 16 + b"> <" + b"33" * 16 + b">]\n"
    )
    assert pdf.count(b"trailer\n<<\n") == 1
    return pdf.replace(b"trailer\n<<\n", b"trailer\n<<\n" + handler)


def tiff_bytes(images: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    frames = [Image.fromarray(np.asarray(image)) for image in images]  # without the pages' info
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:], dpi=(100, 100))
    return buffer.getvalue()


def dicom_bytes(ds: Dataset, sop_class: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DOC" if sop_class == sources.ENCAPSULATED_PDF else "OT"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def secondary_capture(images: list[Image.Image], *, spacing_mm: float = 0.254) -> bytes:
    """A multi-frame 8-bit secondary capture of `images` (same size), 0.254 mm pixels = 100 dpi."""
    frames = np.stack([np.asarray(image.convert("L")) for image in images])
    ds = Dataset()
    ds.NumberOfFrames = len(images)
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NominalScannedPixelSpacing = [spacing_mm, spacing_mm]
    ds.PixelData = frames.tobytes()
    return dicom_bytes(ds, SECONDARY_CAPTURE)


def encapsulated_pdf(pdf: bytes) -> bytes:
    ds = Dataset()
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    return dicom_bytes(ds, sources.ENCAPSULATED_PDF)


# reading one file into pages


def test_a_pdf_is_split_into_pages_rendered_at_the_fixed_dpi(
    tmp_path: Path, pages: list[Image.Image]
) -> None:
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf_bytes(pages[:3]))
    read = read_pages(path)
    assert len(read) == 3
    for page, source in zip(read, pages[:3], strict=True):
        assert page.info[sources.RENDERED_DPI_KEY] == PDF_RENDER_DPI
        # a 100 dpi page is 1.5 times as many pixels at 150 dpi: the min_dpi check sees the real scale
        assert abs(page.width - source.width * 1.5) <= 2 and abs(page.height - source.height * 1.5) <= 2
    results = [PIPELINE.process(page, file="letter.pdf") for page in read]
    assert all(r.accepted and r.dpi == PDF_RENDER_DPI and r.dpi_source == "rendered" for r in results)
    assert [r.estimated_orientation for r in results] == [0, 180, 0]
    strict = Pipeline(PipelineSpec(image_size=32, min_dpi=200)).process(read[0], file="letter.pdf")
    assert not strict.accepted and "150 dpi (rendered)" in (strict.reason or "")


def test_a_multi_page_tiff_gives_one_page_per_frame(tmp_path: Path, pages: list[Image.Image]) -> None:
    path = tmp_path / "fax.tif"
    path.write_bytes(tiff_bytes(pages[:3]))
    read = read_pages(path)
    assert len(read) == 3
    for page, source in zip(read, pages[:3], strict=True):
        assert np.array_equal(np.asarray(page.convert("L")), np.asarray(source))
        assert tuple(float(v) for v in page.info["dpi"]) == (100.0, 100.0)


def test_a_dicom_secondary_capture_gives_its_frames(tmp_path: Path, pages: list[Image.Image]) -> None:
    path = tmp_path / "capture.dcm"
    path.write_bytes(secondary_capture(pages[:2]))
    read = read_pages(path)
    assert [np.asarray(p).tobytes() for p in read] == [np.asarray(p).tobytes() for p in pages[:2]]
    assert read[0].info["dpi"] == pytest.approx((100.0, 100.0))
    assert PIPELINE.process(read[0], file="capture.dcm").dpi_source == "metadata"


def test_a_dicom_encapsulated_pdf_is_rendered(tmp_path: Path, pages: list[Image.Image]) -> None:
    path = tmp_path / "report.dcm"
    path.write_bytes(encapsulated_pdf(pdf_bytes(pages[:3])))
    direct = tmp_path / "report.pdf"
    direct.write_bytes(pdf_bytes(pages[:3]))
    read = read_pages(path)
    assert [p.tobytes() for p in read] == [p.tobytes() for p in read_pages(direct)]


def test_same_bytes_give_the_same_pages(tmp_path: Path, pages: list[Image.Image]) -> None:
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf_bytes(pages[:3]))
    first, again = read_pages(path), read_pages(path)
    assert [p.tobytes() for p in first] == [p.tobytes() for p in again]


def _broken(pages: list[Image.Image]) -> dict[str, bytes]:
    pdf, tiff, png = pdf_bytes(pages[:2]), tiff_bytes(pages[:2]), io.BytesIO()
    pages[0].save(png, "PNG")
    return {
        "encrypted.pdf": encrypted(pdf),
        "truncated.pdf": pdf[: len(pdf) // 3],
        "truncated.tif": tiff[: len(tiff) // 2],
        "truncated.png": png.getvalue()[: len(png.getvalue()) // 2],
        "garbage.dcm": b"\0" * 128 + b"DICM" + b"\xff" * 64,
        "empty.pdf": b"",
    }


def test_broken_files_raise_one_reason_each(tmp_path: Path, pages: list[Image.Image]) -> None:
    for name, data in _broken(pages).items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UnreadableFileError) as info:
            read_pages(tmp_path / name)
        assert info.value.reason and "\n" not in info.value.reason, name
    with pytest.raises(UnreadableFileError, match="encrypted PDF"):
        read_pages(tmp_path / "encrypted.pdf")


def test_power_check_the_encrypted_pdf_opens_without_its_handler(
    tmp_path: Path, pages: list[Image.Image]
) -> None:
    """The encryption is what stops the reader: the same bytes without the /Encrypt entry read fine."""
    (tmp_path / "plain.pdf").write_bytes(pdf_bytes(pages[:2]))
    assert len(read_pages(tmp_path / "plain.pdf")) == 2


# a site's folder: labels per file or per page, broken files skipped and reported


def _folder(tmp_path: Path, pages: list[Image.Image], labels: str, *, broken: bool) -> Path:
    folder = tmp_path / ("with_broken" if broken else "clean")
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "letter.pdf").write_bytes(pdf_bytes(pages[:3]))
    (folder / "docs" / "fax.tif").write_bytes(tiff_bytes(pages[2:4]))
    pages[3].save(folder / "docs" / "single.png", dpi=(100, 100))
    (folder / "docs" / "capture.dcm").write_bytes(secondary_capture(pages[1:2]))
    lines = labels.strip().splitlines()
    if broken:
        for name, data in _broken(pages).items():
            (folder / "docs" / name).write_bytes(data)
            paged = lines[0].startswith("file,page")
            extra = "," * (lines[0].count(",") - (2 if paged else 1))  # empty optional cells
            lines.append(f"docs/{name},{'1,' if paged else ''}referral{extra}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


PER_FILE = """
file,label,sender
docs/letter.pdf,referral,gp-north
docs/fax.tif,lab,
docs/single.png,lab,lab-east
docs/capture.dcm,referral,pacs
"""


def test_labels_per_file_cover_every_page_in_order(tmp_path: Path, pages: list[Image.Image]) -> None:
    loaded = load_document_folder(_folder(tmp_path, pages, PER_FILE, broken=False), PIPELINE)
    expected = [
        ("docs/letter.pdf", 1),
        ("docs/letter.pdf", 2),
        ("docs/letter.pdf", 3),
        ("docs/fax.tif", 1),
        ("docs/fax.tif", 2),
        ("docs/single.png", 1),
        ("docs/capture.dcm", 1),
    ]
    assert list(zip(loaded.files, loaded.pages, strict=True)) == expected
    assert loaded.labels == ("referral",) * 3 + ("lab",) * 3 + ("referral",)
    assert loaded.senders == ("gp-north",) * 3 + ("",) * 2 + ("lab-east", "pacs")
    assert loaded.images.shape == (7, 1, 32, 32)
    assert loaded.unreadable == () and loaded.rejected == ()


def test_labels_per_page_pick_pages(tmp_path: Path, pages: list[Image.Image]) -> None:
    text = (
        "file,page,label,patient\n"
        "docs/letter.pdf,3,lab,p1\ndocs/letter.pdf,1,referral,p2\ndocs/fax.tif,2,lab,p3\n"
    )
    folder = _folder(tmp_path, pages, text, broken=False)
    loaded = load_document_folder(folder, PIPELINE)
    assert list(zip(loaded.files, loaded.pages, loaded.labels, loaded.patients, strict=True)) == [
        ("docs/letter.pdf", 3, "lab", "p1"),
        ("docs/letter.pdf", 1, "referral", "p2"),
        ("docs/fax.tif", 2, "lab", "p3"),
    ]
    every = load_document_folder(_folder(tmp_path / "all", pages, PER_FILE, broken=False), PIPELINE)
    # the same page gives the same array whichever way it is labelled
    assert loaded.images[0].tobytes() == every.images[2].tobytes()
    assert loaded.images[2].tobytes() == every.images[4].tobytes()


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("docs/letter.pdf,4,lab", "page 4 of docs/letter.pdf does not exist"),
        ("docs/letter.pdf,0,lab", "whole number from 1"),
        ("docs/letter.pdf,two,lab", "whole number from 1"),
        ("docs/gone.pdf,1,lab", "file not found: docs/gone.pdf"),
    ],
)
def test_bad_page_lines_name_the_line(
    tmp_path: Path, pages: list[Image.Image], line: str, names: str
) -> None:
    folder = _folder(tmp_path, pages, f"file,page,label\ndocs/fax.tif,1,lab\n{line}\n", broken=False)
    with pytest.raises(DataError) as info:
        load_document_folder(folder, PIPELINE)
    assert names in str(info.value) and str(info.value.where).endswith("labels.csv:3")


def test_a_page_listed_twice_is_refused(tmp_path: Path, pages: list[Image.Image]) -> None:
    folder = _folder(tmp_path, pages, "file,page,label\ndocs/fax.tif,1,lab\ndocs/fax.tif,1,x\n", broken=False)
    with pytest.raises(DataError, match=r"page 1 of docs/fax\.tif is listed twice"):
        load_document_folder(folder, PIPELINE)


@pytest.mark.parametrize("labels", [PER_FILE, "file,page,label\ndocs/letter.pdf,2,lab\ndocs/fax.tif,1,x\n"])
def test_broken_files_are_skipped_and_reported_per_file(
    tmp_path: Path, pages: list[Image.Image], labels: str
) -> None:
    """The attack: broken, truncated and encrypted files among good ones. Each is reported once with its
    reason and the good pages load exactly as without them; the power check is the same folder without
    the broken files, which reports nothing (so the report comes from those files)."""
    with_broken = load_document_folder(_folder(tmp_path, pages, labels, broken=True), PIPELINE)
    clean = load_document_folder(_folder(tmp_path, pages, labels, broken=False), PIPELINE)
    assert clean.unreadable == ()
    assert sorted(u.file for u in with_broken.unreadable) == sorted(f"docs/{n}" for n in _broken(pages))
    reasons = {u.file: u.reason for u in with_broken.unreadable}
    assert "encrypted PDF" in reasons["docs/encrypted.pdf"]
    assert with_broken.images.tobytes() == clean.images.tobytes()
    assert (with_broken.files, with_broken.pages, with_broken.labels) == (
        clean.files,
        clean.pages,
        clean.labels,
    )


def test_two_workers_give_identical_results(tmp_path: Path, pages: list[Image.Image]) -> None:
    folder = _folder(tmp_path, pages, PER_FILE, broken=True)
    one, two = load_document_folder(folder, PIPELINE), load_document_folder(folder, PIPELINE, workers=2)
    assert one.images.tobytes() == two.images.tobytes()
    assert (one.files, one.pages, one.labels, one.rejected, one.unreadable) == (
        two.files,
        two.pages,
        two.labels,
        two.rejected,
        two.unreadable,
    )


def test_a_folder_of_only_broken_files_is_an_error(tmp_path: Path, pages: list[Image.Image]) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 nothing")
    (folder / "labels.csv").write_text("file,label\nbad.pdf,x\n")
    with pytest.raises(DataError, match="1 file"):
        load_document_folder(folder, PIPELINE)


# fedward predict reads the same files, one row per page


def test_predict_reads_every_page_and_reports_broken_files(tmp_path: Path, pages: list[Image.Image]) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "letter.pdf").write_bytes(pdf_bytes(pages[:3]))
    (folder / "locked.pdf").write_bytes(encrypted(pdf_bytes(pages[:1])))
    (folder / "notes.txt").write_text("not a document")
    inputs = read_documents(folder, SPEC)
    assert list(zip(inputs.names, inputs.pages, strict=True)) == [
        ("letter.pdf", 1),
        ("letter.pdf", 2),
        ("letter.pdf", 3),
        ("locked.pdf", None),
    ]
    assert inputs.reasons[:3] == (None,) * 3 and "encrypted" in (inputs.reasons[3] or "")
    site = load_document_folder(_folder(tmp_path / "site", pages, PER_FILE, broken=False), PIPELINE)
    assert inputs.x.tobytes() == site.images[:3].tobytes()  # the site's own arrays for the same pages
    probs = np.tile(np.array([[0.2, 0.8]]), (3, 1))
    out = tmp_path / "predictions.csv"
    write_csvs(out, inputs.key, predictions(inputs, probs, ("lab", "referral"), 0.5))
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["file"], r["page"], r["class"], r["review"]) for r in rows] == [
        ("letter.pdf", "1", "referral", "false"),
        ("letter.pdf", "2", "referral", "false"),
        ("letter.pdf", "3", "referral", "false"),
        ("locked.pdf", "", "", "true"),
    ]
    assert read_documents(folder / "letter.pdf", SPEC).pages == (1, 2, 3)
