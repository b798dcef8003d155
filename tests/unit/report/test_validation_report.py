"""The report's validation section: weakest cells first with their intervals and small-cell badges, the
calibration and review table, the reliability figure; left out without a validation section; names
from the records escaped (attack: a site or class name carrying markup; power check: unescaped, the
markup would be in the page)."""

from __future__ import annotations

import pytest

from fedward.config import ValidationConfig
from fedward.core.calibration import NUM_BINS
from fedward.report import validation as module
from fedward.report.html import render_report
from fedward.report.validation import validation_section
from fedward.run.validation import validation_section as build

CLASSES = ["lab", "<script>alert(1)</script>"]


def _summary() -> dict[str, object]:
    n, right, conf = [0] * NUM_BINS, [0] * NUM_BINS, [0.0] * NUM_BINS
    n[14], right[14], conf[14] = 30, 27, 29.4
    evidence = {
        "reliability/n": n,
        "reliability/correct": right,
        "reliability/confidence_sum": conf,
        "threshold_status": "kept_at_site",
    }
    sites = {
        "st-olav": {"confusion": [[20, 0], [2, 8]], **evidence},
        "northgate": {"confusion": [[10, 10], [0, 10]], **evidence},
    }
    return {"validation": build(ValidationConfig(min_cell=20), CLASSES, sites), "classes": CLASSES}


def test_the_section_lists_the_weakest_cell_first_with_its_interval() -> None:
    html = validation_section(_summary(), [])
    assert html is not None and "Validation: the weak spots" in html
    first_row = html.split("<tbody>")[1].split("</tr>")[0]
    assert "northgate" in first_row and "50.0%" in first_row  # lab at northgate: 10 of 20
    assert 'class="badge">small' in html and "data:image/png;base64," in html
    assert "kept at the site (differential privacy)" in html


def test_no_validation_section_no_html() -> None:
    assert validation_section({}, []) is None


def test_markup_in_a_class_name_is_escaped() -> None:
    html = validation_section(_summary(), [])
    assert html is not None and "<script>" not in html and "&lt;script&gt;" in html


def test_power_check_without_escaping_the_markup_gets_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "esc", lambda value: "–" if value is None else str(value))
    html = validation_section(_summary(), [])
    assert html is not None and "<script>alert(1)</script>" in html


def test_the_whole_report_renders_the_section() -> None:
    summary = {**_summary(), "sites": ["st-olav", "northgate"], "run_id": "r"}
    assert 'id="validation"' in render_report(summary, [])
