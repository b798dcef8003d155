"""Page preprocessing steps for scanned documents, each a small pure function over arrays.

The steps, in the order `fedward.documents.pipeline.Pipeline` runs them:

1. resolution: the scan resolution from the image metadata, or, when absent, estimated from the pixel width
   of the page's short side assuming a letter/A4 width of about 8.4 inches;
2. greyscale and ink levels: any PIL mode to 8-bit grey, box-reduced to a working resolution; dark scanner
   bed that a skewed page leaves uncovered painted over, uneven lighting divided out, scanner streaks
   erased; the background and ink grey levels from the grey histogram split at Otsu's threshold (Otsu
   1979, "A threshold selection method from gray-level histograms"), so faded or dark scans map to the
   same ink scale;
3. rotation: skew and the multiple of 90 degrees, estimated from the ink pixels by
   `fedward.documents.rotation` (projection-profile deskew, baseline cue for upside-down pages); this
   module keeps the values passed to and from it (`Ink`, `Rotation`) and `upright_coordinates`, the
   coordinate turn both use;
4. crop and resize: the content box in the upright frame plus a margin, scaled with its aspect ratio kept
   into a square of `4 * size` pixels in one affine resampling, then box-averaged down to `size`.

Output convention: float32 ink map, 0 = paper, 1 = ink (linear between the measured background and ink
grey levels, clipped). Everything is deterministic; nothing here draws random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

__all__ = [
    "ContentBox",
    "Ink",
    "InkLevels",
    "Resolution",
    "Rotation",
    "content_box",
    "cover_scanner_bed",
    "erase_streaks",
    "flatten_illumination",
    "ink_levels",
    "ink_pixels",
    "page_resolution",
    "reduce_to_dpi",
    "render_upright",
    "to_greyscale",
    "upright_coordinates",
]

FloatArray = npt.NDArray[np.float32]
GreyArray = npt.NDArray[np.uint8]
Float64Array = npt.NDArray[np.float64]

SUPERSAMPLE = 4  # render at 4x the output size, then box-average: anti-aliasing for the final image
_MIN_CONTRAST = 32  # grey levels between background and ink below which a page counts as blank
_MIN_INK_POINTS = 50
_EVEN_LIGHT = 0.06  # paper brightness varying less than this share counts as evenly lit


@dataclass(frozen=True)
class Resolution:
    """Scan resolution in dots per inch and where it came from: "metadata", "estimated", or "rendered"
    (a PDF page, rendered at that resolution)."""

    dpi: float
    source: Literal["metadata", "estimated", "rendered"]


@dataclass(frozen=True)
class InkLevels:
    """Grey levels of paper and ink, and the threshold between them used to find ink pixels."""

    background: float
    ink: float
    threshold: float

    @property
    def contrast(self) -> float:
        return self.background - self.ink

    def lookup_table(self) -> FloatArray:
        """Grey value -> ink in [0, 1]: 0 at or above the background level, 1 at or below the ink level."""
        grey = np.arange(256, dtype=np.float32)
        ink = (np.float32(self.background) - grey) / np.float32(max(self.contrast, 1.0))
        clipped: FloatArray = np.clip(ink, 0.0, 1.0).astype(np.float32)
        return clipped


@dataclass(frozen=True)
class Rotation:
    """Estimated rotation of the page content, counter-clockwise positive like PIL `Image.rotate`.

    The content was turned by `orientation + skew_deg`; rotating by minus that makes it upright. Made by
    `fedward.documents.rotation.estimate_rotation`.
    """

    orientation: int
    skew_deg: float

    @property
    def total_deg(self) -> float:
        return self.orientation + self.skew_deg


@dataclass(frozen=True)
class ContentBox:
    """Box around the ink in the upright frame, in working pixels relative to the image centre."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Ink:
    """The ink pixels of the working image: a mask, and their coordinates relative to the image centre.

    `xs[i], ys[i]` is the i-th pixel of the mask in row-major order, so `labels[mask]` lines up with them.
    """

    mask: npt.NDArray[np.bool_]
    xs: FloatArray
    ys: FloatArray


