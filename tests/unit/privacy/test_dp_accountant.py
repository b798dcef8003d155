"""The accountant against known-answer vectors (dp-accounting 0.6 and closed forms), its invariants, and
its checkpoint."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedward.privacy import Accountant, PrivacyEvent, compute_epsilon, gdp_epsilon, projected_epsilon
from fedward.privacy.accountant import PLD_EPSILON_CAP
from fedward.privacy.gaussian_dp import gdp_delta

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "dp-epsilon.json").read_text())
POISSON = VECTORS["poisson_subsampled_gaussian"]
EXACT = VECTORS["exact_full_batch_gaussian"]
TOL = 2e-6  # the vectors carry 6 decimals


@pytest.mark.parametrize(
    "row", POISSON, ids=lambda r: f"s{r['noise_multiplier']}-q{r['sample_rate']}-T{r['steps']}"
)
def test_rdp_and_pld_match_dp_accounting_vectors(row):
    event = PrivacyEvent(row["noise_multiplier"], row["sample_rate"], row["steps"])
    report = compute_epsilon([event], row["delta"])
    assert report.values["rdp"] == pytest.approx(row["epsilon_rdp_dp_accounting_0_6"], abs=TOL)
    assert report.values["pld"] == pytest.approx(row["epsilon_pld_disc_1e-4"], abs=TOL)
    assert report.epsilon == min(report.values.values())
    assert report.accountant == ("exact" if row["sample_rate"] == 1 else "pld")
    assert report.delta == row["delta"]


@pytest.mark.parametrize("row", EXACT, ids=lambda r: f"s{r['noise_multiplier']}-T{r['steps']}")
def test_exact_gaussian_dp_matches_closed_form_and_pld_never_falls_below(row):
    report = compute_epsilon([PrivacyEvent(row["noise_multiplier"], 1.0, row["steps"])], row["delta"])
    assert report.accountant == "exact"
    assert report.epsilon == pytest.approx(row["epsilon_exact"], abs=1e-6)
    assert 0 <= report.values["pld"] - report.values["exact"] <= 1e-6
    assert report.values["rdp"] > report.values["exact"]


def test_exact_is_the_analytic_gaussian_mechanism():
    cal = VECTORS["calibration"]  # Balle & Wang 2018: this sigma gives exactly (1, 1e-5)-DP
    assert gdp_epsilon(1 / cal["sigma"], cal["delta"]) == pytest.approx(cal["epsilon"], abs=1e-5)


def test_full_batch_events_compose_by_summing_inverse_variances():
    split = compute_epsilon([PrivacyEvent(2.0, 1.0, 3), PrivacyEvent(4.0, 1.0, 8)], 1e-5)
    mu = math.sqrt(3 / 4 + 8 / 16)
    assert split.accountant == "exact"
    assert split.epsilon == gdp_epsilon(mu, 1e-5)


def test_equal_events_group_into_one_self_composition():
    whole = compute_epsilon([PrivacyEvent(1.5, 0.04, 300)], 1e-5)
    parts = compute_epsilon([PrivacyEvent(1.5, 0.04, 100), PrivacyEvent(1.5, 0.04, 200)], 1e-5)
    assert parts == whole


def test_mixed_events_cost_more_than_either_alone():
    a, b = PrivacyEvent(1.5, 0.04, 300), PrivacyEvent(3.0, 1.0, 5)
    both = compute_epsilon([a, b], 1e-5)
    assert both.accountant in ("pld", "rdp")  # not every event is full batch: no exact value
    assert "exact" not in both.values
    assert both.epsilon > max(compute_epsilon([a], 1e-5).epsilon, compute_epsilon([b], 1e-5).epsilon)


def test_no_events_cost_nothing():
    report = compute_epsilon([], 1e-5)
    assert report.epsilon == 0.0 and report.accountant == "exact"


def test_pld_is_skipped_where_it_would_blow_up():
    # sigma 0.1 at q 0.04 for 2250 steps: PLD needs 5 GB and 40 s; RDP says epsilon is in the thousands
    report = compute_epsilon([PrivacyEvent(0.1, 0.04, 2250)], 1e-5)
    assert report.accountant == "rdp" and "pld" not in report.values
    assert report.epsilon > PLD_EPSILON_CAP


@pytest.mark.parametrize("delta", [0.0, 1.0, -1e-5, 2.0, float("nan"), True])
def test_bad_delta_is_refused(delta):
    with pytest.raises(ValueError, match="delta"):
        compute_epsilon([PrivacyEvent(1.0, 0.1, 10)], delta)


events_args = dict(
    sigma=st.floats(1.0, 4.0),
    q=st.sampled_from([0.01, 0.05, 0.2, 1.0]),
    steps=st.integers(1, 100),
)


@settings(max_examples=6)
@given(**events_args, extra=st.integers(1, 100))
def test_epsilon_does_not_decrease_with_more_steps(sigma, q, steps, extra):
    fewer = compute_epsilon([PrivacyEvent(sigma, q, steps)], 1e-5).epsilon
    more = compute_epsilon([PrivacyEvent(sigma, q, steps + extra)], 1e-5).epsilon
    assert more >= fewer - 1e-9


@settings(max_examples=6)
@given(**events_args, factor=st.floats(1.01, 3.0))
def test_epsilon_does_not_increase_with_more_noise(sigma, q, steps, factor):
    less_noise = compute_epsilon([PrivacyEvent(sigma, q, steps)], 1e-5).epsilon
    more_noise = compute_epsilon([PrivacyEvent(sigma * factor, q, steps)], 1e-5).epsilon
    assert more_noise <= less_noise + 1e-9


def test_accountant_recomputes_from_its_log():
    acc = Accountant()
    assert acc.epsilon(1e-5).epsilon == 0.0
    acc.record(PrivacyEvent(1.5, 0.04, 100))
    first = acc.epsilon(1e-5)
    acc.record(PrivacyEvent(1.5, 0.04, 100))
    second = acc.epsilon(1e-5)
    assert second.epsilon > first.epsilon
    assert second == compute_epsilon([PrivacyEvent(1.5, 0.04, 200)], 1e-5)
    assert acc.events == (PrivacyEvent(1.5, 0.04, 100),) * 2
    assert isinstance(acc.events, tuple)


def test_accountant_records_only_events():
    with pytest.raises(TypeError):
        Accountant().record({"noise_multiplier": 1.0})  # type: ignore[arg-type]


def test_projection_does_not_record():
    acc = Accountant([PrivacyEvent(1.5, 0.04, 100)])
    planned = PrivacyEvent(1.5, 0.04, 100)
    projected = acc.projected(planned, 1e-5)
    assert projected == projected_epsilon(acc.events, planned, 1e-5)
    assert projected == compute_epsilon([PrivacyEvent(1.5, 0.04, 200)], 1e-5)
    assert len(acc.events) == 1


def test_report_serializes_to_json():
    report = compute_epsilon([PrivacyEvent(1.5, 0.04, 100)], 1e-5)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["epsilon"] == report.epsilon and data["accountant"] == "pld"
    assert set(data["values"]) == {"rdp", "pld"}


@pytest.mark.parametrize("mu", [0.05, 0.5, 1.0, 7.0, 40.0])
def test_exact_epsilon_is_the_tight_side_of_the_delta_curve(mu):
    eps = gdp_epsilon(mu, 1e-5)
    assert gdp_delta(eps, mu) <= 1e-5 < gdp_delta(eps - 1e-9 * max(1.0, eps), mu)
    assert gdp_epsilon(0.0, 1e-5) == 0.0
