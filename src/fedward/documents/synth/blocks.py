"""Reusable pieces of a printed clinical document: headings, label/value grids, tables, checkboxes,
signature lines and the patient identification block, each drawn in the hospital's own style.

Every function takes the page context and the y where it starts, and returns the y where the next
piece may start, so templates read top to bottom like the page they print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import ImageFont

from fedward.documents.synth.canvas import Box
from fedward.documents.synth.context import PageContext
from fedward.documents.synth.letterhead import barcode
from fedward.documents.synth.marks import scribble_signature, tick

__all__ = [
    "Column",
    "bullets",
    "checkbox",
    "heading",
    "kv_grid",
    "labelled",
    "paragraph",
    "paragraph_height",
    "patient_block",
    "sections",
    "signature",
    "table",
    "title",
]

Font = ImageFont.FreeTypeFont
Item = tuple[str, str, str | None]  # label, value, field kind (None: not a patient detail)


@dataclass(frozen=True)
class Column:
    """A table column: header text, share of the table width, alignment ("l" or "r")."""

    title: str
    share: float
    align: str = "l"


def title(ctx: PageContext, y: int, text: str, *, center: bool = False) -> int:
    """The document title in the hospital's heading face."""
    font = ctx.fonts.title
    if center:
        ctx.canvas.text_center((ctx.left + ctx.right) / 2, y, text, font)
    else:
        ctx.canvas.text(ctx.left, y, text, font)
    return y + round(font.size * 1.6)


def heading(ctx: PageContext, y: int, text: str) -> int:
    """A section heading: shaded bar, underline, plain capitals or box, by hospital."""
    c, f, style = ctx.canvas, ctx.fonts.heading, ctx.hospital.heading_style
    h = c.line_height(f)
    pad = ctx.pt(2.5)
    if style == "bar":
        c.rect((ctx.left, y, ctx.right, y + h + 2 * pad), fill=ctx.hospital.shade_grey)
        c.text(ctx.left + pad * 2, y + pad, text.upper(), f)
    elif style == "boxed":
        c.rect((ctx.left, y, ctx.right, y + h + 2 * pad), outline=c.ink, width=ctx.pt(0.8))
        c.text(ctx.left + pad * 2, y + pad, text, f)
    elif style == "underline":
        c.text(ctx.left, y + pad, text, f)
        c.hline(ctx.left, ctx.right, y + h + pad + ctx.pt(1), width=ctx.pt(0.7))
    else:
        c.text(ctx.left, y + pad, text.upper() + ":", f)
    return y + h + 2 * pad + ctx.pt(5)


def labelled(
    ctx: PageContext,
    x: int,
    y: int,
    label: str,
    value: str,
    kind: str | None = None,
    *,
    font: Font | None = None,
) -> Box:
    """`Label: value` with a bold label; the value is recorded as a field when `kind` is given."""
    small = font is not None
    lab = ctx.fonts.small_bold if small else ctx.fonts.bold
    val = font if font is not None else ctx.fonts.body
    ctx.canvas.text(x, y, f"{label}:", lab)
    return ctx.canvas.text(x + ctx.canvas.width_of(f"{label}: ", lab), y, value, val, kind=kind)


