"""The HTML run report: self-contained, escaped, and robust to the optional parts of a run being absent."""

from __future__ import annotations

import base64
import copy
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from fedward.report.html import SECTIONS, render_report

SITES = ["st_marys", "northgate", "riverside"]
CLASSES = ["consent_form", "discharge_letter", "lab_report"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scores(accuracy: float) -> dict[str, float]:
    return {
        "accuracy": accuracy,
        "macro_f1": accuracy - 0.03,
        "n": 40,
        **{f"recall/{name}": accuracy for name in CLASSES},
    }


def _approach(accuracies: dict[str, float]) -> dict[str, Any]:
    worst = min(accuracies, key=lambda site: accuracies[site])
    return {
        "sites": {site: _scores(value) for site, value in accuracies.items()},
        "pooled": _scores(sum(accuracies.values()) / len(accuracies)),
        "mean_site_accuracy": sum(accuracies.values()) / len(accuracies),
        "worst_site": {"site": worst, "accuracy": accuracies[worst]},
    }


def make_summary(sites: list[str] = SITES) -> dict[str, Any]:
    federated = dict(zip(sites, (0.92, 0.81, 0.88), strict=True))
    return {
        "fedward_version": "0.1.0",
        "run_id": "abc123",
        "task": "documents",
        "config_path": "examples/federation.toml",
        "config_sha256": "f" * 64,
        "sites": sites,
        "classes": CLASSES,
        "rounds_planned": 3,
        "rounds_completed": 3,
        "strategy": {"name": "fedavg", "local_epochs": 1},
        "model": {"name": "doc-cnn", "parameters": 123456, "sha256": "e" * 64, "path": "model/global.st"},
        "data": {
            "sites": {
                site: {"n_train": 120, "n_test": 40, "train_classes": dict.fromkeys(CLASSES, 40)}
                for site in sites
            }
        },
        "metrics": {
            "federated": _approach(federated),
            "centralized": _approach(dict(zip(sites, (0.94, 0.9, 0.91), strict=True))),
            "local_only": _approach(dict(zip(sites, (0.9, 0.7, 0.85), strict=True))),
            "cross_site": {
                "train_sites": sites,
                "test_sites": sites,
                "accuracy": [[0.9, 0.6, 0.7], [0.5, 0.7, 0.6], [0.65, 0.55, 0.85]],
            },
        },
        "timing": {"seconds_total": 10.0, "seconds_per_round": 3.0, "overhead_seconds_per_round": 0.012},
        "failures": [],
    }


def make_rounds(sites: list[str] = SITES) -> list[dict[str, Any]]:
    rounds = []
    for number in (1, 2, 3):
        evaluation = {site: _scores(0.5 + 0.1 * number + 0.01 * i) for i, site in enumerate(sites)}
        rounds.append(
            {
                "round": number,
                "selected": sites,
                "aggregated": True,
                "reason": None,
                "replies": {site: {"status": "ok", "num_samples": 120, "error": None} for site in sites},
                "sites": evaluation,
                "pooled": _scores(0.5 + 0.1 * number),
                "seconds": 3.0,
                "train_seconds": 2.0,
                "eval_seconds": 0.5,
                "overhead_seconds": 0.5,
            }
        )
    return rounds


class TagBalance(HTMLParser):
    """Records open elements; a well-formed page closes every non-void element it opens, in order."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def assert_well_formed(document: str) -> None:
    parser = TagBalance()
    parser.feed(document)
    parser.close()
    assert parser.errors == [] and parser.stack == []


def images(document: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', document)]


def test_full_report_is_a_self_contained_html5_document() -> None:
    document = render_report(make_summary(), make_rounds())
    assert document.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in document
    assert document.rstrip().endswith("</html>")
    assert_well_formed(document)
    for site in SITES:
        assert site in document
    pngs = images(document)
    assert len(pngs) == 4  # site curves, pooled curves, class distribution, seconds per round
    assert all(png.startswith(PNG_MAGIC) for png in pngs)
    assert "http://" not in document and "https://" not in document
    assert "<script" not in document
    assert 'src="' not in re.sub(r'src="data:image/png;base64,[^"]+"', "", document)


def test_report_shows_the_worst_site_and_the_cross_site_cost() -> None:
    document = render_report(make_summary(), make_rounds())
    assert re.search(r"Worst site: <strong>northgate</strong>", document)
    assert "+11.0 pp" in document  # northgate: 81% federated against 70% local only
    # Diagonal mean (0.9 + 0.7 + 0.85) / 3 = 81.7%; off-diagonal mean 3.6 / 6 = 60.0%.
    assert "<strong>81.7%</strong>" in document and "<strong>60.0%</strong>" in document
    assert "21.7 percentage points lower" in document
    assert document.count('class="diag"') == len(SITES)


def test_report_without_baselines() -> None:
    summary = make_summary()
    for name in ("centralized", "local_only", "cross_site"):
        del summary["metrics"][name]
    document = render_report(summary, make_rounds())
    assert "Centralized accuracy" not in document
    assert "Gain over local only" not in document
    assert "Not computed" in document
    assert_well_formed(document)
    assert all(png.startswith(PNG_MAGIC) for png in images(document))


def test_report_escapes_a_hostile_site_name() -> None:
    hostile = "<script>alert(1)</script>"
    sites = ["st_marys", hostile, "$x$ & _hidden"]
    summary = make_summary(sites)
    summary["failures"] = [{"round": 2, "site": hostile, "status": "failed", "error": "<b>boom</b>"}]
    document = render_report(summary, make_rounds(sites))
    assert_well_formed(document)
    assert hostile not in document
    assert "<b>boom</b>" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "&lt;b&gt;boom&lt;/b&gt;" in document


def test_report_survives_missing_optional_parts() -> None:
    summary = make_summary()
    del summary["metrics"]["federated"]["sites"]["riverside"]
    del summary["timing"]
    rounds = make_rounds()
    rounds[1]["sites"] = {}
    rounds[1]["pooled"] = {}
    del rounds[2]["sites"]["northgate"]
    rounds[2]["aggregated"] = False
    rounds[2]["reason"] = "too few replies"
    document = render_report(summary, rounds)
    assert_well_formed(document)
    assert "riverside" in document
    assert "too few replies" in document
    assert "No failures" in document


def test_report_of_an_empty_run() -> None:
    document = render_report({}, [])
    assert document.startswith("<!DOCTYPE html>")
    assert_well_formed(document)
    assert images(document) == []
    assert "No final evaluation" in document


def test_failures_are_listed() -> None:
    summary = make_summary()
    summary["failures"] = [
        {"round": 3, "site": "northgate", "status": "timeout", "error": "no reply in 30 s"}
    ]
    document = render_report(summary, make_rounds())
    assert "timeout" in document and "no reply in 30 s" in document
    assert "No failures" not in document


def test_sections_can_be_extended() -> None:
    def privacy_section(summary: Any, rounds: Any) -> str:
        return "<section><h2>Privacy</h2></section>"

    document = render_report(make_summary(), make_rounds(), sections=(*SECTIONS, privacy_section))
    assert document.index("<h2>Failures</h2>") < document.index("<h2>Privacy</h2>")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.9", None, True])
def test_non_numbers_render_as_a_dash(value: Any) -> None:
    summary = copy.deepcopy(make_summary())
    summary["metrics"]["federated"]["sites"]["northgate"]["accuracy"] = value
    document = render_report(summary, make_rounds())
    assert "nan%" not in document and "inf%" not in document
