"""A hospital's printed identity: letterhead (name, logo-like mark, address, rules), footer and barcodes.

The letterhead is the strongest per-hospital signal on a page, shared by all of that hospital's document
classes; it is what lets a model overfit to one site, which the federated setting has to cope with.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageFont

from fedward.documents.synth.canvas import Box, Canvas
from fedward.documents.synth.context import PageContext
from fedward.documents.synth.fonts import FAMILIES, load_font

__all__ = ["barcode", "draw_logo", "footer", "letterhead"]


def letterhead(ctx: PageContext, *, compact: bool = False) -> int:
    """Draw the hospital's letterhead at the top margin; return the y where the document body starts."""
    scale = 0.75 if compact else 1.0
    style = ctx.hospital.letterhead
    if style == "band":
        y = _band(ctx, scale)
    elif style == "centered":
        y = _centered(ctx, scale)
    elif style == "split":
        y = _split(ctx, scale)
    else:
        y = _logo_left(ctx, scale)
    return y + ctx.pt(14 * scale)


def _name_font(ctx: PageContext, size: float) -> ImageFont.FreeTypeFont:
    """The hospital's name face, `size` times its body size."""
    return load_font(FAMILIES[ctx.hospital.heading_font].bold, ctx.pt(ctx.hospital.body_pt * size))


def _contact(ctx: PageContext) -> str:
    h = ctx.hospital
    return f"{h.street}, {h.city_line}  |  Tel {h.phone}  |  {h.web}"


def _band(ctx: PageContext, scale: float) -> int:
    """A shaded band across the text block with the name reversed out of it."""
    c, grey = ctx.canvas, ctx.hospital.accent_grey
    font = _name_font(ctx, 1.8 * scale)
    band_h = c.pt(40 * scale)
    top = ctx.top
    c.rect((ctx.left, top, ctx.right, top + band_h), fill=grey)
    logo = c.pt(28 * scale)
    pad = (band_h - logo) // 2
    draw_logo(
        c,
        (ctx.left + pad, top + pad, ctx.left + pad + logo, top + pad + logo),
        ctx.hospital.logo,
        c.paper,
        grey,
    )
    c.text(
        ctx.left + 2 * pad + logo + c.pt(4),
        top + (band_h - c.line_height(font)) // 2,
        ctx.hospital.display_name,
        font,
        fill=c.paper,
    )
    c.text(ctx.left, top + band_h + c.pt(4), _contact(ctx), ctx.fonts.tiny)
    return top + band_h + c.pt(4) + c.line_height(ctx.fonts.tiny)


def _logo_left(ctx: PageContext, scale: float) -> int:
    """Logo at the left, name and address beside it, a thick and a thin rule below."""
    c, grey = ctx.canvas, ctx.hospital.accent_grey
    font = _name_font(ctx, 2.0 * scale)
    logo = c.pt(44 * scale)
    top = ctx.top
    draw_logo(c, (ctx.left, top, ctx.left + logo, top + logo), ctx.hospital.logo, grey, c.paper)
    x = ctx.left + logo + c.pt(10)
    c.text(x, top, ctx.hospital.display_name, font, fill=grey)
    y = top + c.line_height(font) + c.pt(2)
    c.text(x, y, f"{ctx.hospital.street}, {ctx.hospital.city_line}", ctx.fonts.small)
    c.text(
        x,
        y + c.line_height(ctx.fonts.small),
        f"Telephone {ctx.hospital.phone}   {ctx.hospital.web}",
        ctx.fonts.small,
    )
    y = max(top + logo, y + 2 * c.line_height(ctx.fonts.small)) + c.pt(6)
    c.hline(ctx.left, ctx.right, y, width=c.pt(2.5), fill=grey)
    c.hline(ctx.left, ctx.right, y + c.pt(4.5), width=max(1, c.pt(0.6)), fill=grey)
    return y + c.pt(5)


def _centered(ctx: PageContext, scale: float) -> int:
    """Logo centred over the name, address centred under it, double rule."""
    c, grey = ctx.canvas, ctx.hospital.accent_grey
    font = _name_font(ctx, 2.1 * scale)
    mid = (ctx.left + ctx.right) / 2
    logo = c.pt(34 * scale)
    top = ctx.top
    draw_logo(
        c, (round(mid - logo / 2), top, round(mid + logo / 2), top + logo), ctx.hospital.logo, grey, c.paper
    )
    y = top + logo + c.pt(4)
    c.text_center(mid, y, ctx.hospital.display_name.upper(), font, fill=grey)
    y += c.line_height(font) + c.pt(2)
    c.text_center(mid, y, _contact(ctx), ctx.fonts.tiny)
    y += c.line_height(ctx.fonts.tiny) + c.pt(5)
    c.hline(ctx.left, ctx.right, y, width=max(1, c.pt(0.8)), fill=grey)
    c.hline(ctx.left, ctx.right, y + c.pt(3), width=max(1, c.pt(0.8)), fill=grey)
    return y + c.pt(4)


