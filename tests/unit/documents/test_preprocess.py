"""The preprocessing steps on pages with known geometry: skew, orientation, resolution, ink levels, output."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fedward.documents import preprocess as steps
from fedward.documents.pipeline import Pipeline, PipelineSpec

PIPELINE = Pipeline()
PageMaker = Callable[..., Image.Image]  # the page makers of conftest.py, handed in as fixtures


@pytest.mark.parametrize("skew", [-10.0, -7.3, -4.0, -1.5, -0.4, 0.0, 0.6, 2.2, 5.0, 8.7, 10.0])
def test_deskew_recovers_known_angles_within_half_a_degree(
    skew: float, render_page: PageMaker, scan: PageMaker
) -> None:
    page = scan(render_page(int(abs(skew) * 10)), skew=skew)
    result = PIPELINE.process(page, file="p.png")
    assert result.accepted
    assert result.estimated_orientation == 0
    assert result.estimated_skew_deg == pytest.approx(skew, abs=0.5)


@pytest.mark.parametrize("orientation", [0, 90, 180, 270])
@pytest.mark.parametrize(
    ("font", "skew"), [("DejaVuSans.ttf", 3.5), ("DejaVuSerif.ttf", -6.0), ("cmr10.ttf", 0.0)]
)
def test_orientation_is_recovered(
    orientation: int, font: str, skew: float, render_page: PageMaker, scan: PageMaker
) -> None:
    page = scan(render_page(orientation + len(font), font=font), orientation=orientation, skew=skew)
    result = PIPELINE.process(page, file="p.png")
    assert result.estimated_orientation == orientation
    assert result.estimated_skew_deg == pytest.approx(skew, abs=0.5)


@pytest.mark.parametrize("orientation", [0, 90, 180, 270])
def test_orientation_survives_a_fax_gateway(
    orientation: int, render_page: PageMaker, scan: PageMaker, fax: PageMaker
) -> None:
    page = fax(
        scan(render_page(20 + orientation, pt=9.0), orientation=orientation, skew=-1.2), seed=orientation
    )
    result = PIPELINE.process(page, file="fax.png")
    assert result.estimated_orientation == orientation
    assert result.estimated_skew_deg == pytest.approx(-1.2, abs=0.5)


def test_estimated_rotation_follows_the_pil_rotate_convention(
    render_page: PageMaker, scan: PageMaker
) -> None:
    """Content turned counter-clockwise by +5 degrees (PIL `rotate(5)`) is reported as +5, not -5."""
    result = PIPELINE.process(scan(render_page(3), skew=5.0), file="p.png")
    assert result.estimated_skew_deg == pytest.approx(5.0, abs=0.3)


def test_upright_output_matches_the_unskewed_page(render_page: PageMaker, scan: PageMaker) -> None:
    straight = PIPELINE.process(scan(render_page(4)), file="a.png").image
    turned = PIPELINE.process(scan(render_page(4), orientation=90, skew=-4.0), file="b.png").image
    assert straight is not None and turned is not None
    assert float(np.corrcoef(straight.ravel(), turned.ravel())[0, 1]) > 0.9


def test_metadata_resolution_below_minimum_is_rejected_with_the_reason(
    render_page: PageMaker, scan: PageMaker
) -> None:
    result = PIPELINE.process(scan(render_page(5), dpi=72), file="low.png")
    assert not result.accepted and result.image is None
    assert result.dpi == 72 and result.dpi_source == "metadata"
    assert result.reason is not None and "72 dpi" in result.reason and "minimum of 90" in result.reason


def test_resolution_without_metadata_is_estimated_from_the_page_width(
    render_page: PageMaker, scan: PageMaker
) -> None:
    low = scan(render_page(6, dpi=70), dpi=None)  # 595 px wide: about 71 dpi for an 8.4 inch page
    result = PIPELINE.process(low, file="nometa.png")
    assert not result.accepted and result.dpi_source == "estimated"
    assert result.reason is not None and "estimated" in result.reason
    good = PIPELINE.process(scan(render_page(6, dpi=100), dpi=None), file="ok.png")
    assert good.accepted and good.dpi == pytest.approx(850 / 8.4)


def test_implausible_metadata_counts_as_absent(render_page: PageMaker) -> None:
    page = render_page(7)
    page.info["dpi"] = (1, 1)  # JPEG files that record only an aspect ratio
    assert steps.page_resolution(page, page_width_in=8.4).source == "estimated"


def test_lower_of_two_resolutions_counts(render_page: PageMaker) -> None:
    page = render_page(7)
    page.info["dpi"] = (200, 80)
    assert steps.page_resolution(page, page_width_in=8.4) == steps.Resolution(80.0, "metadata")


def test_blank_page_is_rejected() -> None:
    blank = Image.new("L", (850, 1100), 250)
    blank.info["dpi"] = (100, 100)
    result = PIPELINE.process(blank, file="blank.png")
    assert not result.accepted and result.reason is not None and "blank" in result.reason


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "1", "I;16", "I", "F", "CMYK", "LA"])
def test_greyscale_accepts_common_modes(mode: str, render_page: PageMaker) -> None:
    page = render_page(8)
    if mode in ("I;16", "I"):
        converted = Image.fromarray(np.asarray(page).astype(np.uint16) * 257)
    elif mode == "F":
        converted = Image.fromarray(np.asarray(page).astype(np.float32) / 255.0)
    else:
        converted = page.convert(mode)
    grey = np.asarray(steps.to_greyscale(converted))
    assert grey.dtype == np.uint8 and grey.shape == (1100, 850)
    assert abs(float(grey.mean()) - float(np.asarray(page).mean())) < 3.0


def test_transparent_areas_become_paper() -> None:
    rgba = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    assert int(np.asarray(steps.to_greyscale(rgba)).min()) == 255


def test_ink_levels_find_paper_and_ink() -> None:
    grey = np.full((200, 200), 210, dtype=np.uint8)
    grey[50:60, 20:180] = 40
    levels = steps.ink_levels(grey)
    assert levels.background == pytest.approx(210, abs=1) and levels.ink == pytest.approx(40, abs=1)
    table = levels.lookup_table()
    assert table[210] == 0.0 and table[40] == 1.0 and table[125] == pytest.approx(0.5, abs=0.01)


def test_output_is_normalized_ink_filling_the_square(render_page: PageMaker) -> None:
    dim = Image.fromarray((np.asarray(render_page(9)) * 0.5 + 100).astype(np.uint8))  # grey paper, grey ink
    dim.info["dpi"] = (100, 100)
    result = Pipeline(PipelineSpec(image_size=48)).process(dim, file="dim.png")
    image = result.image
    assert image is not None and image.dtype == np.float32 and image.shape == (48, 48)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert float(np.median(image)) < 0.02  # paper is 0 however grey the scan
    assert float(image.max()) > 0.6  # ink is high however faded
    rows, cols = np.nonzero(image > 0.05)
    assert rows.max() - rows.min() >= 40  # the page is taller than wide: its height fills the square
    assert 44 - (cols.max() - cols.min()) < 44 * 0.5


def test_dark_scanner_bed_is_not_taken_for_content(
    render_page: PageMaker, scan: PageMaker, on_dark_bed: PageMaker
) -> None:
    page = on_dark_bed(scan(render_page(10)), bed=50, skew=6.0)
    result = PIPELINE.process(page, file="bed.png")
    clean = PIPELINE.process(scan(render_page(10), skew=6.0), file="clean.png")
    assert result.estimated_orientation == 0
    assert result.estimated_skew_deg == pytest.approx(6.0, abs=0.5)
    assert result.image is not None and clean.image is not None
    assert float(np.abs(result.image - clean.image).mean()) < 0.02
    unguarded = Pipeline(PipelineSpec(cover_scanner_bed=False)).process(page, file="bed.png")
    assert unguarded.estimated_orientation != 0  # power check: the bed's edges outweigh the text


def test_scanner_streak_does_not_turn_the_page(render_page: PageMaker, scan: PageMaker) -> None:
    """A black line through the whole scan outweighs the text in the vertical profile if left in."""
    page = scan(render_page(12), skew=1.5)
    pixels = np.asarray(page).copy()
    pixels[:, 400:402] = 0
    streaked = Image.fromarray(pixels)
    streaked.info["dpi"] = (100, 100)
    result = PIPELINE.process(streaked, file="streak.png")
    assert result.estimated_orientation == 0
    assert result.estimated_skew_deg == pytest.approx(1.5, abs=0.5)
    unguarded = Pipeline(PipelineSpec(erase_streaks=False)).process(streaked, file="streak.png")
    assert unguarded.estimated_orientation == 90  # power check: the streak alone turns the page


def test_erase_streaks_repairs_from_the_neighbouring_columns() -> None:
    pixels = np.full((100, 60), 250, dtype=np.uint8)
    pixels[40:50, 10:50] = 20  # a text-like block: must survive
    pixels[:, 30] = 0  # the streak
    levels = steps.ink_levels(pixels)
    erased = np.asarray(steps.erase_streaks(Image.fromarray(pixels), levels))
    assert (erased[:, 30] == np.maximum(pixels[:, 29], pixels[:, 31])).all()
    assert (erased[:, :30] == pixels[:, :30]).all() and (erased[:, 31:] == pixels[:, 31:]).all()


def test_uneven_lighting_is_flattened(render_page: PageMaker, scan: PageMaker) -> None:
    """A page darkening from 255 to 127 across its width: one global threshold would see ink everywhere."""
    page = scan(render_page(13))
    light = np.linspace(1.0, 0.5, page.width, dtype=np.float32)[None, :]
    shaded = Image.fromarray((np.asarray(page) * light).astype(np.uint8))
    shaded.info["dpi"] = (100, 100)
    result = PIPELINE.process(shaded, file="shaded.png")
    clean = PIPELINE.process(page, file="clean.png")
    assert result.accepted and result.estimated_orientation == 0
    assert result.image is not None and clean.image is not None
    assert float(np.corrcoef(result.image.ravel(), clean.image.ravel())[0, 1]) > 0.9
    unguarded = Pipeline(PipelineSpec(flatten_illumination=False)).process(shaded, file="shaded.png")
    assert unguarded.image is not None  # power check: without flattening the dim side turns to ink
    assert float(np.corrcoef(unguarded.image.ravel(), clean.image.ravel())[0, 1]) < 0.5


def test_options_switch_steps_off(render_page: PageMaker, scan: PageMaker) -> None:
    page = scan(render_page(11), orientation=180, skew=4.0)
    plain = Pipeline(PipelineSpec(correct_orientation=False, deskew=False)).process(page, file="p.png")
    assert plain.estimated_orientation == 0 and plain.estimated_skew_deg == 0.0
    skew_only = Pipeline(PipelineSpec(correct_orientation=False)).process(page, file="p.png")
    assert skew_only.estimated_orientation == 0
    assert skew_only.estimated_skew_deg == pytest.approx(4.0, abs=0.5)


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    dpi=st.sampled_from([None, 50, 300]),
)
def test_any_image_is_either_rejected_or_a_valid_ink_map(
    width: int, height: int, seed: int, dpi: int | None
) -> None:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(height, width), dtype=np.uint8))
    if dpi is not None:
        image.info["dpi"] = (dpi, dpi)
    result = Pipeline(PipelineSpec(image_size=16, min_dpi=1)).process(image, file="noise.png")
    if result.accepted:
        assert result.image is not None and result.image.shape == (16, 16)
        assert np.isfinite(result.image).all() and 0.0 <= result.image.min() <= result.image.max() <= 1.0
    else:
        assert result.image is None and result.reason
