"""Record-level DP with the noise shared between sites under secure aggregation (distributed DP): the
calibration, each site's share, the accounting of the sum (checked against the exact full-batch Gaussian
values of dp-accounting), dropouts, the site's own-share epsilon, the site's one-step override, and the
policy opt-in (with its power check)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from fedward.config import PrivacyConfig
from fedward.coordinator.privacy import PrivacyState
from fedward.privacy import PrivacyEvent, compute_epsilon
from fedward.settings import DpSettings, TrainSettings
from fedward.site.policy import PolicyRequest, SitePolicy, parse_policy
from fedward.site.protect import train_for_task

REFERENCE = Path(__file__).parents[2] / "vectors" / "dp-epsilon.json"
SHARED = {"dp": "record", "secure_aggregation": True, "shared_noise": True}


def _state(rounds: int = 5, min_contributors: int = 3, **privacy) -> PrivacyState:
    return PrivacyState.create(
        PrivacyConfig(**{**SHARED, **privacy}),
        rounds=rounds,
        epochs=3,  # ignored under shared noise: one full-batch step per round
        batch_size=10,
        site_samples={"a": 400, "b": 50, "c": 120, "d": 90},
        min_contributors=min_contributors,
    )


def test_shared_noise_calibrates_one_full_batch_step_per_round_and_hands_out_shares():
    state = _state(target_epsilon=3.0)
    sigmas = {p.noise_multiplier for p in state.plans.values()}
    assert len(sigmas) == 1  # the sum carries one noise for every site's records
    sigma = sigmas.pop()
    assert all((p.sample_rate, p.steps_per_round) == (1.0, 1) for p in state.plans.values())
    assert 2.9 < compute_epsilon([PrivacyEvent(sigma, 1.0, 1)] * 5, 1e-5).epsilon <= 3.0
    config = state.task_config("b", 4)
    assert config["dp_shared_noise"] is True
    assert config["dp_noise_multiplier"] == pytest.approx(sigma / 2)  # 4 shares of sigma^2 / 4
    # without shared noise the key is absent, so every other task's hash is unchanged
    plain = PrivacyState.create(
        PrivacyConfig(dp="record", target_epsilon=3.0),
        rounds=5,
        epochs=1,
        batch_size=10,
        site_samples={"a": 400},
        min_contributors=1,
    )
    assert "dp_shared_noise" not in plain.task_config("a", 1)


@pytest.mark.parametrize("case", json.loads(REFERENCE.read_text())["exact_full_batch_gaussian"])
def test_the_sum_is_accounted_as_the_full_batch_gaussian_dp_accounting_gives(case):
    sigma, steps, delta = case["noise_multiplier"], case["steps"], case["delta"]
    state = _state(rounds=steps, noise_multiplier=sigma, delta=delta)
    assert state.record_round({s: PrivacyEvent(sigma / 2, 1.0, 1) for s in "abcd"}, 4, 4) is None
    for site in "abcd":
        (event,) = state.accountants[site].events
        assert event == PrivacyEvent(sigma, 1.0, 1)  # the sum's noise, not the site's share
        spent = compute_epsilon([event] * steps, delta).epsilon
        assert spent == pytest.approx(case["epsilon_exact"], rel=1e-3)
    if steps == 1:
        assert state.epsilons()["a"] == pytest.approx(case["epsilon_exact"], rel=1e-3)


def test_dropouts_leave_less_noise_raise_epsilon_and_say_so():
    full, short = _state(noise_multiplier=2.0), _state(noise_multiplier=2.0)
    share = PrivacyEvent(1.0, 1.0, 1)
    assert full.record_round({s: share for s in "abcd"}, 4, 4) is None
    note = short.record_round({s: share for s in "abc"}, 3, 4)
    assert note is not None and "3 of 4 sites" in note
    assert short.accountants["a"].events[0].noise_multiplier == pytest.approx(2.0 * math.sqrt(3 / 4))
    assert short.epsilons()["a"] > full.epsilons()["a"]
    assert "d" not in short.last_events and not short.accountants["d"].events


def test_the_budget_check_assumes_only_min_contributors_add_noise():
    worst = compute_epsilon([PrivacyEvent(3.0 * math.sqrt(2 / 4), 1.0, 1)], 1e-5).epsilon
    best = compute_epsilon([PrivacyEvent(3.0, 1.0, 1)], 1e-5).epsilon
    budget = (worst + best) / 2
    assert _state(min_contributors=2, noise_multiplier=3.0, epsilon_budget=budget).blocked(list("abcd"))
    roomy = _state(min_contributors=4, noise_multiplier=3.0, epsilon_budget=budget)
    assert roomy.blocked(list("abcd")) is None


def test_the_summary_says_the_noise_is_shared_and_what_a_site_spends_on_its_share_alone():
    state = _state(noise_multiplier=2.0)
    for _ in range(3):
        state.record_round({s: PrivacyEvent(1.0, 1.0, 1) for s in "abcd"}, 4, 4)
    summary = state.summary()
    assert summary["noise"] == "shared"
    entry = summary["sites"]["a"]
    alone = compute_epsilon([PrivacyEvent(1.0, 1.0, 1)] * 3, 1e-5).epsilon
    assert entry["epsilon"] < entry["epsilon_alone"] == pytest.approx(alone)


@pytest.mark.parametrize(
    ("privacy", "message"),
    [
        ({"dp": "record", "shared_noise": True, "target_epsilon": 3.0}, "secure_aggregation"),
        ({"dp": "site", "secure_aggregation": True, "shared_noise": True, "target_epsilon": 3.0}, "'record'"),
        (
            {
                "dp": "record",
                "secure_aggregation": True,
                "shared_noise": True,
                "unit": "patient",
                "target_epsilon": 3.0,
            },
            "unit = 'patient'",
        ),
    ],
)
def test_shared_noise_needs_record_dp_and_secure_aggregation(privacy, message):
    with pytest.raises(ValidationError, match=message):
        PrivacyConfig(**privacy)
    fixed = {**privacy, "dp": "record", "secure_aggregation": True, "unit": "record"}
    PrivacyConfig(**fixed)  # power check: the fixed one loads


def _train(dp: DpSettings) -> tuple[torch.nn.Module, dict]:
    model = torch.nn.Linear(3, 2)
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (40,), generator=torch.Generator().manual_seed(1))
    settings = TrainSettings(epochs=3, batch_size=8, lr=0.1, momentum=0.0)
    _loss, info = train_for_task(model, x, y, settings, dp)
    return model, info


def test_a_site_with_a_noise_share_takes_one_full_batch_step_whatever_the_batch_size():
    base = {"clip_norm": 1.0, "delta": 1e-5, "target_epsilon": 3.0, "epsilon_budget": None}
    shared = DpSettings(
        mode="record", secure_aggregation=True, noise_multiplier=0.5, shared_noise=True, **base
    )
    _model, info = _train(shared)
    assert PrivacyEvent.from_reply_info(info) == PrivacyEvent(0.5, 1.0, 1)
    per_site = DpSettings(mode="record", secure_aggregation=True, noise_multiplier=0.5, **base)
    _model, info = _train(per_site)  # power check: the task's own batch size and epochs otherwise
    event = PrivacyEvent.from_reply_info(info)
    assert event.sample_rate == pytest.approx(8 / 40) and event.steps == 3 * 5


def _request(shared: bool) -> PolicyRequest:
    return PolicyRequest(
        task_sha256="0" * 64,
        fedward_version="0",
        round=1,
        secure_aggregation=True,
        dp="record",
        target_epsilon=3.0,
        epsilon_budget=3.0,
        noise_multiplier=None,
        num_samples=100,
        shared_noise=shared,
    )


def _policy(**extra) -> SitePolicy:
    rules = {
        "allowed_code": ["*"],
        "require_secure_aggregation": True,
        "require_dp": "record",
        "max_epsilon": 3.0,
        "min_samples": 1,
        "max_rounds": 100,
    }
    return parse_policy({"policy": {**rules, **extra}}, source="site.toml")


def test_a_site_must_opt_in_to_a_guarantee_that_rests_on_the_other_sites_noise():
    refused = _policy().check(_request(shared=True))
    assert not refused.passed and "allow_shared_noise" in refused.reasons[0]
    assert _policy().check(_request(shared=False)).passed  # power check: the same task without sharing
    assert _policy(allow_shared_noise=True).check(_request(shared=True)).passed
    assert _policy(allow_shared_noise=False).sha256() == _policy().sha256()  # false is the default
    assert SitePolicy.simulation_default().check(_request(shared=True)).passed


def test_the_noise_shares_of_the_selected_sites_add_up_to_the_round_noise():
    """The arithmetic the guarantee rests on: `selected` independent shares of std sigma*C/sqrt(selected)
    sum to std sigma*C (and one share alone is sqrt(selected) times smaller)."""
    state = _state(noise_multiplier=2.0)
    share = float(state.task_config("a", 4)["dp_noise_multiplier"]) * 1.0
    rng = np.random.default_rng(0)
    total = rng.normal(0.0, share, size=(4, 200_000)).sum(axis=0)
    assert np.std(total) == pytest.approx(2.0, rel=0.01)