def page_resolution(image: Image.Image, *, page_width_in: float) -> Resolution:
    """The scan resolution: the dpi a PDF page was rendered at, else metadata `dpi` when plausible, else
    the short side over the page width.

    Metadata below 10 dpi is treated as absent (JPEG files store 1 when they only record an aspect ratio).
    When x and y resolution differ, the lower one counts, so the check never overstates the resolution.
    """
    rendered = image.info.get("fedward.rendered_dpi")  # fedward.documents.sources.RENDERED_DPI_KEY
    if isinstance(rendered, int | float) and math.isfinite(rendered) and rendered > 0:
        return Resolution(dpi=float(rendered), source="rendered")
    raw = image.info.get("dpi")
    if isinstance(raw, tuple) and len(raw) == 2:
        try:
            dpi = min(float(raw[0]), float(raw[1]))
        except (TypeError, ValueError):
            dpi = math.nan
        if math.isfinite(dpi) and dpi >= 10.0:
            return Resolution(dpi=dpi, source="metadata")
    return Resolution(dpi=min(image.size) / page_width_in, source="estimated")


def to_greyscale(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit grey ("L"); transparent areas become white paper, 16/32-bit ranges are scaled."""
    if image.mode == "L":
        return image
    if image.mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("L")
    if image.mode.startswith("I") or image.mode == "F":
        return Image.fromarray(_wide_to_uint8(np.asarray(image)))
    if image.mode in ("1", "P", "RGB"):
        return image.convert("L")
    return image.convert("RGB").convert("L")


def _wide_to_uint8(values: npt.NDArray[np.generic]) -> GreyArray:
    """16-bit, 32-bit or float grey to 0..255, by the range the dtype implies (floats: 0..1 or 0..255)."""
    data = values.astype(np.float64)
    top = float(data.max()) if data.size else 0.0
    if values.dtype.kind == "f":
        scale = 255.0 if top <= 1.0 else 1.0
    else:
        scale = 1.0 if top <= 255 else (255.0 / 65535.0 if top <= 65535 else 255.0 / top)
    return np.clip(np.rint(data * scale), 0, 255).astype(np.uint8)


def reduce_to_dpi(grey: Image.Image, dpi: float, working_dpi: float) -> tuple[Image.Image, int]:
    """Box-reduce by the integer factor that brings `dpi` closest to `working_dpi` (never enlarges)."""
    factor = max(1, round(dpi / working_dpi))
    return (grey.reduce(factor) if factor > 1 else grey), factor


def cover_scanner_bed(grey: Image.Image) -> Image.Image:
    """Paint paper over the scanner bed: dark, empty regions joined to the image border.

    A skewed page leaves corners of the (often dark) scanner lid or bed uncovered; left alone they would
    count as ink and swamp the text in every later step. They are found on a 4x box-reduced copy (text
    lines blur into light grey there, the bed stays dark): regions darker than midway between paper and
    the darkest blocks that still touch the border after a 3x3 opening (which cuts thin strokes such as
    streaks) and hold no content (so the dim edge of an unevenly lit page, which holds text, is kept);
    regrown into the dark pixels connected to them, then by one block for the blurred page edge, plus a
    one-block frame for the pale tips of the bed's wedges. Content does not touch the border of a scan,
    thanks to page margins.
    """
    block = 4
    if min(grey.size) < 16 * block:
        return grey
    coarse = np.asarray(grey.reduce(block))
    paper, darkest = np.percentile(coarse, [50, 1])
    if paper - darkest < _MIN_CONTRAST:
        return grey
    square = np.ones((3, 3), dtype=bool)
    dark = coarse < (paper + darkest) / 2.0
    labels, _ = ndimage.label(ndimage.binary_opening(dark, structure=square))
    edge = np.concatenate((labels[0], labels[-1], labels[:, 0], labels[:, -1]))
    touching = [k for k in np.unique(edge[edge > 0]) if _is_empty(coarse[labels == k])]
    if not touching:
        return grey
    # the opening also shaved the thin tips of the bed's wedges: grow back into the dark pixels it removed
    bed = ndimage.binary_propagation(np.isin(labels, touching), structure=square, mask=dark)
    bed = ndimage.binary_dilation(bed, structure=square)
    bed[[0, -1], :] = bed[:, [0, -1]] = True  # the wedges' tips, too pale for the coarse threshold
    mask = Image.fromarray(bed.astype(np.uint8) * 255).resize(grey.size, Image.Resampling.NEAREST)
    covered = grey.copy()
    covered.paste(round(float(paper)), mask=mask)
    return covered


def _is_empty(values: npt.NDArray[np.uint8]) -> bool:
    """A dark region holds no content when its darkest 2% is within 20% of its median: a bare scanner bed,
    not the dim edge of an unevenly lit page, where text stands out from the dim paper."""
    low, median = np.percentile(values, [2, 50])
    return bool(low >= 0.8 * median - 4.0)


def flatten_illumination(grey: Image.Image) -> Image.Image:
    """Divide out uneven lighting (phone captures, copier shading) so one threshold fits the whole page.

    The local paper level is the brightest block within about 0.7 inch (a maximum filter on an 8x
    box-reduced copy, so text and table shading do not pull it down), smoothed and brought back to full
    size; each pixel is scaled so that the paper becomes white. Evenly lit pages are returned unchanged.
    """
    block = 8
    if min(grey.size) < 8 * block:
        return grey
    coarse = np.asarray(grey.reduce(block)).astype(np.float32)
    paper = ndimage.uniform_filter(ndimage.maximum_filter(coarse, size=9), size=9)
    low, high = np.percentile(paper, [2, 98])
    if high - low < _EVEN_LIGHT * high:
        return grey
    # gain in 1/64 steps, at most 3.98 (paper no darker than a quarter of white), so that 8-bit grey times
    # gain fits 16 bits; nearest-neighbour upsampling is enough for a map this smooth
    gain = np.clip(np.rint(255.0 * 64.0 / np.maximum(paper, 1.0)), 64, 255).astype(np.uint8)
    gain_map = np.asarray(Image.fromarray(gain).resize(grey.size, Image.Resampling.NEAREST))
    flat = (np.asarray(grey).astype(np.uint16) * gain_map) >> 6
    return Image.fromarray(np.minimum(flat, 255).astype(np.uint8))


def ink_levels(grey: GreyArray) -> InkLevels:
    """Background and ink grey levels: the medians of the two sides of Otsu's threshold.

    The threshold for ink pixels is the midpoint of the two levels: Otsu's own threshold drifts into the
    background's tail when ink covers only a few percent of the page, as it does on most documents.
    """
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    split = _otsu(hist)
    background = _median_level(hist, split + 1, 256)
    ink = _median_level(hist, 0, split + 1)
    return InkLevels(background=background, ink=ink, threshold=(background + ink) / 2.0)


def _otsu(hist: Float64Array) -> int:
    """Otsu's threshold: the grey level t maximising the between-class variance of [0, t] and (t, 255]."""
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(hist)
    mass = np.cumsum(hist * levels)
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight - total * mass) ** 2 / (weight * (total - weight))
    between[~np.isfinite(between)] = -1.0
    return int(np.argmax(between))


