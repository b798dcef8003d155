"""Marks people leave on paper: signatures, ticks, circles and notes in pen, and rubber stamps.

They are drawn on the upright page before it is scanned (the physical sheet carries them), in grey tones
as a colour scanner's greyscale conversion would render blue ink or red stamp pads. Pen strokes are smooth
random walks; nothing here is meant to be legible handwriting.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from fedward.documents.synth.canvas import Box, Canvas
from fedward.documents.synth.fonts import load_font

__all__ = ["annotate", "scribble_signature", "stamp", "tick"]

Point = tuple[float, float]
_STAMPS = ("RECEIVED", "COPY", "SCANNED", "FAXED", "FILED", "REVIEWED", "ENTERED", "ORIGINAL", "URGENT")
_DATED = {"RECEIVED", "SCANNED", "FAXED", "ENTERED", "REVIEWED"}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _pen(c: Canvas, rng: np.random.Generator) -> tuple[int, int]:
    """A pen's grey and stroke width at this page's resolution."""
    return int(rng.integers(25, 110)), max(1, round(c.dpi / 60 * float(rng.uniform(0.8, 1.4))))


def scribble_signature(c: Canvas, box: Box, rng: np.random.Generator) -> None:
    """A cursive-looking signature filling `box`: one to three slanted words of loops and humps of uneven
    height (capitals and ascenders taller), with pen lifts between words and sometimes an underline."""
    x0, y0, x1, y1 = box
    grey, width = _pen(c, rng)
    height = (y1 - y0) * 0.55
    baseline = y0 + (y1 - y0) * 0.72
    slant = float(rng.uniform(0.1, 0.45))
    words = int(rng.integers(1, 4))
    gap = (x1 - x0) * 0.06
    word_w = ((x1 - x0) - gap * (words - 1)) / words
    for i in range(words):
        start = x0 + i * (word_w + gap)
        points = _cursive_word(start, word_w * float(rng.uniform(0.6, 1.0)), baseline, height, slant, rng)
        c.draw.line(points, fill=grey, width=width, joint="curve")
    if rng.random() < 0.5:
        sweep = np.linspace(0, 1, 16)
        xs = x0 + (x1 - x0) * sweep
        ys = baseline + height * 0.25 + height * 0.2 * np.sin(np.pi * sweep) * float(rng.uniform(-1, 1))
        c.draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=grey, width=width, joint="curve")


def _cursive_word(
    x: float, width: float, baseline: float, height: float, slant: float, rng: np.random.Generator
) -> list[Point]:
    """The pen path of one scribbled word, after Hollerbach's oscillation model of handwriting: coupled
    horizontal and vertical oscillations on a steady drift, with amplitudes and phase varying per letter
    (a wide horizontal swing makes a loop, a tall vertical one an ascender or descender)."""
    letters = int(np.clip(round(width / (height * float(rng.uniform(0.45, 0.8)))), 3, 12))
    steps = letters * 16
    t = np.linspace(0.0, letters * 2 * np.pi, steps)
    knots = np.linspace(0.0, t[-1], letters + 1)
    up = np.interp(t, knots, rng.choice([0.45, 0.6, 1.0, 1.4], letters + 1, p=[0.35, 0.3, 0.2, 0.15]))
    up[: steps // letters] = np.maximum(up[: steps // letters], 1.2)  # a capital first
    swing = np.interp(t, knots, rng.uniform(0.6, 2.6, letters + 1))
    phase = np.interp(t, knots, rng.uniform(1.0, 2.2, letters + 1))
    drift = width / t[-1]
    xs = x + drift * t + drift * swing * np.cos(t + phase)
    lift = np.sin(t)
    down = np.interp(t, knots, rng.choice([0.2, 0.4, 1.5], letters + 1, p=[0.5, 0.35, 0.15]))
    ys = baseline - height * 0.5 * np.where(lift > 0, up, down) * (lift + 0.2)
    xs = xs + slant * (baseline - ys)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def tick(c: Canvas, box: Box, rng: np.random.Generator) -> None:
    """A hand-drawn tick in a box, overshooting it a little as real ticks do."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    j = rng.uniform(-0.08, 0.08, 6)
    pts = [
        (x0 + w * (0.15 + j[0]), y0 + h * (0.5 + j[1])),
        (x0 + w * (0.42 + j[2]), y1 - h * (0.1 + j[3])),
        (x1 + w * (0.25 + j[4]), y0 - h * (0.3 + j[5])),
    ]
    grey, width = _pen(c, rng)
    c.draw.line(pts, fill=grey, width=width, joint="curve")