def _split(ctx: PageContext, scale: float) -> int:
    """Name and a department line on the left, a right-aligned address block, a rule in the accent tone."""
    c, grey = ctx.canvas, ctx.hospital.accent_grey
    font = _name_font(ctx, 1.9 * scale)
    top, h = ctx.top, ctx.hospital
    c.text(ctx.left, top, h.display_name, font, fill=grey)
    c.text(ctx.left, top + c.line_height(font) + c.pt(2), "Clinical Records Department", ctx.fonts.italic)
    step = c.line_height(ctx.fonts.tiny) + c.pt(1)
    for i, line in enumerate((h.street, h.city_line, f"Tel: {h.phone}", h.web)):
        c.text_right(ctx.right, top + i * step, line, ctx.fonts.tiny)
    small = c.pt(16 * scale)
    draw_logo(
        c,
        (ctx.right - small, top + 4 * step + c.pt(2), ctx.right, top + 4 * step + c.pt(2) + small),
        h.logo,
        grey,
        c.paper,
    )
    y = max(top + 4 * step + small + c.pt(4), top + c.line_height(font) * 2 + c.pt(6))
    c.hline(ctx.left, ctx.right, y, width=c.pt(1.5), fill=grey)
    return y + c.pt(2)


Poly = tuple[tuple[float, float], ...]


def _rect(x0: float, y0: float, x1: float, y1: float) -> Poly:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _star(points: int, inner: float, radius: float = 0.5) -> Poly:
    """A star (or, with inner == radius, a round polygon) centred in the unit square."""
    step = math.pi / points
    return tuple(
        (
            0.5 + (radius if k % 2 == 0 else inner) * math.cos(k * step - math.pi / 2),
            0.5 + (radius if k % 2 == 0 else inner) * math.sin(k * step - math.pi / 2),
        )
        for k in range(2 * points)
    )


def _wave(row: int) -> Poly:
    """A wavy band across the unit square."""
    top = [(k / 16, 0.2 + 0.25 * row + 0.1 * math.sin(k * math.pi / 4)) for k in range(17)]
    return (*top, *((x, y + 0.11) for x, y in reversed(top)))


# Logo-like marks as polygons in the unit square; True fills with ink, False cuts back to paper.
_LOGOS: dict[str, tuple[tuple[Poly, bool], ...]] = {
    "cross": ((_rect(0.38, 0, 0.62, 1), True), (_rect(0, 0.38, 1, 0.62), True)),
    "circle_cross": (
        (_star(16, 0.5), True),
        (_star(16, 0.4, 0.4), False),
        (_rect(0.44, 0.2, 0.56, 0.8), True),
        (_rect(0.2, 0.44, 0.8, 0.56), True),
    ),
    "shield": (
        (((0, 0), (1, 0), (1, 0.55), (0.5, 1), (0, 0.55)), True),
        (_rect(0.45, 0.15, 0.55, 0.7), False),
        (_rect(0.25, 0.3, 0.75, 0.4), False),
    ),
    "diamond": (
        (((0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)), True),
        (((0.5, 0.3), (0.7, 0.5), (0.5, 0.7), (0.3, 0.5)), False),
    ),
    "leaf": (
        *tuple((((0.5, i / 4), (1 - i / 10, 0.45 + i / 4), (i / 10, 0.45 + i / 4)), True) for i in range(3)),
        (_rect(0.45, 0.8, 0.55, 1), True),
    ),
    "waves": tuple((_wave(i), True) for i in range(3)),
    "star": ((_star(8, 0.2), True),),
    "square_h": (
        (_rect(0, 0, 1, 1), True),
        (_rect(0.25, 0.2, 0.39, 0.8), False),
        (_rect(0.61, 0.2, 0.75, 0.8), False),
        (_rect(0.25, 0.44, 0.75, 0.56), False),
    ),
}


def draw_logo(c: Canvas, box: Box, shape: str, ink: int, paper: int) -> None:
    """A simple logo-like mark inside `box` (a cross, shield, star...), in `ink` on `paper`."""
    x0, y0, x1, y1 = box
    for polygon, is_ink in _LOGOS[shape]:
        points = [(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in polygon]
        c.draw.polygon(points, fill=ink if is_ink else paper)


def barcode(c: Canvas, box: Box, rng: np.random.Generator) -> None:
    """A linear barcode-like pattern of random bars filling `box` (no real symbology)."""
    x0, y0, x1, y1 = box
    unit = max(1, (x1 - x0) // 110)
    x = x0
    widths = rng.integers(1, 4, size=max(1, (x1 - x0) // unit))
    for i, w in enumerate(widths):
        span = int(w) * unit
        if x + span > x1:
            break
        if i % 2 == 0:
            c.draw.rectangle((x, y0, x + span - 1, y1), fill=c.ink)
        x += span


def footer(ctx: PageContext, form_code: str) -> None:
    """A thin rule and a line of fine print at the bottom margin: form code, confidentiality, page."""
    c, f = ctx.canvas, ctx.fonts.tiny
    y = ctx.bottom - c.line_height(f)
    c.hline(ctx.left, ctx.right, y - c.pt(4), width=1, fill=ctx.hospital.accent_grey)
    c.text(ctx.left, y, f"{ctx.hospital.form_prefix}-{form_code}", f)
    c.text_center(
        (ctx.left + ctx.right) / 2, y, "CONFIDENTIAL - contains patient identifiable information", f
    )
    c.text_right(ctx.right, y, "Page 1 of 1", f)
