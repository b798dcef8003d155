"""DpSettings: the DP part of a fit task's config, byte for byte what tasks carried before the dataclass,
read back strictly."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedward.config import DpMode, PrivacyConfig
from fedward.core.canonical import canonical_bytes
from fedward.settings import DpSettings

# What PrivacyState.task_config wrote before typed settings (captured from that code; `dp` was a DpMode,
# which is a str and encodes identically)
BEFORE = {
    "none": (
        PrivacyConfig(),
        {},
        {
            "dp": "none",
            "dp_clip_norm": 1.0,
            "dp_delta": 1e-05,
            "dp_target_epsilon": None,
            "dp_epsilon_budget": None,
            "secure_aggregation": False,
        },
    ),
    "none_secagg": (
        PrivacyConfig(secure_aggregation=True),
        {},
        {
            "dp": "none",
            "dp_clip_norm": 1.0,
            "dp_delta": 1e-05,
            "dp_target_epsilon": None,
            "dp_epsilon_budget": None,
            "secure_aggregation": True,
        },
    ),
    "record": (
        PrivacyConfig(dp="record", noise_multiplier=1.1, epsilon_budget=8),
        {"noise_multiplier": 1.1},
        {
            "dp": "record",
            "dp_clip_norm": 1.0,
            "dp_delta": 1e-05,
            "dp_target_epsilon": None,
            "dp_epsilon_budget": 8.0,
            "secure_aggregation": False,
            "dp_noise_multiplier": 1.1,
        },
    ),
    "record_secagg": (
        PrivacyConfig(dp="record", target_epsilon=3, secure_aggregation=True, clip_norm=0.5),
        {"noise_multiplier": 1.4943254400693269},
        {
            "dp": "record",
            "dp_clip_norm": 0.5,
            "dp_delta": 1e-05,
            "dp_target_epsilon": 3.0,
            "dp_epsilon_budget": None,
            "secure_aggregation": True,
            "dp_noise_multiplier": 1.4943254400693269,
        },
    ),
    "site": (
        PrivacyConfig(dp="site", noise_multiplier=1.5, clip_norm=2),
        {},
        {
            "dp": "site",
            "dp_clip_norm": 2.0,
            "dp_delta": 1e-05,
            "dp_target_epsilon": None,
            "dp_epsilon_budget": None,
            "secure_aggregation": False,
        },
    ),
    "site_secagg": (
        PrivacyConfig(dp="site", noise_multiplier=1.5, clip_norm=2, secure_aggregation=True, delta=1e-6),
        {"noise_std": 2.1213203435596424},
        {
            "dp": "site",
            "dp_clip_norm": 2.0,
            "dp_delta": 1e-06,
            "dp_target_epsilon": None,
            "dp_epsilon_budget": None,
            "secure_aggregation": True,
            "dp_noise_std": 2.1213203435596424,
        },
    ),
}


def _types(config):
    return [(k, type(v)) for k, v in config.items()]


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_to_config_reproduces_the_wire_format_exactly(case):
    privacy, noise, before = BEFORE[case]
    config = DpSettings.from_privacy(privacy, **noise).to_config()
    assert config == before
    assert _types(config) == _types(before)  # same keys, same order, same JSON types (dp: a plain str)
    assert canonical_bytes(config) == canonical_bytes(before)


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_from_config_reads_back_what_to_config_wrote(case):
    privacy, noise, _ = BEFORE[case]
    settings = DpSettings.from_privacy(privacy, **noise)
    assert DpSettings.from_config(settings.to_config()) == settings
    assert DpSettings.from_config(settings.to_config()).mode is DpMode(privacy.dp)


_numbers = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)


@given(
    mode=st.sampled_from(list(DpMode)),
    secure=st.booleans(),
    clip=_numbers,
    delta=st.floats(min_value=1e-12, max_value=0.09),
    target=st.none() | _numbers,
    budget=st.none() | _numbers,
    noise=_numbers,
)
def test_round_trip_property(mode, secure, clip, delta, target, budget, noise):
    settings = DpSettings(
        mode,
        clip,
        delta,
        target,
        budget,
        secure,
        noise_multiplier=noise if mode is DpMode.RECORD else None,
        noise_std=noise if mode is DpMode.SITE and secure else None,
    )
    assert DpSettings.from_config(settings.to_config()) == settings


@pytest.mark.parametrize(
    "key", ["dp", "dp_clip_norm", "dp_delta", "dp_target_epsilon", "dp_epsilon_budget", "secure_aggregation"]
)
def test_a_missing_key_is_named(key):
    config = BEFORE["record"][2] | {}
    del config[key]
    with pytest.raises(ValueError, match=key):
        DpSettings.from_config(config)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dp", "sometimes"),
        ("dp", None),
        ("dp_clip_norm", "1.0"),
        ("dp_clip_norm", True),  # a bool is not a number
        ("dp_delta", None),
        ("dp_target_epsilon", "3"),
        ("secure_aggregation", 1),
        ("dp_noise_multiplier", None),
        ("dp_noise_multiplier", [1.0]),
    ],
)
def test_a_mistyped_key_is_named(key, value):
    config = BEFORE["record"][2] | {key: value}
    with pytest.raises(ValueError, match=key):
        DpSettings.from_config(config)


def test_record_level_dp_without_a_noise_multiplier_is_refused():
    """Fail closed: a site must never train 'privately' with no noise because a key went missing."""
    config = dict(BEFORE["record"][2])
    del config["dp_noise_multiplier"]
    with pytest.raises(ValueError, match="dp_noise_multiplier"):
        DpSettings.from_config(config)
    assert DpSettings.from_config(BEFORE["record"][2]).noise_multiplier == 1.1  # power: present, it reads


@pytest.mark.parametrize("case", ["none", "site", "record"])
def test_a_noise_share_outside_site_level_secure_aggregation_is_refused(case):
    config = BEFORE[case][2] | {"dp_noise_std": 0.5}
    with pytest.raises(ValueError, match="dp_noise_std"):
        DpSettings.from_config(config)
    assert DpSettings.from_config(BEFORE["site_secagg"][2]).noise_std == 2.1213203435596424


def test_a_noise_multiplier_outside_record_level_dp_is_refused():
    with pytest.raises(ValueError, match="dp_noise_multiplier"):
        DpSettings.from_config(BEFORE["site"][2] | {"dp_noise_multiplier": 1.0})


def test_other_keys_are_ignored():
    """A fit task's config holds the other concerns' keys too: each dataclass reads only its own."""
    config = BEFORE["none"][2] | {"epochs": 1, "secagg_session": "00", "trust_entry": "x"}
    assert DpSettings.from_config(config) == DpSettings.from_privacy(PrivacyConfig())


def test_the_patient_unit_travels_in_the_task_and_record_tasks_keep_their_bytes():
    from fedward.config import PrivacyUnit

    patient = DpSettings.from_privacy(
        PrivacyConfig(dp="record", unit="patient", noise_multiplier=1.1), noise_multiplier=1.1
    )
    config = patient.to_config()
    assert config["dp_unit"] == "patient"
    assert DpSettings.from_config(config) == patient
    record = DpSettings.from_privacy(PrivacyConfig(dp="record", noise_multiplier=1.1), noise_multiplier=1.1)
    assert "dp_unit" not in record.to_config()
    assert DpSettings.from_config(record.to_config()).unit == PrivacyUnit.RECORD


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dp_unit": "page"}, "'dp_unit' must be one of record, patient"),
        ({"dp": "none", "dp_noise_multiplier": None}, "'dp_unit' is set only with dp = 'record'"),
    ],
)
def test_a_bad_dp_unit_is_refused_naming_the_key(change, message):
    config = DpSettings.from_privacy(
        PrivacyConfig(dp="record", unit="patient", noise_multiplier=1.1), noise_multiplier=1.1
    ).to_config()
    config.update(change)
    config = {k: v for k, v in config.items() if v is not None or k.startswith("dp_target")}
    with pytest.raises(ValueError, match=message):
        DpSettings.from_config(config)
