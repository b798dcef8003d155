"""summary.json's `validation` section from hand-made site evidence: per class, per tier and per
quality band cells with Wilson intervals and small-cell warnings, the reliability diagram and ECE, the
threshold figures, the weakest cells first, and malformed evidence from a site left out with a note."""

from __future__ import annotations

import pytest

from fedward.config import ValidationConfig
from fedward.core.calibration import NUM_BINS, wilson_interval
from fedward.run.validation import validation_section

CLASSES = ["lab", "pathology", "referral"]
# rows true, columns predicted
CM = [[30, 5, 5], [2, 8, 0], [0, 0, 50]]


def _bins() -> dict[str, list[float]]:
    n, right, conf = [0] * NUM_BINS, [0] * NUM_BINS, [0.0] * NUM_BINS
    n[14], right[14], conf[14] = 80, 76, 78.4  # 80 records at 0.98: 95% right
    n[7], right[7], conf[7] = 20, 12, 10.0  # 20 at 0.5: 60% right
    return {"reliability/n": n, "reliability/correct": right, "reliability/confidence_sum": conf}


def _evidence(**extra: object) -> dict[str, object]:
    return {
        "confusion": CM,
        **_bins(),
        "quality/dpi/low/n": 12,
        "quality/dpi/low/correct": 6,
        "quality/dpi/standard/n": 88,
        "quality/dpi/standard/correct": 82,
        "threshold_status": "chosen",
        "threshold": 0.9,
        "coverage": 0.8,
        "review_share": 0.2,
        "validation_coverage": 0.75,
        "n_validation": 40,
        "automated_n": 80,
        "automated_correct": 76,
        **extra,
    }


CONFIG = ValidationConfig(tiers={"critical": ["pathology"], "routine": ["lab", "referral"]}, min_cell=20)


def test_cells_per_class_tier_and_quality_band() -> None:
    out = validation_section(CONFIG, CLASSES, {"st-olav": _evidence()})
    site = out["sites"]["st-olav"]
    pathology = site["by_class"]["pathology"]
    assert (pathology["support"], pathology["predicted"]) == (10, 13)
    assert pathology["recall"]["value"] == pytest.approx(0.8)
    assert (pathology["recall"]["ci_low"], pathology["recall"]["ci_high"]) == pytest.approx(
        wilson_interval(8, 10)
    )
    assert pathology["precision"]["value"] == pytest.approx(8 / 13)
    assert pathology["f1"] == pytest.approx(2 * 8 / (10 + 13))
    assert "fewer than min_cell=20" in pathology["warning"]
    assert site["by_class"]["referral"]["warning"] is None
    critical, routine = site["by_tier"]["critical"], site["by_tier"]["routine"]
    assert (critical["n"], critical["correct"], critical["classes"]) == (10, 8, ["pathology"])
    assert (routine["n"], routine["correct"]) == (90, 80) and routine["warning"] is None
    low = site["by_quality"]["dpi"]["low"]
    assert (low["n"], low["value"]) == (12, 0.5) and low["warning"] is not None
    assert site["ece"] == pytest.approx((abs(76 - 78.4) + abs(12 - 10.0)) / 100)
    assert site["reliability"]["n"][14] == 80 and site["reliability"]["accuracy"][7] == pytest.approx(0.6)
    assert site["reliability"]["confidence"][0] is None and len(site["reliability"]["edges"]) == NUM_BINS + 1
    assert (site["threshold"], site["coverage"], site["review_share"]) == (0.9, 0.8, 0.2)
    assert site["automated_accuracy"]["value"] == pytest.approx(0.95)


def test_the_weakest_cells_come_first() -> None:
    out = validation_section(
        CONFIG, CLASSES, {"a": _evidence(), "b": _evidence(confusion=[[40, 0, 0], [10, 0, 0], [0, 0, 50]])}
    )
    first = out["weakest"][0]
    assert (first["site"], first["value"]) == ("b", 0.0) and first["cell"] in ("pathology", "critical")
    values = [c["value"] for c in out["weakest"]]
    assert values == sorted(values)


def test_tabular_evidence_has_no_quality_bands_and_dp_keeps_the_threshold() -> None:
    ev = {k: v for k, v in _evidence().items() if not k.startswith(("quality/", "threshold", "coverage"))}
    ev = {k: v for k, v in ev.items() if k in ("confusion",) or k.startswith("reliability/")}
    site = validation_section(CONFIG, CLASSES, {"a": {**ev, "threshold_status": "kept_at_site"}})["sites"][
        "a"
    ]
    assert site["by_quality"] == {}
    assert (site["threshold_status"], site["threshold"], site["coverage"], site["review_share"]) == (
        "kept_at_site",
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"confusion": [[1, 2], [3, 4]]},
        {"reliability/n": [1, 2]},
        {"quality/dpi/low/correct": 13},
        {"coverage": 1.5},
        {"automated_correct": 81},
    ],
    ids=["confusion-shape", "bins", "more-right-than-pages", "coverage", "automated"],
)
def test_a_malformed_site_is_left_out_with_a_note(bad: dict[str, object]) -> None:
    out = validation_section(CONFIG, CLASSES, {"good": _evidence(), "odd": _evidence(**bad)})
    assert list(out["sites"]) == ["good"] and "odd" in out["unreadable"]
