"""The drawing surface of one upright page, in pixels, with the boxes of the patient details it holds.

Text is drawn word by word from a per-process cache of rendered word masks: FreeType rasterization is the
main cost of a page, and clinical text repeats its words, so the cache keeps a page within its time budget.
Every patient detail (name, MRN, date of birth, address, phone) drawn through `text(..., kind=...)` is
recorded as a `Field` with the ink bounding box, which the scanner later maps through its transforms.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

__all__ = ["Box", "Canvas", "Field", "union"]

Box = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont


@dataclass(frozen=True)
class Field:
    """One patient detail on the page: what kind it is, the text drawn, and its ink box."""

    kind: str
    text: str
    box: Box


@dataclass(frozen=True)
class _Word:
    mask: Image.Image | None
    dx: int
    dy: int
    advance: float


@functools.lru_cache(maxsize=1 << 15)
def _word(font: Font, word: str) -> _Word:
    """Rasterize one word once; `dx, dy` place its mask relative to the text origin (left, ascender)."""
    left, top, right, bottom = font.getbbox(word)
    x0, y0, x1, y1 = math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom)
    advance = float(font.getlength(word))
    if x1 <= x0 or y1 <= y0:
        return _Word(None, 0, 0, advance)
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(mask).text((-x0, -y0), word, fill=255, font=font)
    return _Word(mask, x0, y0, advance)


def union(a: Box | None, b: Box) -> Box:
    """The smallest box holding both boxes (`a` may be None for "nothing yet")."""
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class Canvas:
    """An upright greyscale page being printed: drawing helpers in pixels plus the fields drawn so far."""

    def __init__(self, size: tuple[int, int], dpi: int, paper: int, ink: int) -> None:
        self.image = Image.new("L", size, paper)
        self.draw = ImageDraw.Draw(self.image)
        self.dpi = dpi
        self.paper = paper
        self.ink = ink
        self.fields: list[Field] = []

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    def pt(self, points: float) -> int:
        """Convert a length in typographic points (1/72 inch) to pixels at this page's resolution."""
        return round(points * self.dpi / 72)

    def width_of(self, text: str, font: Font) -> int:
        """Advance width of `text` in pixels, as `text()` would lay it out."""
        space = _word(font, " ").advance
        words = text.split(" ")
        return round(sum(_word(font, w).advance for w in words if w) + space * (len(words) - 1))

    def line_height(self, font: Font) -> int:
        """Ascent plus descent of a font: the height of one line of text without extra leading."""
        ascent, descent = font.getmetrics()
        return int(ascent + descent)

    def text(
        self, x: float, y: int, text: str, font: Font, *, fill: int | None = None, kind: str | None = None
    ) -> Box:
        """Draw one line of text with its origin at the left/ascender point; return its ink box."""
        colour = self.ink if fill is None else fill
        space = _word(font, " ").advance
        pos, box = float(x), None
        for word in text.split(" "):
            if word:
                glyphs = _word(font, word)
                if glyphs.mask is not None:
                    px, py = round(pos) + glyphs.dx, y + glyphs.dy
                    self.image.paste(colour, (px, py), glyphs.mask)
                    box = union(box, (px, py, px + glyphs.mask.width, py + glyphs.mask.height))
                pos += glyphs.advance
            pos += space
        ink = box if box is not None else (round(x), y, round(x), y)
        if kind is not None:
            self.fields.append(Field(kind, text, ink))
        return ink

    def text_right(
        self,
        x_right: float,
        y: int,
        text: str,
        font: Font,
        *,
        fill: int | None = None,
        kind: str | None = None,
    ) -> Box:
        """Draw text so that it ends at `x_right`."""
        return self.text(x_right - self.width_of(text, font), y, text, font, fill=fill, kind=kind)

    def text_center(
        self, x_mid: float, y: int, text: str, font: Font, *, fill: int | None = None, kind: str | None = None
    ) -> Box:
        """Draw text centred on `x_mid`."""
        return self.text(x_mid - self.width_of(text, font) / 2, y, text, font, fill=fill, kind=kind)

    def spans(
        self, x: float, y: int, parts: Sequence[tuple[str, str | None]], font: Font, bold: Font | None = None
    ) -> float:
        """Draw consecutive pieces of one line; pieces with a kind are fields (and bold when `bold` is
        given). Returns the x after the last piece."""
        for text, kind in parts:
            face = bold if (bold is not None and kind is not None) else font
            self.text(x, y, text, face, kind=kind)
            x += self.width_of(text, face)
        return x

    def record(self, kind: str, text: str, boxes: Sequence[Box]) -> None:
        """Record one field drawn as several pieces (a two-line address) under the union of their boxes."""
        box: Box | None = None
        for b in boxes:
            box = union(box, b)
        if box is not None:
            self.fields.append(Field(kind, text, box))

    def wrap(self, text: str, font: Font, width: int) -> list[str]:
        """Break `text` into lines no wider than `width` pixels (a single long word overflows)."""
        lines: list[str] = []
        current: list[str] = []
        for word in text.split():
            trial = " ".join([*current, word])
            if current and self.width_of(trial, font) > width:
                lines.append(" ".join(current))
                current = [word]
            else:
                current.append(word)
        if current:
            lines.append(" ".join(current))
        return lines

    def paragraph(
        self,
        x: int,
        y: int,
        width: int,
        text: str,
        font: Font,
        *,
        leading: float = 1.3,
        justify: bool = False,
    ) -> int:
        """Draw wrapped text starting at `y`; return the y just below its last line."""
        step = round(font.size * leading)
        lines = self.wrap(text, font, width)
        for i, line in enumerate(lines):
            if justify and i < len(lines) - 1:
                self._justified(x, y, width, line, font)
            else:
                self.text(x, y, line, font)
            y += step
        return y

    def _justified(self, x: int, y: int, width: int, line: str, font: Font) -> None:
        """Draw a line with its inter-word space stretched so it fills `width`."""
        words = line.split(" ")
        if len(words) < 2:
            self.text(x, y, line, font)
            return
        natural = sum(_word(font, w).advance for w in words)
        gap = (width - natural) / (len(words) - 1)
        pos = float(x)
        for word in words:
            self.text(pos, y, word, font)
            pos += _word(font, word).advance + gap

    def hline(self, x0: int, x1: int, y: int, *, width: int = 1, fill: int | None = None) -> None:
        """A horizontal rule."""
        self.draw.rectangle((x0, y, x1, y + max(width, 1) - 1), fill=self.ink if fill is None else fill)

    def vline(self, x: int, y0: int, y1: int, *, width: int = 1, fill: int | None = None) -> None:
        """A vertical rule."""
        self.draw.rectangle((x, y0, x + max(width, 1) - 1, y1), fill=self.ink if fill is None else fill)

    def rect(self, box: Box, *, outline: int | None = None, fill: int | None = None, width: int = 1) -> None:
        """A rectangle, outlined and/or filled."""
        self.draw.rectangle(box, outline=outline, fill=fill, width=max(width, 1))
