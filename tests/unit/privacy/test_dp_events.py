"""PrivacyEvent: validation and the strict JSON round trip."""

import dataclasses
import json

import pytest

from fedward.privacy import PrivacyEvent


def test_round_trip_through_json_is_exact():
    event = PrivacyEvent(1.1, 0.01, 10_000)
    back = PrivacyEvent.from_dict(json.loads(json.dumps(event.to_dict())))
    assert back == event
    assert event.to_dict()["mechanism"] == "poisson_subsampled_gaussian"


def test_integers_are_normalized_to_floats():
    event = PrivacyEvent(2, 1, 3)
    assert type(event.noise_multiplier) is float and type(event.sample_rate) is float
    assert event == PrivacyEvent(2.0, 1.0, 3)


def test_events_are_immutable():
    event = PrivacyEvent(1.0, 0.5, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.steps = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("sigma", "q", "steps"),
    [
        (0.0, 0.5, 1),
        (-1.0, 0.5, 1),
        (float("nan"), 0.5, 1),
        (float("inf"), 0.5, 1),
        (1.0, 0.0, 1),
        (1.0, 1.5, 1),
        (1.0, -0.1, 1),
        (1.0, 0.5, 0),
        (1.0, 0.5, 2.0),
        (1.0, 0.5, True),
        (True, 0.5, 1),
        ("1.0", 0.5, 1),
    ],
)
def test_invalid_events_are_refused(sigma, q, steps):
    with pytest.raises(ValueError, match="privacy event"):
        PrivacyEvent(sigma, q, steps)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("steps"),
        lambda d: d.update(extra=1),
        lambda d: d.update(mechanism="laplace"),
        lambda d: d.update(steps=3.0),
        lambda d: d.update(steps=True),
        lambda d: d.update(noise_multiplier="1.0"),
        lambda d: d.update(sample_rate=None),
        lambda d: d.update(sample_rate=2.0),
    ],
)
def test_from_dict_is_strict(mutate):
    data = PrivacyEvent(1.0, 0.5, 3).to_dict()
    mutate(data)
    with pytest.raises(ValueError, match="privacy event"):
        PrivacyEvent.from_dict(data)


def test_from_dict_refuses_non_mappings():
    with pytest.raises(ValueError, match="privacy event"):
        PrivacyEvent.from_dict([1.0, 0.5, 3])


def test_reply_info_round_trip_and_wire_form():
    event = PrivacyEvent(1.2, 0.1, 20)
    info = event.to_reply_info()
    assert info == {"dp_noise_multiplier": 1.2, "dp_sample_rate": 0.1, "dp_steps": 20}
    assert [type(v) for v in info.values()] == [float, float, int]
    assert PrivacyEvent.from_reply_info({**info, "labels": ["a"]}) == event


@pytest.mark.parametrize(
    ("info", "match"),
    [
        ({"dp_noise_multiplier": 1.2, "dp_sample_rate": 0.1}, "dp_steps"),
        ({"dp_sample_rate": 0.1, "dp_steps": 20}, "dp_noise_multiplier"),
        ({"dp_noise_multiplier": "1", "dp_sample_rate": 0.1, "dp_steps": 20}, "numbers"),
        ({"dp_noise_multiplier": 1.2, "dp_sample_rate": True, "dp_steps": 20}, "numbers"),
        ({"dp_noise_multiplier": 1.2, "dp_sample_rate": 0.1, "dp_steps": 20.0}, "numbers"),
        ({"dp_noise_multiplier": 0.0, "dp_sample_rate": 0.1, "dp_steps": 20}, "noise_multiplier"),
    ],
)
def test_reply_info_is_read_strictly(info, match):
    with pytest.raises(ValueError, match=match):
        PrivacyEvent.from_reply_info(info)
