"""The coordinator's privacy bookkeeping: per-site calibration, the budget check before a round, the
site-level dropout penalty, and the coordinator-side clipping of site-level DP."""

import numpy as np
import pytest

from fedward.aggregation import WeightedMean
from fedward.config import PrivacyConfig
from fedward.coordinator.privacy import FEDERATION, NoisyClippedSum, PrivacyState, record_dp_event
from fedward.privacy import PrivacyEvent, compute_epsilon


def _state(**privacy) -> PrivacyState:
    return PrivacyState.create(
        PrivacyConfig(**privacy),
        rounds=5,
        epochs=2,
        batch_size=10,
        site_samples={"big": 400, "small": 50},
        min_contributors=2,
    )


def test_record_level_calibrates_each_site_to_the_target_over_all_rounds():
    state = _state(dp="record", target_epsilon=2.0)
    for site, n in (("big", 400), ("small", 50)):
        plan = state.plans[site]
        assert plan.sample_rate == 10 / n and plan.steps_per_round == 2 * round(n / 10)
        spent = compute_epsilon(
            [PrivacyEvent(plan.noise_multiplier, plan.sample_rate, plan.steps_per_round)] * 5, 1e-5
        )
        assert 1.9 < spent.epsilon <= 2.0
    assert state.plans["small"].noise_multiplier > state.plans["big"].noise_multiplier  # higher q, more noise
    assert state.task_config("big", 2)["dp_noise_multiplier"] == state.plans["big"].noise_multiplier


def test_budget_blocks_the_round_that_would_exceed_it_and_names_the_site():
    state = _state(dp="record", noise_multiplier=1.5, epsilon_budget=3.0)
    rounds = 0
    while (reason := state.blocked(["big", "small"])) is None:
        plans = {
            s: PrivacyEvent(p.noise_multiplier, p.sample_rate, p.steps_per_round)
            for s, p in state.plans.items()
        }
        state.record_round(plans, 2, 2)
        rounds += 1
    assert rounds >= 1 and "site small" in reason and "epsilon_budget 3" in reason
    assert all(eps <= 3.0 for eps in state.epsilons().values())
    assert state.history[-1] == state.epsilons() and len(state.history) == rounds


def test_site_level_dropouts_raise_epsilon_and_say_so():
    full = _state(dp="site", noise_multiplier=2.0, secure_aggregation=True)
    short = _state(dp="site", noise_multiplier=2.0, secure_aggregation=True)
    assert full.record_round({}, 4, 4) is None
    note = short.record_round({}, 3, 4)
    assert note is not None and "3 of 4 sites" in note
    assert short.epsilons()[FEDERATION] > full.epsilons()[FEDERATION]
    assert short.accountants[FEDERATION].events[0].noise_multiplier == pytest.approx(2.0 * np.sqrt(3 / 4))
    # each site's share of the noise: n shares of the variance make the target noise
    assert full.task_config("big", 4)["dp_noise_std"] == pytest.approx(2.0 * 1.0 / 2)


def test_site_level_budget_assumes_the_worst_dropouts():
    state = _state(dp="site", noise_multiplier=3.0, secure_aggregation=True, epsilon_budget=1.5)
    # the projection uses min_contributors (2 of 4): effective sigma 3 * sqrt(1/2)
    worst = compute_epsilon([PrivacyEvent(3.0 * np.sqrt(0.5), 1.0, 1)], 1e-5).epsilon
    best = compute_epsilon([PrivacyEvent(3.0, 1.0, 1)], 1e-5).epsilon
    assert best < 1.5 < worst
    assert state.blocked(["a", "b", "c", "d"]) is not None


def test_noisy_clipped_sum_clips_at_the_coordinator():
    start = {"w": np.zeros(3, np.float32)}
    honest = [{"w": np.full(3, 0.1, np.float32)}, {"w": np.full(3, -0.1, np.float32)}]
    hostile = {"w": np.full(3, 100.0, np.float32)}
    clipped = NoisyClippedSum(start, clip_norm=1.0, noise_std=0.0, selected=3)
    plain = WeightedMean()
    for u in [*honest, hostile]:
        clipped.add(u, 1)
        plain.add(u, 1)
    assert clipped.count == 3
    assert np.linalg.norm(clipped.result()["w"]) <= 1.0 / 3 + 1e-6  # the hostile site moved it by <= C/n
    assert plain.result()["w"][0] > 30  # power check: without the clip one site drags the model


def test_noisy_clipped_sum_noise_has_the_configured_spread():
    start = {"w": np.zeros(20_000, np.float32)}
    acc = NoisyClippedSum(start, clip_norm=1.0, noise_std=2.0, selected=4)
    acc.add({"w": np.zeros(20_000, np.float32)}, 1)
    assert np.std(acc.result()["w"]) == pytest.approx(2.0 / 4, rel=0.03)
    again = NoisyClippedSum(start, clip_norm=1.0, noise_std=2.0, selected=4)
    again.add({"w": np.zeros(20_000, np.float32)}, 1)
    assert not np.array_equal(acc.result()["w"], again.result()["w"])  # not seeded from anything fixed


def test_a_reply_must_report_its_dp_spend():
    event = record_dp_event({"dp_noise_multiplier": 1.2, "dp_sample_rate": 0.1, "dp_steps": 20})
    assert event == PrivacyEvent(1.2, 0.1, 20)
    with pytest.raises(ValueError, match="dp_steps"):
        record_dp_event({"dp_noise_multiplier": 1.2, "dp_sample_rate": 0.1})
    with pytest.raises(ValueError, match="numbers"):
        record_dp_event({"dp_noise_multiplier": "1", "dp_sample_rate": 0.1, "dp_steps": 20})


@pytest.mark.parametrize(
    ("privacy", "unit"),
    [
        ({}, None),
        ({"dp": "record", "noise_multiplier": 1.0}, "record"),
        ({"dp": "record", "unit": "patient", "noise_multiplier": 1.0}, "patient"),
        ({"dp": "site", "noise_multiplier": 1.0}, "site"),
    ],
)
def test_the_summary_says_whom_epsilon_is_for(privacy, unit):
    assert _state(**privacy).summary()["unit"] == unit


def test_patient_unit_sample_rates_come_from_the_sites_patient_counts():
    from fedward.coordinator.privacy import privacy_units
    from fedward.coordinator.setup import FederationSetup
    from fedward.core.messages import Reply, ReplyStatus, TaskKind
    from fedward.errors import FederationError
    from fedward.models import ModelSpec

    def described(site: str, records: int, patients: int | None) -> Reply:
        metrics = {"n_train": float(records)} | ({"n_patients": float(patients)} if patients else {})
        return Reply("r", 0, site, TaskKind.DESCRIBE, ReplyStatus.OK, num_samples=records, metrics=metrics)

    def setup(descriptions: dict[str, Reply]) -> FederationSetup:
        return FederationSetup(
            list(descriptions), ["0", "1"], [], ModelSpec("logistic", 2, 2), b"", descriptions
        )

    both = setup({"a": described("a", 400, 40), "b": described("b", 50, 25)})
    patient = PrivacyConfig(dp="record", unit="patient", noise_multiplier=1.0)
    assert privacy_units(patient, both) == {"a": 40, "b": 25}
    assert privacy_units(PrivacyConfig(dp="record", noise_multiplier=1.0), both) == {"a": 400, "b": 50}
    with pytest.raises(FederationError, match=r"site 'b': .*no training patients"):
        privacy_units(patient, setup({"a": described("a", 400, 40), "b": described("b", 50, None)}))
