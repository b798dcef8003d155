"""The report's seen/unseen-senders section: per hospital, each model's accuracy on test pages from
senders its training pages hold and from the others; absent when no hospital reported the split."""

from __future__ import annotations

from typing import Any

from fedward.report.html import render_report
from fedward.report.senders import senders_section

HOSTILE = "<script>alert(1)</script>"


def _summary(reported: bool = True) -> dict[str, Any]:
    def site(seen: float, unseen: float, n: tuple[int, int]) -> dict[str, Any]:
        figures = {"seen_accuracy": seen, "unseen_accuracy": unseen, "seen_n": n[0], "unseen_n": n[1]}
        return {"accuracy": 0.8, "n": sum(n)} | (figures if reported else dict.fromkeys(figures))

    sections = {
        "federated": {"northgate": site(0.95, 0.81, (33, 17)), HOSTILE: site(0.9, 0.6, (40, 10))},
        "local_only": {"northgate": site(0.97, 0.42, (33, 17)), HOSTILE: site(0.92, 0.3, (40, 10))},
    }
    metrics = {
        k: {
            "sites": v,
            "mean_site_seen_accuracy": 0.925,
            "mean_site_unseen_accuracy": 0.705 if k == "federated" else 0.36,
        }
        for k, v in sections.items()
    }
    return {"sites": ["northgate", HOSTILE], "metrics": metrics}


def test_each_hospital_shows_seen_and_unseen_for_every_model() -> None:
    html = senders_section(_summary(), [])
    assert html is not None
    assert "Federated unseen" in html and "Local only seen" in html
    assert "<td>33</td><td>17</td><td>95.0%</td><td>81.0%</td><td>97.0%</td><td>42.0%</td>" in html
    assert "70.5%" in html and "36.0%" in html  # the means over sites
    assert HOSTILE not in html and "&lt;script&gt;" in html


def test_the_section_leaves_itself_out_without_the_figures() -> None:
    assert senders_section(_summary(reported=False), []) is None
    assert "Seen and unseen senders" not in render_report(_summary(reported=False), [])
    assert "Seen and unseen senders" in render_report(_summary(), [])
