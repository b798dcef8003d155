"""A document file split into its pages: PDF, multi-page TIFF, PNG/JPEG and DICOM.

`read_pages(path)` returns the pages of one file, in order, as PIL images ready for the page pipeline,
or raises `UnreadableFileError` with a one-line reason when the file is broken, truncated, encrypted or of
a kind it does not read. The format is told by the file's first bytes (`%PDF`, the DICOM preamble's
`DICM`), then by Pillow; a `.dcm`/`.dicom` name without the preamble is read as DICOM too.

- PDF (pypdfium2): every page rendered in grey at `PDF_RENDER_DPI`, and that resolution is the page's
  dpi for the pipeline's `min_dpi` check (`dpi_source` "rendered"). A password-protected PDF is refused.
- TIFF: every frame is a page; other Pillow formats (PNG, JPEG) must hold one frame.
- DICOM (pydicom): an Encapsulated PDF is rendered as above; an image (secondary capture, any number of
  frames) gives one page per frame, 16-bit values scaled by `BitsStored`, MONOCHROME1 inverted, the dpi
  from `PixelSpacing` or `NominalScannedPixelSpacing` when present.

Same bytes in, same pages out: nothing here depends on the time, the locale, the order of calls or the
caller's warning filters (the libraries' warnings about odd but readable files are ignored; Pillow's
decompression-bomb warning refuses the file).
Files with more than `MAX_PAGES` pages, or a page over Pillow's decompression-bomb limit, are refused.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

__all__ = [
    "DOCUMENT_SUFFIXES",
    "MAX_PAGES",
    "PDF_RENDER_DPI",
    "RENDERED_DPI_KEY",
    "UnreadableFileError",
    "read_pages",
]

PDF_RENDER_DPI = 150
MAX_PAGES = 1000
RENDERED_DPI_KEY = "fedward.rendered_dpi"  # image.info key: the page was rendered at this dpi
DOCUMENT_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pdf", ".dcm", ".dicom")
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
_DICOM_SUFFIXES = (".dcm", ".dicom")


class UnreadableFileError(Exception):
    """A file that gives no pages; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_pages(path: Path, *, render_dpi: int = PDF_RENDER_DPI) -> list[Image.Image]:
    """The pages of the file at `path`, in order; UnreadableFileError when it cannot give them all."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot read the file ({exc.strerror})") from None
    if not data:
        raise UnreadableFileError("empty file")
    try:
        with warnings.catch_warnings():  # the same outcome whatever the caller's warning filters
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pages = _pages(path, data, render_dpi)
    except UnreadableFileError:
        raise
    except UnidentifiedImageError:  # its message names a memory address: not the same from run to run
        raise UnreadableFileError("unreadable: not a PDF, DICOM or image file of a known format") from None
    except Exception as exc:  # a broken file, whatever the library raises, must not stop a site
        raise UnreadableFileError(f"unreadable ({type(exc).__name__}: {exc})") from None
    if not pages:
        raise UnreadableFileError("the file holds no pages")
    return pages


def _pages(path: Path, data: bytes, render_dpi: int) -> list[Image.Image]:
    if data.startswith(b"%PDF"):
        return _pdf_pages(data, render_dpi)
    if data[128:132] == b"DICM" or path.suffix.lower() in _DICOM_SUFFIXES:
        return _dicom_pages(data, render_dpi)
    return _pillow_pages(data)


def _pillow_pages(data: bytes) -> list[Image.Image]:
    with Image.open(io.BytesIO(data)) as image:
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and image.format != "TIFF":
            raise UnreadableFileError(
                f"a {image.format} file with {frames} frames: only TIFF may hold several"
            )
        _check_count(frames)
        pages = []
        for frame in ImageSequence.Iterator(image):
            page = frame.copy()  # loads the frame (a truncated one raises here) and keeps its dpi
            pages.append(page)
        return pages


def _pdf_pages(data: bytes, dpi: int) -> list[Image.Image]:
    import pypdfium2 as pdfium  # the `documents` extra

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnreadableFileError("encrypted PDF: a password is needed to open it") from None
        raise UnreadableFileError(f"unreadable PDF ({exc})") from None
    try:
        _check_count(len(pdf))
        pages = []
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                width, height = page.get_size()
                pixels = (width * dpi / 72.0) * (height * dpi / 72.0)
                if Image.MAX_IMAGE_PIXELS is not None and pixels > Image.MAX_IMAGE_PIXELS:
                    raise UnreadableFileError(f"page {index + 1} is too large to render at {dpi} dpi")
                image = page.render(scale=dpi / 72.0, grayscale=True).to_pil()
            finally:
                page.close()
            pages.append(_rendered(image.convert("L"), dpi))
        return pages
    finally:
        pdf.close()


def _rendered(image: Image.Image, dpi: float) -> Image.Image:
    image.info["dpi"] = (dpi, dpi)
    image.info[RENDERED_DPI_KEY] = dpi
    return image


def _dicom_pages(data: bytes, dpi: int) -> list[Image.Image]:
    import pydicom  # the `documents` extra

    dataset = pydicom.dcmread(io.BytesIO(data), force=data[128:132] != b"DICM")
    if str(dataset.get("SOPClassUID", "")) == ENCAPSULATED_PDF or "EncapsulatedDocument" in dataset:
        mime = str(dataset.get("MIMETypeOfEncapsulatedDocument", "application/pdf")).strip()
        if mime != "application/pdf":
            raise UnreadableFileError(f"DICOM encapsulated document of type {mime!r}: only PDF is read")
        return _pdf_pages(bytes(dataset.EncapsulatedDocument), dpi)
    if "PixelData" not in dataset:
        raise UnreadableFileError("DICOM file holds neither an image nor an encapsulated PDF")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    _check_count(frames)
    area = int(dataset.get("Rows", 0)) * int(dataset.get("Columns", 0))
    if Image.MAX_IMAGE_PIXELS is not None and area > Image.MAX_IMAGE_PIXELS:
        raise UnreadableFileError(f"DICOM frames of {area} pixels: over the decompression-bomb limit")
    pixels = np.asarray(dataset.pixel_array)
    samples = int(dataset.get("SamplesPerPixel", 1))
    if frames == 1:
        pixels = pixels[None]
    expected = 4 if samples > 1 else 3
    if pixels.ndim != expected or pixels.shape[0] != frames:
        raise UnreadableFileError(
            f"DICOM pixel data of shape {pixels.shape} does not match {frames} frame(s)"
        )
    grey = _dicom_uint8(pixels, dataset)
    dpi_from_spacing = _dicom_dpi(dataset)
    pages = []
    for frame in grey:
        image = Image.fromarray(frame)
        if dpi_from_spacing is not None:
            image.info["dpi"] = (dpi_from_spacing, dpi_from_spacing)
        pages.append(image)
    return pages


def _dicom_uint8(pixels: np.ndarray[Any, Any], dataset: Any) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """8-bit pixels: wider values scaled by BitsStored, MONOCHROME1 (white is 0) inverted."""
    if pixels.dtype != np.uint8:
        bits = int(dataset.get("BitsStored", 8 * pixels.dtype.itemsize))
        top = float(2 ** min(max(bits, 1), 32) - 1)
        pixels = np.clip(np.rint(pixels.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
    if str(dataset.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        pixels = 255 - pixels
    return pixels


def _dicom_dpi(dataset: Any) -> float | None:
    """Dots per inch from the pixel spacing in millimetres (the coarser axis), when the file gives one."""
    for keyword in ("PixelSpacing", "NominalScannedPixelSpacing", "ImagerPixelSpacing"):
        spacing = dataset.get(keyword)
        if spacing is None:
            continue
        try:
            coarsest = max(float(v) for v in spacing)
        except (TypeError, ValueError):
            continue
        if coarsest > 0:
            return 25.4 / coarsest
    return None


def _check_count(pages: int) -> None:
    if pages > MAX_PAGES:
        raise UnreadableFileError(f"{pages} pages: more than the {MAX_PAGES} a file may hold")