def _wobbly_ellipse(c: Canvas, centre: Point, radii: Point, rng: np.random.Generator) -> None:
    """A circled passage: a hand-drawn ellipse that does not quite close on itself."""
    n = 48
    angles = np.linspace(0, 2 * math.pi * float(rng.uniform(1.05, 1.2)), n)
    wobble = 1 + np.cumsum(rng.normal(0, 0.015, n))
    xs = centre[0] + radii[0] * wobble * np.cos(angles)
    ys = centre[1] + radii[1] * wobble * np.sin(angles)
    grey, width = _pen(c, rng)
    c.draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=grey, width=width, joint="curve")


def _arrow(c: Canvas, start: Point, end: Point, rng: np.random.Generator) -> None:
    """A hand-drawn arrow from `start` to `end`."""
    grey, width = _pen(c, rng)
    c.draw.line([start, end], fill=grey, width=width)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    size = c.pt(7)
    for side in (-0.5, 0.5):
        tip = (end[0] - size * math.cos(angle + side), end[1] - size * math.sin(angle + side))
        c.draw.line([end, tip], fill=grey, width=width)


def stamp(c: Canvas, rng: np.random.Generator, centre: Point) -> None:
    """A rubber stamp (word, optional date, double border), rotated, with patchy ink."""
    word = _STAMPS[int(rng.integers(len(_STAMPS)))]
    big, small = load_font("DejaVuSans-Bold.ttf", c.pt(18)), load_font("DejaVuSansMono-Bold.ttf", c.pt(9))
    date = f"{int(rng.integers(1, 29)):02d} {_MONTHS[int(rng.integers(12))]} {int(rng.integers(2021, 2025))}"
    w = round(big.getlength(word)) + c.pt(16)
    h = c.pt(30) + (c.pt(12) if word in _DATED else 0)
    mask = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(mask)
    d.rectangle((0, 0, w - 1, h - 1), outline=255, width=max(2, c.pt(2)))
    d.rectangle((c.pt(3), c.pt(3), w - 1 - c.pt(3), h - 1 - c.pt(3)), outline=255, width=max(1, c.pt(0.8)))
    d.text((w / 2, c.pt(6)), word, fill=255, font=big, anchor="mt")
    if word in _DATED:
        d.text((w / 2, c.pt(28)), date, fill=255, font=small, anchor="mt")
    patchy = rng.uniform(0.45, 1.0, (max(1, h // 3), max(1, w // 3))) * 255
    texture = Image.fromarray(patchy.astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR)
    mask = Image.fromarray((np.asarray(mask, dtype=np.uint16) * np.asarray(texture) // 255).astype(np.uint8))
    mask = mask.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BILINEAR, expand=True)
    grey = int(rng.integers(70, 150))
    c.image.paste(grey, (round(centre[0] - mask.width / 2), round(centre[1] - mask.height / 2)), mask)


def annotate(c: Canvas, rng: np.random.Generator, text_box: Box, stamp_rate: float, pen_rate: float) -> None:
    """Randomly stamp the page and add pen marks inside `text_box`, at the hospital's rates."""
    x0, y0, x1, y1 = text_box
    if rng.random() < stamp_rate:
        stamp(
            c,
            rng,
            (
                float(rng.uniform(x0 + (x1 - x0) * 0.45, x1 - c.pt(40))),
                float(rng.uniform(y0, y0 + (y1 - y0) * 0.35)),
            ),
        )
    if rng.random() >= pen_rate:
        return
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(4))
        cx, cy = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
        if kind == 0:
            _wobbly_ellipse(
                c, (cx, cy), (c.pt(float(rng.uniform(30, 90))), c.pt(float(rng.uniform(8, 20)))), rng
            )
        elif kind == 1:
            _arrow(c, (x1 + c.pt(10), cy - c.pt(20)), (x1 - c.pt(float(rng.uniform(5, 30))), cy), rng)
        elif kind == 2:
            margin = (max(x1 - c.pt(60), x0), round(cy) - c.pt(10), x1, round(cy) + c.pt(6))
            scribble_signature(c, margin, rng)
        else:
            tick(c, (round(cx), round(cy), round(cx) + c.pt(12), round(cy) + c.pt(12)), rng)
