"""Test pages for the document tests: lines of real text rendered with PIL, turned by known angles.

The page makers are plain functions, handed to tests by the session-scoped fixtures of the same names
(`render_page`, `scan`, `on_dark_bed`, `fax`), which the module-scoped fixtures of test_dataset.py can use
too. The tests build their own pages so they do not depend on the synthetic generator.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = Path(matplotlib.get_data_path()) / "fonts/ttf"
_TEXT = (
    "patient admitted with chest pain and shortness of breath history of hypertension and type two diabetes "
    "medication prescribed follow up in two weeks blood pressure heart rate within normal limits the of and "
    "to in for discharge summary diagnosis treatment plan signed by physician date of birth allergies none "
    "known laboratory results referral to cardiology clinic Dr Smith Jones Hospital Ward Room Report Name "
    "Address Phone 2023 17 08 mg daily twice every morning night"
)
WORDS = tuple(_TEXT.split(" "))
_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


@cache
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), px)


def _render_page(seed: int, *, dpi: int = 100, font: str = "DejaVuSans.ttf", pt: float = 11.0) -> Image.Image:
    """An upright letter page: a bold letterhead and 12-30 left-aligned lines of words, on white."""
    rng = np.random.default_rng(seed)
    width, height = round(8.5 * dpi), round(11.0 * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    px = pt / 72.0 * dpi
    x, y = dpi, round(0.8 * dpi)
    draw.text((x, y), "St Mary General Hospital", font=_font("DejaVuSans-Bold.ttf", round(px * 1.8)), fill=0)
    y += round(px * 3.5)
    for _ in range(int(rng.integers(12, 30))):
        if y > height - dpi:
            break
        words = rng.choice(WORDS, size=int(rng.integers(3, 12)))
        draw.text((x, y), " ".join(words), font=_font(font, round(px)), fill=int(rng.integers(0, 60)))
        y += round(px * float(rng.choice([1.5, 1.6, 2.0, 3.0])))
    return page


def _scan(
    page: Image.Image, *, orientation: int = 0, skew: float = 0.0, dpi: int | None = 100
) -> Image.Image:
    """Turn the page by `orientation + skew` degrees counter-clockwise (PIL convention) and set its dpi."""
    turned = page.transpose(_TURNS[orientation]) if orientation else page.copy()
    if skew:
        turned = turned.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if dpi is not None:
        turned.info["dpi"] = (dpi, dpi)
    return turned


def _on_dark_bed(image: Image.Image, *, bed: int = 60, skew: float = 4.0) -> Image.Image:
    """A page skewed on a scanner bed that shows dark where the page does not cover it."""
    rotated = image.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=bed)
    rotated.info["dpi"] = image.info.get("dpi", (100, 100))
    return rotated


def _fax(image: Image.Image, *, seed: int, streak_x: int = 300) -> Image.Image:
    """A fax gateway's copy: blurred, noisy, thresholded to black and white, with a black streak."""
    rng = np.random.default_rng(seed)
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(0.6))).astype(np.int16)
    noisy = blurred + rng.integers(-30, 31, size=blurred.shape, dtype=np.int16)
    binary = np.where(noisy > 150, 255, 0).astype(np.uint8)
    binary[:, streak_x : streak_x + 2] = 0
    out = Image.fromarray(binary)
    out.info["dpi"] = image.info.get("dpi", (100, 100))
    return out


PageMaker = Callable[..., Image.Image]


@pytest.fixture(scope="session")
def render_page() -> PageMaker:
    return _render_page


@pytest.fixture(scope="session")
def scan() -> PageMaker:
    return _scan


@pytest.fixture(scope="session")
def on_dark_bed() -> PageMaker:
    return _on_dark_bed


@pytest.fixture(scope="session")
def fax() -> PageMaker:
    return _fax
