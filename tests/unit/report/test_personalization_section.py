"""The personalization section of the run report: which model each hospital should use, and why."""

from __future__ import annotations

import copy
import re
from typing import Any

# The run records of the report tests (pytest puts this folder on sys.path: the tests are not a package).
from test_html import SITES, _approach, assert_well_formed, make_rounds, make_summary

from fedward.report.html import SECTIONS, render_report
from fedward.report.personalization import personalization_section

CHOICES = dict(zip(SITES, ("personalized", "global", "local"), strict=True))


def _validation(accuracy: float) -> dict[str, float]:
    return {"accuracy": accuracy, "macro_f1": accuracy - 0.05, "n": 25}


def personalized_summary(sites: list[str] = SITES) -> dict[str, Any]:
    """A summary with the personalization sections: each site recommends a different model."""
    summary = make_summary(sites)
    metrics = summary["metrics"]
    choices = dict(zip(sites, CHOICES.values(), strict=True))
    metrics["personalized"] = _approach(dict(zip(sites, (0.96, 0.82, 0.87), strict=True)))
    recommended = _approach(dict(zip(sites, (0.96, 0.81, 0.86), strict=True)))
    for site, model in choices.items():
        recommended["sites"][site].update(
            model=model,
            validation={
                "global": _validation(0.84),
                "personalized": _validation(0.88 if model == "personalized" else 0.84),
                "local": _validation(0.9 if model == "local" else 0.8),
            },
            epochs={"global": 0, "personalized": 3, "local": 12},
            n_validation=25,
        )
    metrics["recommended"] = recommended
    metrics["personalization"] = {"sites_reporting": sites, "kept_at_site": [], "failures": {}}
    return summary


def _site_block(document: str, site: str) -> str:
    start = document.index(f"<h3>{site}")
    ends = [document.find(tag, start + 1) for tag in ("<h3>", "</section>")]
    return document[start : min(end for end in ends if end != -1)]


def test_each_site_shows_its_recommended_model_and_the_evidence() -> None:
    document = render_report(personalized_summary(), make_rounds())
    assert_well_formed(document)
    assert "Which model each hospital should use" in document
    assert "never the test split" in document
    for site, model in CHOICES.items():
        block = _site_block(document, site)
        label = {"global": "global (federated)", "personalized": "personalized", "local": "local"}[model]
        assert f"<h3>{site}: use the <strong>{label}</strong> model</h3>" in block
        chosen = re.findall(
            r'<tr class="chosen"><td class="text">([^<]+) <span class="badge">recommended', block
        )
        assert [c.lower() for c in chosen] == [label]
        assert "Validation split: 25 records." in block
        assert block.count("<tr") == 4  # header and the three candidates
    # northgate keeps the global model: its validation figures and the kept epochs are in its table
    northgate = _site_block(document, "northgate")
    assert "84.0%" in northgate and "79.0%" in northgate and ">12<" in northgate
    # st_marys: personalized 96% against the global model's 92% on test
    assert "+4.0 pp against the global model" in _site_block(document, "st_marys")
    assert "<strong>global</strong> at 1 hospital" in document


def test_balanced_accuracy_and_auc_appear_when_recorded() -> None:
    summary = personalized_summary()
    assert "balanced accuracy" not in render_report(summary, make_rounds())
    for name in ("federated", "personalized", "recommended", "local_only"):
        approach = summary["metrics"][name]
        for scores in approach["sites"].values():
            scores["balanced_accuracy"], scores["auc"] = 0.777, 0.888
        approach["mean_site_balanced_accuracy"] = 0.555
    document = render_report(summary, make_rounds())
    assert_well_formed(document)
    assert "Test balanced accuracy" in document and "Test AUC" in document
    assert "Mean balanced accuracy" in document and "55.5%" in document
    assert "77.7%" in document and "88.8%" in document


def test_validation_loss_appears_when_recorded() -> None:
    summary = personalized_summary()
    assert "Validation loss" not in render_report(summary, make_rounds())
    for scores in summary["metrics"]["recommended"]["sites"].values():
        for arm, figures in scores["validation"].items():
            figures["loss"] = {"global": 0.00209, "personalized": 0.1234, "local": 1.5}[arm]
    document = render_report(summary, make_rounds())
    assert_well_formed(document)
    assert "<th>Validation loss</th>" in document and "mean cross-entropy" in document
    assert ">0.00209<" in document and ">0.123<" in document and ">1.5<" in document


def test_kept_and_failed_sites_are_listed() -> None:
    summary = personalized_summary()
    metrics = summary["metrics"]
    del metrics["recommended"]["sites"]["riverside"]
    del metrics["personalized"]["sites"]["riverside"]
    metrics["personalization"]["kept_at_site"] = ["riverside"]
    metrics["personalization"]["failures"] = {"northgate": "site timed out"}
    del metrics["recommended"]["sites"]["northgate"]
    document = render_report(summary, make_rounds())
    assert_well_formed(document)
    assert "<h3>riverside" not in document and "<h3>northgate" not in document
    assert re.search(r"differential privacy[^<]*: riverside\.", document)
    assert "site timed out" in document


def test_only_kept_sites_still_render() -> None:
    summary = personalized_summary()
    del summary["metrics"]["recommended"]
    del summary["metrics"]["personalized"]
    summary["metrics"]["personalization"]["kept_at_site"] = SITES
    document = render_report(summary, make_rounds())
    assert_well_formed(document)
    assert "No hospital reported which model it should use" in document


def test_a_summary_without_personalization_leaves_the_section_out() -> None:
    assert personalization_section(make_summary(), make_rounds()) is None
    document = render_report(make_summary(), make_rounds())
    assert 'id="recommendation"' not in document
    assert personalization_section({}, []) is None


def test_section_follows_the_results() -> None:
    document = render_report(personalized_summary(), make_rounds(), sections=SECTIONS)
    assert (
        document.index('id="results"') < document.index('id="recommendation"') < document.index('id="curves"')
    )


def test_missing_and_broken_parts_do_not_fail() -> None:
    summary = copy.deepcopy(personalized_summary())
    scores = summary["metrics"]["recommended"]["sites"]
    del scores["st_marys"]["validation"]
    del scores["st_marys"]["epochs"]
    del scores["st_marys"]["n_validation"]
    scores["northgate"]["model"] = None
    scores["northgate"]["validation"] = "garbled"
    scores["riverside"]["accuracy"] = float("nan")
    summary["metrics"]["personalization"] = {"kept_at_site": "x", "failures": ["y"]}
    document = render_report(summary, make_rounds())
    assert_well_formed(document)
    assert "nan%" not in document
    assert "<h3>northgate</h3>" in document


def test_hostile_names_and_errors_are_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    sites = ["st_marys", hostile, "$x$ & _hidden"]
    summary = personalized_summary(sites)
    summary["metrics"]["recommended"]["sites"][hostile]["model"] = "<img src=x onerror=alert(2)>"
    summary["metrics"]["personalization"]["kept_at_site"] = ["<b>kept</b>"]
    summary["metrics"]["personalization"]["failures"] = {"<i>site</i>": "<b>boom</b>"}
    document = render_report(summary, make_rounds(sites))
    assert_well_formed(document)
    for raw in (hostile, "<img src=x", "<b>kept</b>", "<i>site</i>", "<b>boom</b>"):
        assert raw not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: use the <strong>&lt;img src=x" in document
    assert "&lt;b&gt;kept&lt;/b&gt;" in document and "&lt;b&gt;boom&lt;/b&gt;" in document
    assert "$x$ &amp; _hidden" in document