def kv_grid(ctx: PageContext, y: int, items: Sequence[Item], *, cols: int = 2, boxed: bool = False) -> int:
    """Label/value pairs in a grid of `cols` columns, optionally ruled like a form. A pair too wide for
    one cell takes a whole row, so values are never cut or run into their neighbours."""
    c, font = ctx.canvas, ctx.fonts.small
    row_h = round(c.line_height(font) * 1.9)
    col_w = ctx.width // cols
    pad = ctx.pt(3)
    starts: list[list[int]] = [[]]  # x where each cell of each row begins
    for label, value, kind in items:
        need = c.width_of(f"{label}: ", ctx.fonts.small_bold) + c.width_of(value, font) + 2 * pad
        span = 1 if need <= col_w else cols
        used = len(starts[-1]) and (starts[-1][-1] - ctx.left) // col_w + 1
        if used + span > cols:
            starts.append([])
            used = 0
        x, top = ctx.left + used * col_w, y + (len(starts) - 1) * row_h
        starts[-1].append(x)
        labelled(ctx, x + pad, top + (row_h - c.line_height(font)) // 2, label, value, kind, font=font)
        if span == cols:
            starts.append([])
    rows = [r for r in starts if r]
    if boxed:
        for i, row in enumerate(rows):
            top = y + i * row_h
            c.rect((ctx.left, top, ctx.right, top + row_h), outline=c.ink, width=1)
            for x in row[1:]:
                c.vline(x, top, top + row_h)
    return y + len(rows) * row_h + ctx.pt(8)


def paragraph(
    ctx: PageContext, y: int, text: str, *, indent: int = 0, font: Font | None = None, justify: bool = False
) -> int:
    """Wrapped body text across the text block, followed by a paragraph gap."""
    f = font if font is not None else ctx.fonts.body
    y = ctx.canvas.paragraph(
        ctx.left + indent, y, ctx.width - indent, text, f, leading=ctx.hospital.leading, justify=justify
    )
    return y + round(f.size * 0.6)


def paragraph_height(ctx: PageContext, text: str, *, indent: int = 0, font: Font | None = None) -> int:
    """How far `paragraph()` would move y for this text (to decide whether it still fits the page)."""
    f = font if font is not None else ctx.fonts.body
    lines = len(ctx.canvas.wrap(text, f, ctx.width - indent))
    return lines * round(f.size * ctx.hospital.leading) + round(f.size * 0.6)


def sections(ctx: PageContext, y: int, items: Sequence[tuple[str, str]], *, reserve: int) -> int:
    """Headed paragraphs, in order, for as long as they fit above `ctx.limit - reserve`."""
    for name, text in items:
        if y + ctx.pt(24) + paragraph_height(ctx, text) > ctx.limit - reserve:
            break
        y = paragraph(ctx, heading(ctx, y, name), text)
    return y


def bullets(
    ctx: PageContext, y: int, items: Sequence[str], *, numbered: bool = False, font: Font | None = None
) -> int:
    """A bulleted or numbered list, wrapped with a hanging indent."""
    f = font if font is not None else ctx.fonts.body
    indent = ctx.pt(16)
    for i, item in enumerate(items, start=1):
        ctx.canvas.text(ctx.left + ctx.pt(4), y, f"{i}." if numbered else "-", f)
        y = ctx.canvas.paragraph(
            ctx.left + indent, y, ctx.width - indent, item, f, leading=ctx.hospital.leading
        )
    return y + round(f.size * 0.6)


def checkbox(ctx: PageContext, x: int, y: int, size: int, checked: bool) -> None:
    """A square checkbox at (x, y); a checked one gets a hand-drawn tick."""
    ctx.canvas.rect((x, y, x + size, y + size), outline=ctx.canvas.ink, width=max(1, size // 10))
    if checked:
        tick(ctx.canvas, (x, y, x + size, y + size), ctx.rng)


def signature(ctx: PageContext, x: int, y: int, width: int, label: str, *, signed: bool = True) -> int:
    """A signature line with a label under it and, when signed, a scribble on it."""
    c = ctx.canvas
    line_y = y + ctx.pt(26)
    if signed:
        scribble_signature(
            c, (x + ctx.pt(6), y + ctx.pt(4), x + int(width * 0.8), line_y + ctx.pt(2)), ctx.rng
        )
    c.hline(x, x + width, line_y, width=max(1, ctx.pt(0.6)))
    c.text(x, line_y + ctx.pt(3), label, ctx.fonts.tiny)
    return line_y + ctx.pt(3) + c.line_height(ctx.fonts.tiny) + ctx.pt(8)


def table(
    ctx: PageContext,
    y: int,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    bold_last: bool = False,
    style: str | None = None,
) -> int:
    """A table in the hospital's style (grid, zebra or rules) unless `style` overrides it.
    A one-cell row is a group heading spanning the table."""
    c, font = ctx.canvas, ctx.fonts.small
    style = ctx.hospital.table_style if style is None else style
    row_h = round(c.line_height(font) * 1.55)
    edges = _column_edges(ctx, columns)
    head_fill = ctx.hospital.shade_grey if style != "rules" else None
    _table_row(ctx, y, row_h, edges, columns, [col.title for col in columns], ctx.fonts.small_bold, head_fill)
    if style == "rules":
        c.hline(ctx.left, ctx.right, y, width=ctx.pt(1))
        c.hline(ctx.left, ctx.right, y + row_h, width=ctx.pt(0.6))
    for i, row in enumerate(rows, start=1):
        top = y + i * row_h
        fill = ctx.hospital.shade_grey if style == "zebra" and i % 2 == 0 else None
        bold = len(row) == 1 or (bold_last and i == len(rows))
        _table_row(ctx, top, row_h, edges, columns, row, ctx.fonts.small_bold if bold else font, fill)
    bottom = y + (len(rows) + 1) * row_h
    if style == "grid":
        for x in edges:
            c.vline(x, y, bottom)
        for i in range(len(rows) + 2):
            c.hline(ctx.left, ctx.right, y + i * row_h)
    elif style == "rules":
        c.hline(ctx.left, ctx.right, bottom, width=ctx.pt(0.6))
    return bottom + ctx.pt(10)


def _column_edges(ctx: PageContext, columns: Sequence[Column]) -> list[int]:
    """x positions of the column boundaries, left edge to right edge."""
    total = sum(col.share for col in columns)
    edges, acc = [ctx.left], 0.0
    for col in columns:
        acc += col.share
        edges.append(ctx.left + round(ctx.width * acc / total))
    return edges


def _table_row(
    ctx: PageContext,
    top: int,
    row_h: int,
    edges: Sequence[int],
    columns: Sequence[Column],
    cells: Sequence[str],
    font: Font,
    fill: int | None,
) -> None:
    """One table row: optional shading, then each cell's text clipped to its column."""
    c = ctx.canvas
    if fill is not None:
        c.rect((edges[0], top, edges[-1], top + row_h), fill=fill)
    y = top + (row_h - c.line_height(font)) // 2
    pad = ctx.pt(3)
    for i, text in enumerate(cells):
        right = edges[-1] if len(cells) == 1 else edges[i + 1]
        fitted = _fit(ctx, text, font, right - edges[i] - 2 * pad)
        if columns[i].align == "r" and len(cells) > 1:
            c.text_right(right - pad, y, fitted, font)
        else:
            c.text(edges[i] + pad, y, fitted, font)


def _fit(ctx: PageContext, text: str, font: Font, width: int) -> str:
    """Shorten `text` (with a trailing '.') until it fits `width` pixels."""
    while text and ctx.canvas.width_of(text, font) > width:
        text = text[: max(len(text) - 3, 0)].rstrip() + "."
        if len(text) <= 2:
            return text
    return text


def patient_block(ctx: PageContext, y: int, meta: Sequence[tuple[str, str]]) -> int:
    """The patient identification block (sticker, inline lines or ruled table, by hospital) plus the
    document's own details (`meta`: date, clinician, location...). Records name, MRN, DOB, address, phone."""
    style = ctx.hospital.patient_block
    if style == "sticker":
        return _sticker(ctx, y, meta)
    p = ctx.patient
    items: list[Item] = [
        ("Patient", p.name, "name"),
        ("MRN", p.mrn, "mrn"),
        ("DOB", p.dob, "dob"),
        ("Phone", p.phone, "phone"),
        ("Address", p.address, "address"),
    ]
    if style == "table":
        return kv_grid(ctx, y, [*items, *((k, val, None) for k, val in meta)], cols=2, boxed=True)
    step = ctx.step(ctx.fonts.small.size, 1.5)
    x_mid = ctx.left + ctx.width // 2
    for i, (label, value, kind) in enumerate(items[:4]):
        labelled(
            ctx,
            ctx.left + (i % 2) * (x_mid - ctx.left),
            y + (i // 2) * step,
            label,
            value,
            kind,
            font=ctx.fonts.small,
        )
    labelled(ctx, ctx.left, y + 2 * step, *items[4], font=ctx.fonts.small)
    for i, (label, value) in enumerate(meta[:3]):
        labelled(ctx, ctx.left + i * ctx.width // 3, y + 3 * step, label, value, font=ctx.fonts.small)
    ctx.canvas.hline(ctx.left, ctx.right, y + 4 * step, width=max(1, ctx.pt(0.5)))
    return y + 4 * step + ctx.pt(10)


def _sticker(ctx: PageContext, y: int, meta: Sequence[tuple[str, str]]) -> int:
    """An addressograph label on the right (name, DOB, MRN, address, barcode), document details left."""
    c, p, f = ctx.canvas, ctx.patient, ctx.fonts.small
    x0 = ctx.left + ctx.width * 11 // 20
    step = round(c.line_height(f) * 1.25)
    pad = ctx.pt(5)
    c.text(x0 + pad, y + pad, p.name.upper(), ctx.fonts.small_bold, kind="name")
    labelled(ctx, x0 + pad, y + pad + step, "DOB", p.dob, "dob", font=f)
    labelled(ctx, x0 + pad, y + pad + 2 * step, "MRN", p.mrn, "mrn", font=f)
    street = c.text(x0 + pad, y + pad + 3 * step, p.street, f)
    city = c.text(x0 + pad, y + pad + 4 * step, p.city_line, f)
    c.record("address", f"{p.street}\n{p.city_line}", [street, city])
    bottom = y + pad + 5 * step + ctx.pt(16)
    barcode(c, (x0 + pad, y + pad + 5 * step + ctx.pt(2), ctx.right - pad * 4, bottom - ctx.pt(2)), ctx.rng)
    c.draw.rounded_rectangle((x0, y, ctx.right, bottom + pad), radius=ctx.pt(6), outline=c.ink, width=1)
    for i, (label, value) in enumerate(meta[:5]):
        labelled(ctx, ctx.left, y + pad + i * step, label, value, font=f)
    return bottom + pad + ctx.pt(12)
