"""Page quality as the site's own pipeline measures it (fedward.documents.quality): resolution, skew,
speckle and fax-like binarization, each mapped to a band; the measurement travels with every accepted
page and leaves the page image as it was."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fedward.documents.pipeline import Pipeline
from fedward.documents.quality import PageQuality, quality_bands

PIPELINE = Pipeline()


def _quality(image: Image.Image) -> PageQuality:
    result = PIPELINE.process(image, file="page.png")
    assert result.accepted and result.quality is not None
    return result.quality


def test_a_clean_greyscale_scan_is_clean_greyscale_and_upright(render_page, scan) -> None:
    q = _quality(scan(render_page(1), dpi=150))
    assert q.dpi == 150.0 and q.skew_deg < 0.5
    assert quality_bands(q) == {
        "dpi": "standard",
        "skew": "upright",
        "noise": "clean",
        "binarization": "greyscale",
    }


def test_a_fax_is_fax_like_and_a_skew_is_measured(render_page, scan, fax) -> None:
    q = _quality(fax(scan(render_page(2), dpi=100), seed=3))
    bands = quality_bands(q)
    assert (bands["binarization"], bands["dpi"]) == ("fax_like", "low")
    skewed = _quality(scan(render_page(3), skew=4.0, dpi=100))
    assert 3.0 <= skewed.skew_deg <= 5.0 and quality_bands(skewed)["skew"] == "strongly_skewed"


def test_speckle_on_a_clean_page_reads_as_noise(render_page, scan) -> None:
    page = np.asarray(scan(render_page(4), dpi=150)).copy()
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(1, page.shape[0] - 1, 2000), rng.integers(1, page.shape[1] - 1, 2000)
    page[ys, xs] = 0
    speckled = Image.fromarray(page)
    speckled.info["dpi"] = (150, 150)
    clean = _quality(scan(render_page(4), dpi=150))
    assert quality_bands(_quality(speckled))["noise"] == "noisy" and quality_bands(clean)["noise"] == "clean"


def test_the_bands_follow_the_thresholds() -> None:
    def bands(**kw: float) -> dict[str, str]:
        return quality_bands(
            PageQuality(**{"dpi": 150.0, "skew_deg": 0.0, "noise": 0.0, "binarized": 0.1, **kw})
        )

    assert [bands(dpi=d)["dpi"] for d in (119.9, 120.0, 199.9, 200.0)] == [
        "low",
        "standard",
        "standard",
        "high",
    ]
    assert [bands(skew_deg=s)["skew"] for s in (0.9, 1.0, 3.0)] == ["upright", "skewed", "strongly_skewed"]
    assert [bands(binarized=b)["binarization"] for b in (0.89, 0.9)] == ["greyscale", "fax_like"]
