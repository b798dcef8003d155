"""Typefaces for synthetic pages: the TrueType fonts that ship with matplotlib, loaded once per process.

Each hospital prints with its own family (sans, serif, monospace, STIX, Computer Modern) at its own size;
the page is rendered at the scanner's resolution, so point sizes become pixel sizes through the dpi.
Loaded fonts are cached because FreeType parsing costs far more than drawing a line of text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from PIL import ImageFont

__all__ = ["FAMILIES", "Family", "Typeset", "load_font", "typeset"]

FONT_DIR = Path(str(matplotlib.get_data_path())) / "fonts" / "ttf"


@dataclass(frozen=True)
class Family:
    """The files of one font family: regular, bold and italic faces."""

    regular: str
    bold: str
    italic: str


FAMILIES: dict[str, Family] = {
    "dejavu_sans": Family("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
    "dejavu_serif": Family("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"),
    "dejavu_mono": Family("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf"),
    "stix": Family("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf"),
    "computer_modern": Family("cmr10.ttf", "cmb10.ttf", "cmti10.ttf"),
    "computer_modern_sans": Family("cmss10.ttf", "DejaVuSans-Bold.ttf", "cmss10.ttf"),
    "typewriter": Family("cmtt10.ttf", "DejaVuSansMono-Bold.ttf", "cmtt10.ttf"),
}


@functools.lru_cache(maxsize=512)
def load_font(file: str, size_px: int) -> ImageFont.FreeTypeFont:
    """Load one bundled TrueType file at a pixel size (cached per process)."""
    return ImageFont.truetype(str(FONT_DIR / file), max(size_px, 4))


@dataclass(frozen=True)
class Typeset:
    """The fonts one page is printed with, already scaled to the page's resolution."""

    body: ImageFont.FreeTypeFont
    bold: ImageFont.FreeTypeFont
    italic: ImageFont.FreeTypeFont
    small: ImageFont.FreeTypeFont
    small_bold: ImageFont.FreeTypeFont
    tiny: ImageFont.FreeTypeFont
    heading: ImageFont.FreeTypeFont
    title: ImageFont.FreeTypeFont
    mono: ImageFont.FreeTypeFont


def typeset(body_family: str, heading_family: str, body_pt: float, dpi: int) -> Typeset:
    """Build the font set for a hospital's house style at a given scan resolution."""
    body, head = FAMILIES[body_family], FAMILIES[heading_family]

    def px(points: float) -> int:
        return round(points * dpi / 72)

    return Typeset(
        body=load_font(body.regular, px(body_pt)),
        bold=load_font(body.bold, px(body_pt)),
        italic=load_font(body.italic, px(body_pt)),
        small=load_font(body.regular, px(body_pt * 0.8)),
        small_bold=load_font(body.bold, px(body_pt * 0.8)),
        tiny=load_font(body.regular, px(body_pt * 0.65)),
        heading=load_font(head.bold, px(body_pt * 1.15)),
        title=load_font(head.bold, px(body_pt * 1.7)),
        mono=load_font(FAMILIES["dejavu_mono"].regular, px(body_pt * 0.95)),
    )