def _median_level(hist: Float64Array, lo: int, hi: int) -> float:
    part = hist[lo:hi]
    if part.sum() <= 0:
        return float(lo if lo > 0 else hi - 1)
    return float(lo + np.searchsorted(np.cumsum(part), part.sum() / 2.0))


def erase_streaks(grey: Image.Image, levels: InkLevels) -> Image.Image:
    """Paint out scanner streaks: columns dark over at least 95% of the image height.

    A scratched drum or dirty feeder glass draws a line along the feed direction through the whole scan;
    left in, one such line outweighs all the text in the vertical projection profile and the page reads
    as turned by 90 degrees. No content spans that much of a page (a margin-to-margin rule on a page
    turned by 90 degrees covers under 90% of the height). Each streak is replaced by the lighter of the
    columns on either side, which keeps most of the text it crossed.
    """
    pixels = np.asarray(grey)
    dark = pixels < (levels.threshold + levels.background) / 2.0
    streak = dark.mean(axis=0) >= 0.95
    if not streak.any() or streak.all():
        return grey
    repaired = pixels.copy()
    columns = np.arange(pixels.shape[1])
    clean = np.flatnonzero(~streak)
    # for each streak column, the nearest clean column on its left and on its right
    left = clean[np.clip(np.searchsorted(clean, columns[streak]) - 1, 0, clean.size - 1)]
    right = clean[np.clip(np.searchsorted(clean, columns[streak]), 0, clean.size - 1)]
    repaired[:, streak] = np.maximum(pixels[:, left], pixels[:, right])
    return Image.fromarray(repaired)


