"""Page quality as the site's own preprocessing measures it, and the quality bands validation groups by.

Four measurements per accepted page, all from the scan itself (never from the synthetic generator's
ground truth, which a real hospital does not have):

- `dpi`: the resolution the pipeline's check used (metadata, or estimated from the page width);
- `skew_deg`: the absolute small-angle skew the pipeline undid (`estimated_skew_deg`);
- `noise`: speckle, the isolated ink pixels (ink with no ink among its 8 neighbours) per 10,000 pixels;
  sensor noise, dust and dithering leave them, clean text almost never does (scanners that cut the
  background to white hide grey noise on the paper, but not the speckle it leaves in the ink);
- `binarized`: of the pixels off the page's most common grey level (the paper), the share at the
  second most common (the ink): a fax or a thresholded scan is two-level, so its share is near 1, while
  a greyscale scan spreads its ink over many levels; at least `FAX_SHARE` reads as fax-like.

`quality_bands` maps the measurements onto fixed bands (the thresholds below), so every site groups its
test pages the same way and the coordinator can line the cells up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = ["FAX_SHARE", "QUALITY_BANDS", "PageQuality", "measure_quality", "quality_bands"]

FAX_SHARE = 0.9  # a page with at least this share of its non-paper pixels at one level is fax-like
_LOW_DPI = 120.0
_HIGH_DPI = 200.0
_SKEWED_DEG = 1.0
_STRONG_SKEW_DEG = 3.0
_NOISY = 2.0  # isolated ink pixels (speckle) per 10,000 pixels
_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.uint8)

# every dimension and its bands, in order from best to worst
QUALITY_BANDS: dict[str, tuple[str, ...]] = {
    "dpi": ("high", "standard", "low"),
    "skew": ("upright", "skewed", "strongly_skewed"),
    "noise": ("clean", "noisy"),
    "binarization": ("greyscale", "fax_like"),
}


@dataclass(frozen=True)
class PageQuality:
    dpi: float
    skew_deg: float
    noise: float
    binarized: float


def measure_quality(
    grey: npt.NDArray[np.uint8], dpi: float, skew_deg: float | None, ink_threshold: float
) -> PageQuality:
    """The page's quality from its full-resolution grey pixels; `ink_threshold`: grey levels below it
    count as ink (the pipeline's threshold)."""
    pixels = np.asarray(grey, dtype=np.uint8)
    hist = np.sort(np.bincount(pixels.ravel(), minlength=256))
    rest = int(pixels.size - hist[-1])  # every pixel off the most common (paper) level
    binarized = float(hist[-2]) / rest if rest else 1.0
    ink = pixels < ink_threshold
    neighbours = ndimage.convolve(ink.astype(np.uint8), _RING, mode="constant", cval=0)
    isolated = int((ink & (neighbours == 0)).sum())
    noise = 10_000.0 * isolated / max(1, pixels.size)
    return PageQuality(dpi=float(dpi), skew_deg=abs(float(skew_deg or 0.0)), noise=noise, binarized=binarized)


def quality_bands(q: PageQuality) -> dict[str, str]:
    """The page's band in each dimension of `QUALITY_BANDS`."""
    dpi = "low" if q.dpi < _LOW_DPI else ("standard" if q.dpi < _HIGH_DPI else "high")
    skew = (
        "upright"
        if q.skew_deg < _SKEWED_DEG
        else ("skewed" if q.skew_deg < _STRONG_SKEW_DEG else "strongly_skewed")
    )
    return {
        "dpi": dpi,
        "skew": skew,
        "noise": "noisy" if q.noise >= _NOISY else "clean",
        "binarization": "fax_like" if q.binarized >= FAX_SHARE else "greyscale",
    }
