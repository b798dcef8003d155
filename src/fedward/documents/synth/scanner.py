"""The scanner: turns an upright printed page into the image a hospital's capture device would save.

Geometry first (skew about the page centre as PIL's `Image.rotate`, counter-clockwise positive, then an
occasional 90/180/270 degree turn), then photometric damage in the order a device applies it: uneven
illumination and worn contrast, optical blur, sensor noise, background suppression, fax binarization
(threshold or Floyd-Steinberg dither), dust specks and copier streaks. Field boxes are mapped through the
same geometry so the truth always matches the pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from fedward.documents.synth.canvas import Box, Field
from fedward.documents.synth.hospitals import ScannerProfile

__all__ = ["MAX_SKEW_DEG", "Scan", "ScannedField", "orient_box", "scan", "skew_box"]

MAX_SKEW_DEG = 10.0
_TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class ScannedField:
    """A field's box on the final image and on the upright page."""

    kind: str
    text: str
    box: Box
    box_upright: Box


@dataclass(frozen=True)
class Scan:
    """The saved image and how it was turned: total rotation is `orientation + skew_deg` (CCW)."""

    image: Image.Image
    skew_deg: float
    orientation: int
    fields: list[ScannedField]


def scan(
    page: Image.Image, fields: Sequence[Field], profile: ScannerProfile, rng: np.random.Generator
) -> Scan:
    """Scan an upright page with `profile`'s device; `rng` is the page's own generator."""
    skew, orientation = _geometry(profile, rng)
    size = page.size
    image = _tone(page, profile, rng)
    if skew != 0.0:
        # Bilinear, not nearest: nearest-neighbour shifts whole pixel rows and shears text into fake italics.
        image = image.rotate(skew, resample=Image.Resampling.BILINEAR, fillcolor=profile.bed_grey)
    if orientation:
        image = image.transpose(_TRANSPOSE[orientation])
    if profile.blur > 0:
        image = image.filter(ImageFilter.BoxBlur(profile.blur))
    image = _sensor(image, profile, rng)
    mapped = [ScannedField(f.kind, f.text, _final_box(f.box, skew, orientation, size), f.box) for f in fields]
    return Scan(image, skew, orientation, mapped)


def _geometry(profile: ScannerProfile, rng: np.random.Generator) -> tuple[float, int]:
    """Draw the page's skew (degrees, 2 decimals, |skew| <= 10) and orientation (0/90/180/270)."""
    skew = float(np.clip(rng.normal(0.0, profile.skew_sd), -MAX_SKEW_DEG, MAX_SKEW_DEG))
    skew = round(skew, 2) if abs(skew) >= 0.05 else 0.0
    orientation = 0
    if rng.random() < profile.orientation_rate:
        orientation = (90, 180, 270)[int(rng.integers(3))]
    return skew, orientation


def _tone(page: Image.Image, profile: ScannerProfile, rng: np.random.Generator) -> Image.Image:
    """Worn contrast (tones squeezed toward grey) and uneven illumination (a smooth darkening field)."""
    image = page
    if profile.contrast < 1.0:
        image = image.point([round(128 + (v - 128) * profile.contrast) for v in range(256)])
    if profile.shading > 0:
        field = 255 * (1 - profile.shading * rng.random((3, 3)))
        light = Image.fromarray(field.astype(np.uint8)).resize(image.size, Image.Resampling.BILINEAR)
        image = ImageChops.multiply(image, light)
    return image


def _sensor(image: Image.Image, profile: ScannerProfile, rng: np.random.Generator) -> Image.Image:
    """Noise, background suppression, binarization, dust and streaks on the final geometry."""
    if profile.noise > 0:
        noise = rng.integers(0, 2 * profile.noise + 1, size=(image.height, image.width), dtype=np.uint8)
        image = ImageChops.add(image, Image.fromarray(noise), 1.0, -profile.noise)
    lut = [255 if v > profile.background_cut else v for v in range(256)]
    if profile.binarize == "threshold":
        lut = [255 if v > profile.threshold else 0 for v in lut]
    image = image.point(lut)
    if profile.binarize == "dither":
        image = image.convert("1").convert("L")
    _dust(image, profile, rng)
    return image


def _dust(image: Image.Image, profile: ScannerProfile, rng: np.random.Generator) -> None:
    """Dark specks from dust on the glass and light vertical streaks from a scratched copier drum."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    for _ in range(int(rng.poisson(profile.speckle))):
        x, y, r = int(rng.integers(w)), int(rng.integers(h)), int(rng.integers(1, 3))
        draw.ellipse((x, y, x + r, y + r), fill=0 if profile.binarize != "none" else int(rng.integers(0, 90)))
    for _ in range(int(rng.integers(0, profile.streaks + 1))):
        x = int(rng.integers(w))
        grey = 0 if profile.binarize != "none" else int(rng.integers(150, 215))
        draw.rectangle((x, 0, x + int(rng.integers(0, 2)), h), fill=grey)


def skew_box(box: Box, angle: float, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Bounds of `box` after PIL's `rotate(angle)` about the centre of an image of `size` (no expand)."""
    cx, cy = size[0] / 2, size[1] / 2
    t = math.radians(angle)
    cos, sin = math.cos(t), math.sin(t)
    xs, ys = [], []
    for x, y in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])):
        dx, dy = x - cx, y - cy
        xs.append(cx + dx * cos + dy * sin)
        ys.append(cy - dx * sin + dy * cos)
    return min(xs), min(ys), max(xs), max(ys)


def orient_box(
    box: tuple[float, float, float, float], orientation: int, size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Bounds of `box` after a counter-clockwise turn by `orientation` degrees of an image of `size`."""
    w, h = size
    x0, y0, x1, y1 = box
    if orientation == 90:
        return y0, w - x1, y1, w - x0
    if orientation == 180:
        return w - x1, h - y1, w - x0, h - y0
    if orientation == 270:
        return h - y1, x0, h - y0, x1
    return box


def _final_box(box: Box, skew: float, orientation: int, size: tuple[int, int]) -> Box:
    """A field's box on the saved image: skewed, turned, rounded outward and clipped to the image."""
    turned = orient_box(skew_box(box, skew, size), orientation, size)
    w, h = size if orientation in (0, 180) else (size[1], size[0])
    x0, y0 = min(max(math.floor(turned[0]), 0), w), min(max(math.floor(turned[1]), 0), h)
    x1, y1 = min(max(math.ceil(turned[2]), 0), w), min(max(math.ceil(turned[3]), 0), h)
    return x0, y0, x1, y1
