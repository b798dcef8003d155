"""Rotation of a page's content: the small skew and the multiple of 90 degrees, from its ink pixels.

`estimate_rotation` turns the `Ink` of `fedward.documents.preprocess.ink_pixels` into the `Rotation` that
the crop step (`content_box`, `render_upright`) undoes. Three decisions:

1. skew: the angle maximising the projection-profile energy (sum of squared bin counts) of the ink pixels
   across the text lines (Postl 1986; Baird 1987, "The skew angle of printed documents"). Coarse to fine,
   on a sample of the pixels: 1 degree steps over 2-pixel bins, 0.25 degree over 1-pixel bins, then
   0.05 degree on up to four times as many points, each grid's best angle refined by a parabola through
   its top three. A candidate angle costs one `bincount` of the rotated pixel coordinates, not a rotated
   image;
2. 0 versus 90 degrees: text lines are horizontal in the right one of the two angle families (0 and 90,
   each +- the skew), so the family with the higher profile energy wins;
3. 0 versus 180 degrees: the sum of two cues. The baseline cue: in a text line glyph bottoms align on the
   baseline better than glyph tops do, which split between x-height and ascender height (after the
   baseline and x-line model of van Beusekom, Shafait and Breuel 2010, "Combined orientation and skew
   detection using geometric text-line modeling", IJDAR 13); glyphs are connected components grouped into
   lines. The layout cue: a page's ink sits in its upper part. A page in the 0-degree family is only
   turned over when the sum clears a margin.

With `max_skew_deg` 0 (deskew off) the skew stays 0 and only the 90 and 180 degree decisions are made.

Angles are counter-clockwise positive, like PIL `Image.rotate`. Deterministic: nothing here draws random
numbers (samples are strided). Like the other steps, a change here that changes what the pipeline
produces needs a bump of `fedward.documents.pipeline.PIPELINE_VERSION`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from fedward.documents.preprocess import Float64Array, FloatArray, Ink, Rotation, upright_coordinates

__all__ = ["estimate_rotation"]

_SEARCH_POINTS = 8000  # ink points sampled for the coarse skew levels; the finest level takes 4x as many
_FLIP_MARGIN = 0.03  # upside-down score a page in the 0-degree family needs to be turned over


def _line_profile(t: Float64Array, bin_px: float) -> Float64Array:
    bins = ((t - t.min()) / bin_px).astype(np.intp)
    return np.bincount(bins).astype(np.float64)


def _energy(xs: FloatArray, ys: FloatArray, angle_deg: float, bin_px: float) -> float:
    r = math.radians(angle_deg)
    profile = _line_profile(xs * math.sin(r) + ys * math.cos(r), bin_px)
    return float(profile @ profile)


def _search(
    xs: FloatArray, ys: FloatArray, centre: float, half: float, step: float, bin_px: float
) -> tuple[float, float]:
    """Best angle on a grid `centre +- half`, refined by a parabola through the top three; (angle, energy)."""
    angles = centre + np.arange(-half, half + step / 2.0, step)
    energy = np.array([_energy(xs, ys, float(a), bin_px) for a in angles])
    i = int(np.argmax(energy))
    best = float(angles[i])
    if 0 < i < len(energy) - 1:
        curve = energy[i - 1] - 2.0 * energy[i] + energy[i + 1]
        if curve < 0:
            best += step * 0.5 * float(energy[i - 1] - energy[i + 1]) / float(curve)
    return best, float(energy[i])


def _family_angle(xs: FloatArray, ys: FloatArray, base: float, max_skew: float) -> tuple[float, float]:
    """Best angle within `base +- max_skew` to 0.25 degree, from a sample of points; (angle, energy).

    1 degree steps over 2-pixel bins, then 0.25 degree over 1-pixel bins. Families are compared on the
    energy after the second step: a coarse grid can straddle the narrow peak of long text lines.
    """
    stride = max(1, xs.size // _SEARCH_POINTS)
    sx, sy = xs[::stride], ys[::stride]
    if max_skew <= 0.0:
        return base, _energy(sx, sy, base, 1.0)
    angle, _ = _search(sx, sy, base, max_skew, 1.0, 2.0)
    return _search(sx, sy, angle, 1.0, 0.25, 1.0)


def estimate_rotation(ink: Ink, *, max_skew_deg: float, orientation: bool) -> Rotation:
    """The content's rotation: skew within +-`max_skew_deg` and, if `orientation`, a multiple of 90.

    Text lines are horizontal in the right one of the two families (0 and 90 degrees, each +- the skew),
    so the family with the higher profile energy wins; only its angle is refined to 0.05 degree, on up
    to four times as many points.
    """
    families = (0.0, 90.0) if orientation else (0.0,)
    angle, _, base = max(
        ((*_family_angle(ink.xs, ink.ys, base, max_skew_deg), base) for base in families), key=lambda r: r[1]
    )
    if max_skew_deg > 0.0:
        stride = max(1, ink.xs.size // (4 * _SEARCH_POINTS))
        angle, _ = _search(ink.xs[::stride], ink.ys[::stride], angle, 0.3, 0.05, 1.0)
        angle = float(np.clip(angle, base - max_skew_deg, base + max_skew_deg))
    # turned-over pages are rare: an upright-looking page is only turned over on clear evidence, while
    # 90 and 270 degrees are equally likely and need none
    margin = _FLIP_MARGIN if base == 0.0 else 0.0
    flip = orientation and _upside_down_score(ink, angle) > margin
    return Rotation(orientation=int(base) + (180 if flip else 0), skew_deg=angle - base)


def _upside_down_score(ink: Ink, angle_deg: float) -> float:
    """Positive when the page turned back by `angle_deg` is upside down: the sum of two cues in [-1, 1].

    The glyph cue reads the text lines (`_baseline_cue`); the layout cue, that a page's ink sits high
    (letterhead and title at the top, text flowing down, blank space left at the bottom), covers pages
    whose body text a fax threshold has broken up. While this was developed, each alone got about 1.5% of
    1,265 synthetic pages (a quarter of them turned) wrong, mostly different ones, and their sum 0.2%;
    benchmarks/preprocessing.py keeps measuring it.
    """
    return _baseline_cue(ink, angle_deg) + _low_ink_cue(ink, angle_deg)


def _low_ink_cue(ink: Ink, angle_deg: float) -> float:
    """How far below the middle of the content the ink's centre of mass lies, in content heights."""
    stride = max(1, ink.xs.size // (4 * _SEARCH_POINTS))
    _, t = upright_coordinates(ink.xs[::stride], ink.ys[::stride], angle_deg)
    top, bottom = np.percentile(t, [1, 99])
    return float((t.mean() - (top + bottom) / 2.0) / max(bottom - top, 1.0))


def _baseline_cue(ink: Ink, angle_deg: float) -> float:
    """In [-1, 1], positive when the text lines read upside down.

    Characters of a Latin text line sit on one baseline, while their tops split between x-height and
    ascender height (b, d, h, capitals, digits). So per text line more glyph bottoms than tops lie within
    a small tolerance of the line's median, when the line is upright; upside down it is the other way
    round (the baseline and x-line model of van Beusekom, Shafait and Breuel 2010, "Combined orientation
    and skew detection using geometric text-line modeling", IJDAR 13). The median, not the mode: where
    tops split in two the median falls between the groups, so a split edge scores low. Tables, rules and
    digits are neutral rather than misleading: both their edges align or neither does.
    """
    glyphs = _glyph_boxes(ink, angle_deg)
    if glyphs is None:
        return 0.0
    top, bottom, group, typical = glyphs
    used = np.bincount(group)[group] >= 4
    if not used.any():
        return 0.0
    tolerance = max(0.75, 0.08 * typical)  # about a pixel at 100 dpi; relative, so it holds at 70 dpi too
    tops = _aligned(top[used], group[used], tolerance)
    bottoms = _aligned(bottom[used], group[used], tolerance)
    return float(tops - bottoms) / float(used.sum())


def _glyph_boxes(
    ink: Ink, angle_deg: float
) -> tuple[Float64Array, Float64Array, npt.NDArray[np.intp], float] | None:
    """Top, bottom (upright frame) and text-line group of each glyph-sized component; the typical height."""
    mask = _bridge_across_lines(ink.mask, vertical_text=abs(angle_deg - 90.0) < 45.0)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    ys, xs = np.nonzero(mask)
    of_point = labels[ys, xs]  # row-major like np.nonzero, so already sorted by row, not by label
    order = np.argsort(of_point, kind="stable")
    area = np.bincount(of_point, minlength=count + 1)[1:]
    starts = np.concatenate(([0], np.cumsum(area)[:-1]))
    u, t = upright_coordinates(
        xs[order].astype(np.float32) - np.float32(mask.shape[1] / 2.0),
        ys[order].astype(np.float32) - np.float32(mask.shape[0] / 2.0),
        angle_deg,
    )
    top, bottom = np.minimum.reduceat(t, starts), np.maximum.reduceat(t, starts)
    left, right = np.minimum.reduceat(u, starts), np.maximum.reduceat(u, starts)
    height, width = bottom - top + 1.0, right - left + 1.0
    candidate = (area >= 4) & (height >= 3.0)
    if candidate.sum() < 20:
        return None
    typical = float(np.median(height[candidate]))
    # drop specks, rules, boxes, logos and shaded bars: keep what is about as tall as a character
    keep = candidate & (height >= 0.4 * typical) & (height <= 2.5 * typical) & (width <= 4.0 * typical)
    if keep.sum() < 20:
        return None
    top, bottom, middle = top[keep], bottom[keep], (left[keep] + right[keep]) / 2.0
    return top, bottom, _line_groups((top + bottom) / 2.0, middle, typical), typical


def _bridge_across_lines(mask: npt.NDArray[np.bool_], *, vertical_text: bool) -> npt.NDArray[np.bool_]:
    """Fill one-pixel gaps across the text-line direction: thresholded faxes break thin strokes into
    fragments, whose tops and bottoms say nothing; gaps along the line (between letters) stay open."""
    bridged = mask.copy()
    if vertical_text:
        bridged[:, 1:-1] |= mask[:, :-2] & mask[:, 2:]
    else:
        bridged[1:-1] |= mask[:-2] & mask[2:]
    return bridged


def _line_groups(centre: Float64Array, middle: Float64Array, typical: float) -> npt.NDArray[np.intp]:
    """Group glyphs into text lines: vertical strips of 30 glyph heights, split where rows of glyph
    centres (half a glyph height each) leave a gap. Strips keep side-by-side columns apart."""
    strip = ((middle - middle.min()) // (30.0 * typical)).astype(np.intp)
    row = ((centre - centre.min()) // max(1.0, typical / 2.0)).astype(np.intp)
    order = np.lexsort((row, strip))
    s, r = strip[order], row[order]
    starts = np.concatenate(([True], (s[1:] != s[:-1]) | (r[1:] - r[:-1] > 1)))
    group = np.empty_like(order)
    group[order] = np.cumsum(starts) - 1
    return group


def _aligned(edge: Float64Array, group: npt.NDArray[np.intp], tolerance: float) -> int:
    """How many glyphs have this edge within `tolerance` of the median of their line."""
    order = np.lexsort((edge, group))
    ordered_group = group[order]
    first = np.flatnonzero(np.concatenate(([True], ordered_group[1:] != ordered_group[:-1])))
    sizes = np.diff(np.append(first, ordered_group.size))
    sorted_edge = edge[order]
    median = (sorted_edge[first + (sizes - 1) // 2] + sorted_edge[first + sizes // 2]) / 2.0
    return int(np.count_nonzero(np.abs(sorted_edge - np.repeat(median, sizes)) <= tolerance))