def ink_pixels(grey: GreyArray, levels: InkLevels) -> Ink | None:
    """The ink pixels of a page, or None when it looks blank (too little contrast or too little ink)."""
    if levels.contrast < _MIN_CONTRAST:
        return None
    mask = grey < levels.threshold
    ys, xs = np.nonzero(mask)
    if xs.size < _MIN_INK_POINTS:
        return None
    height, width = grey.shape
    return Ink(
        mask=mask,
        xs=xs.astype(np.float32) - np.float32(width / 2.0),
        ys=ys.astype(np.float32) - np.float32(height / 2.0),
    )


def upright_coordinates(
    xs: FloatArray, ys: FloatArray, angle_deg: float
) -> tuple[Float64Array, Float64Array]:
    """Coordinates (u, t) of the points once the page is turned back by `angle_deg` (t grows downwards)."""
    r = math.radians(angle_deg)
    c, s = math.cos(r), math.sin(r)
    return xs * c - ys * s, xs * s + ys * c


def content_box(ink: Ink, rotation: Rotation) -> ContentBox:
    """The box around the ink in the upright frame, ignoring sparse specks (scanner dust) at its edges."""
    u, t = upright_coordinates(ink.xs, ink.ys, rotation.total_deg)
    left, right = _extent(u)
    top, bottom = _extent(t)
    return ContentBox(left=left, top=top, right=right, bottom=bottom)


def _extent(values: Float64Array, n_bins: int = 256, min_share: float = 2e-4) -> tuple[float, float]:
    """From the first to the last of `n_bins` histogram bins holding at least `min_share` of the points."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1.0:
        return lo, hi + 1.0
    counts, edges = np.histogram(values, bins=n_bins, range=(lo, hi))
    full = np.flatnonzero(counts >= max(2.0, min_share * values.size))
    if full.size == 0:
        return lo, hi
    return float(edges[full[0]]), float(edges[full[-1] + 1])


def render_upright(
    grey: Image.Image, levels: InkLevels, rotation: Rotation, box: ContentBox, *, size: int, margin: float
) -> FloatArray:
    """The content box turned upright, fitted (aspect kept, centred, padded with paper) into size x size ink.

    One affine resampling does rotation, crop and scale; the page is first box-reduced so that the bilinear
    step shrinks by at most 2x (bilinear alone would drop thin strokes), then rendered at `SUPERSAMPLE` times
    the output size and box-averaged down.
    """
    big = size * SUPERSAMPLE
    side = max(box.right - box.left, box.bottom - box.top) * (1.0 + 2.0 * margin) + 1.0
    factor = max(1, math.ceil(side / (2.0 * big)))
    source = grey.reduce(factor) if factor > 1 else grey
    step = side / big / factor  # source pixels per rendered pixel
    r = math.radians(rotation.total_deg)
    c, s = math.cos(r), math.sin(r)
    u0 = ((box.left + box.right) / 2.0 - side / 2.0) / factor
    t0 = ((box.top + box.bottom) / 2.0 - side / 2.0) / factor
    cx, cy = grey.width / 2.0 / factor, grey.height / 2.0 / factor
    # output (p, q) -> upright (u, t) = (u0 + p*step, t0 + q*step) -> page (x, y) = rotate (u, t) by +angle
    matrix = (c * step, s * step, cx + c * u0 + s * t0, -s * step, c * step, cy - s * u0 + c * t0)
    fill = round(levels.background)
    rendered = source.transform(
        (big, big), Image.Transform.AFFINE, matrix, resample=Image.Resampling.BILINEAR, fillcolor=fill
    )
    ink = levels.lookup_table()[np.asarray(rendered)]
    out: FloatArray = ink.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3), dtype=np.float32)
    return out
