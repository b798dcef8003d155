"""The privacy section of the run report: protections, spend against the budget, and the accuracy it cost."""

from __future__ import annotations

import copy
import re
from typing import Any

# The run records of the report tests (pytest puts this folder on sys.path: the tests are not a package).
from test_html import PNG_MAGIC, SITES, _approach, assert_well_formed, images, make_rounds, make_summary

from fedward.report import plots
from fedward.report.html import SECTIONS, render_report
from fedward.report.privacy import privacy_section

FIGURES_WITHOUT_PRIVACY = 4  # site curves, pooled curves, class distribution, seconds per round


def _spend(epsilon: float, sigma: float = 1.1, rate: float = 0.1) -> dict[str, Any]:
    return {
        "epsilon": epsilon,
        "delta": 1e-5,
        "noise_multiplier": sigma,
        "sample_rate": rate,
        "steps": 30,
        "accountant": "pld",
        "epsilon_by_accountant": {"rdp": epsilon + 0.25, "pld": epsilon},
        "events": [{"noise_multiplier": sigma, "sample_rate": rate, "steps": 10}],
    }


def _secure(recovered: int = 1) -> dict[str, Any]:
    return {
        "enabled": True,
        "threshold": 2,
        "threshold_fraction": 2 / 3,
        "neighbours": 2,
        "dropouts_recovered": recovered,
        "ring_bits": 64,
        "fixed_point_bits": 24,
        "clip_range": 4.0,
    }


def record_level(sites: list[str] = SITES) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    finals = dict(zip(sites, (2.31, 2.87, 1.95), strict=True))
    summary = make_summary(sites)
    summary["privacy"] = {
        "mode": "record",
        "delta": 1e-5,
        "target_epsilon": 3.0,
        "epsilon_budget": 4.0,
        "clip_norm": 1.0,
        "budget_exhausted": False,
        "stopped_reason": None,
        "epsilon_by_round": [{s: e * n / 3 for s, e in finals.items()} for n in (1, 2, 3)],
        "sites": {site: _spend(value) for site, value in finals.items()},
        "secure_aggregation": _secure(),
    }
    rounds = make_rounds(sites)
    for number, record in enumerate(rounds, start=1):
        record["epsilon"] = {s: e * number / 3 for s, e in finals.items()}
        record["secure_aggregation"] = {"contributors": 3, "recovered": 0, "threshold": 2}
        record["privacy_note"] = None
    rounds[1]["secure_aggregation"] = {"contributors": 2, "recovered": 1, "threshold": 2}
    return summary, rounds


def site_level() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary, rounds = record_level()
    privacy = summary["privacy"]
    del privacy["sites"]
    privacy.update(
        mode="site",
        epsilon_by_round=[{"federation": e} for e in (1.2, 2.5, 3.6)],
        federation=_spend(3.6, sigma=0.9, rate=1.0) | {"steps": 3, "accountant": "exact"},
    )
    for record, value in zip(rounds, (1.2, 2.5, 3.6), strict=True):
        record["epsilon"] = {"federation": value}
    rounds[1]["privacy_note"] = "site-level DP: 2 of 3 sites contributed noise"
    return summary, rounds


def section_of(document: str) -> str:
    match = re.search(r'<section id="privacy">.*?</section>', document, re.S)
    assert match is not None
    return match.group(0)


def test_record_level_section() -> None:
    summary, rounds = record_level()
    document = render_report(summary, rounds)
    assert_well_formed(document)
    html = section_of(document)
    assert "<h2>Privacy</h2>" in html
    assert "Secure aggregation: on." in html and "only the sum" in html
    assert "its 2 neighbours; 2 of these shareholders (66.7% of them)" in html
    assert "record level" in html and "DP-SGD" in html
    assert "δ = 1e-05" in html and "privacy loss distribution (PLD) accountant" in html
    for value in ("2.31", "2.87", "1.95", "1.100", "0.1", "30", "4.00", "71.8%"):
        assert f"<td>{value}</td>" in html or f">{value}<" in html, value
    assert "rdp 2.56" in html  # the cross-check of site 1 (2.31 + 0.25)
    assert "budget reached" not in html and "stopped early" not in html
    assert "recovered <strong>1</strong> dropout:" in html
    assert "Round 2: 1 recovered, 2 sites contributed (threshold 2)" in html
    assert "2^64" in html
    # The section sits right after the cross-site section, before per-class recall.
    assert document.index('id="cross-site"') < document.index('id="privacy"') < document.index('id="recall"')


def test_epsilon_figure_is_embedded() -> None:
    summary, rounds = record_level()
    document = render_report(summary, rounds)
    pngs = images(document)
    assert len(pngs) == FIGURES_WITHOUT_PRIVACY + 1
    assert all(png.startswith(PNG_MAGIC) for png in pngs)
    html = section_of(document)
    assert len(images(html)) == 1
    assert 'alt="Epsilon per round at each site"' in html


def test_epsilon_figure_falls_back_to_the_summary_history() -> None:
    summary, rounds = record_level()
    for record in rounds:
        del record["epsilon"]
    assert len(images(section_of(render_report(summary, rounds)))) == 1


def test_epsilon_figure_draws_budget_and_target() -> None:
    curves = {"a": ([1, 2, 3], [0.5, 1.0, 1.5]), "b": ([], [])}
    for budget, target in ((4.0, 3.0), (None, None)):
        assert plots.epsilon_figure(curves, budget, target).startswith("data:image/png;base64,")


