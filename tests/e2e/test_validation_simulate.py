"""Validation end to end through `fedward simulate`: summary.json carries `validation.sites.<site>` with
the per-class and per-tier cells, the ECE and reliability diagram, the threshold chosen on the site's
validation split and the coverage and review share it leaves; the report shows the weakest cells; the
`max_ece` gate passes and fails on the same run's figures; a tier naming no class of the data stops the
run with exit 2 naming the key."""

import json
from pathlib import Path

import pytest
from federations import run_cli, tabular_federation

VALIDATION = '[validation]\ntiers = { critical = ["1"], routine = ["0"] }\ntarget_accuracy = 0.9\n'


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("validation")
    cfg = tabular_federation(tmp / "fed", rounds=2, extra=VALIDATION + "[release]\nmax_ece = 1.0\n")
    out = tmp / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    return out


def test_summary_carries_the_validation_section(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    validation = summary["validation"]
    assert validation["target_accuracy"] == 0.9 and validation["tiers"]["critical"] == ["1"]
    assert set(validation["sites"]) == set(summary["sites"]) and not validation["unreadable"]
    for name, site in validation["sites"].items():
        fed = summary["metrics"]["federated"]["sites"][name]
        assert set(site["by_class"]) == set(summary["classes"])
        assert sum(c["support"] for c in site["by_class"].values()) == fed["n"]
        tiers = site["by_tier"]
        assert tiers["critical"]["n"] + tiers["routine"]["n"] == fed["n"]
        assert site["by_quality"] == {}  # tabular rows have no scan quality
        assert site["ece"] == pytest.approx(fed["ece"])
        assert sum(site["reliability"]["n"]) == fed["n"]
        # personalization is on by default, so each site has a validation split to choose on
        assert site["threshold_status"] in ("chosen", "unreachable")
        assert site["coverage"] + site["review_share"] == pytest.approx(1.0)
    weakest = [c["value"] for c in validation["weakest"]]
    assert weakest == sorted(weakest)
    gate = summary["release"]["gates"][0]
    assert (gate["name"], gate["passed"], summary["release"]["status"]) == ("max_ece", True, "promoted")
    assert "Validation: the weak spots" in (run / "report.html").read_text()


def test_max_ece_fails_on_purpose_below_the_measured_ece(run: Path, tmp_path: Path, capsys) -> None:
    measured = max(
        s["ece"] for s in json.loads((run / "summary.json").read_text())["validation"]["sites"].values()
    )
    threshold = measured / 2
    cfg = tabular_federation(
        tmp_path / "fed", rounds=2, extra=VALIDATION + f"[release]\nmax_ece = {threshold}\n"
    )
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    assert "gate max_ece:" in capsys.readouterr().out
    release = json.loads((out / "summary.json").read_text())["release"]
    assert release["status"] == "refused" and release["gates"][0]["value"] == pytest.approx(measured)


def test_a_tier_naming_no_class_stops_the_run_with_exit_2(tmp_path: Path, capsys) -> None:
    cfg = tabular_federation(
        tmp_path / "fed", rounds=1, extra='[validation]\ntiers = { critical = ["tumour"] }\n'
    )
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run"), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert "[validation] 'tiers.critical'" in err and "'tumour'" in err
