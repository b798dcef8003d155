"""The scanner's geometry: field boxes follow the pixels through skew and orientation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from fedward.documents.synth.canvas import Field
from fedward.documents.synth.hospitals import ScannerProfile
from fedward.documents.synth.scanner import orient_box, scan, skew_box

W, H = 120, 160


def _dark_bbox(image: Image.Image) -> tuple[int, int, int, int]:
    dark = np.argwhere(np.asarray(image) < 128)
    (y0, x0), (y1, x1) = dark.min(axis=0), dark.max(axis=0)
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


@settings(max_examples=40, deadline=None)
@given(
    x0=st.integers(10, 60),
    y0=st.integers(10, 80),
    w=st.integers(4, 40),
    h=st.integers(4, 50),
    angle=st.floats(-10, 10),
    orientation=st.sampled_from([0, 90, 180, 270]),
)
def test_box_mapping_matches_pil(x0: int, y0: int, w: int, h: int, angle: float, orientation: int) -> None:
    page = Image.new("L", (W, H), 255)
    ImageDraw.Draw(page).rectangle((x0, y0, x0 + w - 1, y0 + h - 1), fill=0)
    turned = page.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=255)
    transpose = {
        90: Image.Transpose.ROTATE_90,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_270,
    }
    if orientation:
        turned = turned.transpose(transpose[orientation])
    predicted = orient_box(skew_box((x0, y0, x0 + w, y0 + h), angle, (W, H)), orientation, (W, H))
    actual = _dark_bbox(turned)
    assert all(abs(p - a) <= 1.5 for p, a in zip(predicted, actual, strict=True))


def test_scan_records_upright_and_final_boxes() -> None:
    page = Image.new("L", (W, H), 255)
    ImageDraw.Draw(page).rectangle((20, 30, 49, 39), fill=0)
    profile = ScannerProfile("test", 72, skew_sd=3.0, orientation_rate=1.0)
    result = scan(page, [Field("mrn", "X1", (20, 30, 50, 40))], profile, np.random.default_rng(5))
    (field,) = result.fields
    assert field.box_upright == (20, 30, 50, 40)
    assert result.orientation in (90, 180, 270)
    assert result.image.size == ((W, H) if result.orientation == 180 else (H, W))
    x0, y0, x1, y1 = field.box
    ax0, ay0, ax1, ay1 = _dark_bbox(result.image)
    assert x0 <= ax0 + 1 and y0 <= ay0 + 1 and x1 >= ax1 - 1 and y1 >= ay1 - 1


def test_boxes_are_clipped_to_the_image() -> None:
    page = Image.new("L", (W, H), 255)
    profile = ScannerProfile("test", 72, skew_sd=0.0)
    result = scan(
        page, [Field("name", "Far", (W - 5, H - 5, W + 30, H + 30))], profile, np.random.default_rng(0)
    )
    assert result.fields[0].box == (W - 5, H - 5, W, H)


def test_binarized_scans_hold_only_black_and_white() -> None:
    page = Image.new("L", (W, H), 200)
    for mode in ("threshold", "dither"):
        profile = ScannerProfile("fax", 72, binarize=mode, threshold=150, noise=20, speckle=5, streaks=2)
        values = set(np.unique(np.asarray(scan(page, [], profile, np.random.default_rng(1)).image)).tolist())
        assert values <= {0, 255}