def test_site_level_section() -> None:
    summary, rounds = site_level()
    html = section_of(render_report(summary, rounds))
    assert "site level" in html and "DP-FedAvg" in html
    assert "<th>Guarantee for</th>" in html and "Federation (all sites)" in html
    assert 'alt="Epsilon per round for the federation"' in html
    assert ">3.60<" in html and ">0.900<" in html and "exact accountant" in html
    assert "Round 2: site-level DP: 2 of 3 sites contributed noise" in html
    assert len(images(html)) == 1


def test_budget_exhausted_is_flagged() -> None:
    summary, rounds = site_level()
    privacy = summary["privacy"]
    privacy["epsilon_budget"] = 3.5
    privacy["budget_exhausted"] = True
    privacy["stopped_reason"] = "privacy budget: the next round would take the federation to epsilon 4.9"
    summary["rounds_completed"] = 3
    summary["rounds_planned"] = 5
    html = section_of(render_report(summary, rounds))
    assert "stopped early after 3 of 5 planned rounds because of the privacy budget." in html
    assert "the next round would take the federation to epsilon 4.9" in html
    assert "budget reached" in html and "At or above the budget of ε = 3.50" in html
    assert ">102.9%<" in html  # 3.6 of a budget of 3.5


def test_site_at_budget_is_highlighted_only_there() -> None:
    summary, rounds = record_level()
    summary["privacy"]["sites"]["northgate"]["epsilon"] = 4.0
    html = section_of(render_report(summary, rounds))
    assert html.count("budget reached") == 1
    assert "At or above the budget of ε = 4.00:</span> northgate." in html


def test_no_protection_says_so_in_one_line() -> None:
    summary = make_summary()
    summary["privacy"] = {"mode": "none", "delta": None, "secure_aggregation": {"enabled": False}}
    html = section_of(render_report(summary, make_rounds()))
    assert "No privacy protection was configured" in html
    assert html.count("<p>") == 1 and images(html) == []


def test_secure_aggregation_without_dp() -> None:
    summary = make_summary()
    summary["privacy"] = {"mode": "none", "delta": None, "secure_aggregation": _secure(recovered=0)}
    html = section_of(render_report(summary, make_rounds()))
    assert "Secure aggregation: on." in html and "Differential privacy: none." in html
    assert "no masks had to be recovered" in html
    assert "<table" not in html and images(html) == []


def test_missing_privacy_key_leaves_the_section_out() -> None:
    summary = make_summary()
    assert privacy_section(summary, make_rounds()) is None
    document = render_report(summary, make_rounds())
    assert 'id="privacy"' not in document
    assert len(images(document)) == FIGURES_WITHOUT_PRIVACY
    assert privacy_section({"privacy": "corrupt"}, []) is None


def test_partial_privacy_records_do_not_break_the_report() -> None:
    summary = make_summary()
    summary["privacy"] = {"mode": "record", "sites": {"northgate": {"epsilon": "high"}}}
    rounds = make_rounds()
    rounds[0]["epsilon"] = {"northgate": None}
    rounds[1]["secure_aggregation"] = "corrupt"
    document = render_report(summary, rounds)
    assert_well_formed(document)
    assert "northgate" in section_of(document)
    assert privacy_section({"privacy": {}}, []) is not None
    assert privacy_section({"privacy": {"mode": "record"}}, [])


def test_hostile_strings_are_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    sites = ["st_marys", hostile, "$x$ & _hidden"]
    summary, rounds = record_level(sites)
    privacy = summary["privacy"]
    privacy["sites"][hostile]["accountant"] = "<i>pld</i>"
    privacy["sites"][hostile]["epsilon_by_accountant"] = {"<b>rdp</b>": 3.0}
    privacy["budget_exhausted"] = True
    privacy["stopped_reason"] = "<img src=x onerror=alert(2)>"
    rounds[2]["privacy_note"] = "<em>note</em>"
    summary["metrics"]["federated_non_private"] = _approach(dict(zip(sites, (0.9, 0.8, 0.7), strict=True)))
    document = render_report(summary, rounds)
    assert_well_formed(document)
    html = section_of(document)
    for raw in (hostile, "<i>pld</i>", "<b>rdp</b>", "<img src=x", "<em>note</em>"):
        assert raw not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;em&gt;note&lt;/em&gt;" in html


def test_trade_off_against_the_non_private_run() -> None:
    summary, rounds = record_level()
    # Private: 0.92, 0.81, 0.88 (mean 87.0%, worst northgate 81.0%); without privacy 0.94, 0.86, 0.90.
    summary["metrics"]["federated_non_private"] = _approach(dict(zip(SITES, (0.94, 0.86, 0.90), strict=True)))
    document = render_report(summary, rounds)
    html = section_of(document)
    assert "<strong>87.0%</strong> at ε = 2.87 (δ = 1e-05, the highest of any site)" in html
    assert "against <strong>90.0%</strong>" in html
    assert "<strong>-3.0 pp</strong>" in html
    assert "Worst site: northgate at 81.0% with privacy, northgate at 86.0% without (-5.0 pp)" in html
    # The results table gains the non-private arm.
    results = re.search(r'<section id="results">.*?</section>', document, re.S)
    assert results is not None
    assert "Federated, no privacy accuracy" in results.group(0)
    assert ">86.0%<" in results.group(0)


def test_no_trade_off_without_the_non_private_run() -> None:
    summary, rounds = record_level()
    document = render_report(summary, rounds)
    assert "What privacy cost" not in document
    assert "Federated, no privacy" not in document


def test_registered_once_in_sections() -> None:
    assert SECTIONS.count(privacy_section) == 1


def test_section_does_not_mutate_the_records() -> None:
    summary, rounds = site_level()
    before = copy.deepcopy((summary, rounds))
    privacy_section(summary, rounds)
    assert (summary, rounds) == before
