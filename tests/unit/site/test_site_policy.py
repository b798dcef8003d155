"""The site policy: deny by default, one refusal per violated rule, and power checks showing that each
refusal comes from that rule (the same request passes once the rule is relaxed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from fedward.config import PrivacyConfig
from fedward.site.policy import (
    ACCEPT_ANY_TASK,
    OPTIONAL_RULES,
    RULES,
    PolicyError,
    PolicyRequest,
    SitePolicy,
    load_policy,
    parse_policy,
)

CODE = "ab" * 32
OTHER_CODE = "cd" * 32

POLICY_TOML = f"""
[policy]
allowed_code = ["{CODE}"]
fedward_versions = ["0.1.0"]
require_secure_aggregation = true
require_dp = "record"
max_epsilon = 8.0
min_samples = 20
max_rounds = 100
"""

GOOD = PolicyRequest(
    task_sha256=CODE,
    fedward_version="0.1.0",
    round=3,
    secure_aggregation=True,
    dp="record",
    target_epsilon=4.0,
    epsilon_budget=None,
    noise_multiplier=None,
    num_samples=50,
)


@pytest.fixture
def policy(tmp_path: Path) -> SitePolicy:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY_TOML, encoding="utf-8")
    return load_policy(path)


def test_a_complying_request_passes_every_rule(policy: SitePolicy) -> None:
    result = policy.check(GOOD)
    assert result.passed and result.reasons == []
    assert result.checks == dict.fromkeys(RULES, True)
    assert result.policy_sha256 == policy.sha256()
    assert result.to_dict()["passed"] is True


# (rule, violating change to the request, relaxing change to the policy that lets the same request pass)
VIOLATIONS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("allowed_code", {"task_sha256": OTHER_CODE}, {"allowed_code": ("*",)}, OTHER_CODE),
    ("fedward_versions", {"fedward_version": "9.9.9"}, {"fedward_versions": None}, "9.9.9"),
    ("require_secure_aggregation", {"secure_aggregation": False}, {"require_secure_aggregation": False}, ""),
    ("require_dp", {"dp": "site"}, {"require_dp": "none", "max_epsilon": None}, "'site'"),
    ("max_epsilon", {"target_epsilon": 9.0}, {"max_epsilon": 10.0}, "9.0"),
    ("max_epsilon", {"epsilon_budget": 12.0}, {"max_epsilon": 12.0}, "12.0"),
    ("min_samples", {"num_samples": 19}, {"min_samples": 19}, "19"),
    ("max_rounds", {"round": 101}, {"max_rounds": 101}, "101"),
]


@pytest.mark.parametrize(("rule", "change", "relax", "value"), VIOLATIONS)
def test_each_rule_refuses_its_violation_and_only_that_rule(
    policy: SitePolicy, rule: str, change: dict[str, Any], relax: dict[str, Any], value: str
) -> None:
    request = dataclasses.replace(GOOD, **change)
    result = policy.check(request)
    assert not result.passed
    assert [r for r, ok in result.checks.items() if not ok] == [rule]
    assert len(result.reasons) == 1 and result.reasons[0].startswith(f"{rule}:")
    assert value in result.reasons[0]
    # power check: with the rule relaxed the very same request passes, so the rule made the refusal
    assert dataclasses.replace(policy, **relax).check(request).passed


def test_noise_multiplier_without_a_budget_cannot_be_proven(policy: SitePolicy) -> None:
    request = dataclasses.replace(GOOD, target_epsilon=None, noise_multiplier=1.1)
    result = policy.check(request)
    assert result.checks["max_epsilon"] is False
    assert "cannot be proven" in result.reasons[0] and "epsilon_budget" in result.reasons[0]
    assert policy.check(dataclasses.replace(request, epsilon_budget=8.0)).passed
    assert not policy.check(dataclasses.replace(request, epsilon_budget=8.5)).passed


def test_record_and_site_dp_are_different_guarantees(policy: SitePolicy) -> None:
    site_policy = dataclasses.replace(policy, require_dp="site")
    assert not site_policy.check(GOOD).passed
    assert site_policy.check(dataclasses.replace(GOOD, dp="site")).passed
    no_dp = dataclasses.replace(GOOD, dp="none", target_epsilon=None)
    refused = policy.check(no_dp)
    assert not refused.checks["require_dp"] and not refused.checks["max_epsilon"]
    anything = dataclasses.replace(policy, require_dp="none", max_epsilon=None)
    assert all(anything.check(dataclasses.replace(GOOD, dp=dp)).passed for dp in ("none", "record", "site"))
    assert not anything.check(dataclasses.replace(GOOD, dp="secret")).passed


def test_not_a_number_epsilon_is_refused(policy: SitePolicy) -> None:
    assert not policy.check(dataclasses.replace(GOOD, target_epsilon=float("nan"))).passed


def test_wildcard_accepts_any_code(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(POLICY_TOML.replace(f'["{CODE}"]', '["*"]'), encoding="utf-8")
    policy = load_policy(path)
    assert policy.allowed_code == ("*",)
    for code in (CODE, OTHER_CODE, "0" * 64):
        assert policy.check(dataclasses.replace(GOOD, task_sha256=code)).passed


def test_request_from_privacy_config(policy: SitePolicy) -> None:
    privacy = PrivacyConfig(secure_aggregation=True, dp="record", target_epsilon=4.0)
    request = PolicyRequest.from_privacy(
        privacy, task_sha256=CODE, fedward_version="0.1.0", round=3, num_samples=50
    )
    assert request == GOOD and policy.check(request).passed


def test_simulation_default_is_named_permissive_and_still_checks() -> None:
    sim = SitePolicy.simulation_default()
    assert sim.is_simulation_default and "simulation" in sim.source
    result = sim.check(dataclasses.replace(GOOD, secure_aggregation=False, dp="none", num_samples=1))
    assert result.passed and result.checks == dict.fromkeys(RULES, True)
    assert result.policy_source == sim.source
    assert not sim.check(dataclasses.replace(GOOD, num_samples=0)).passed
    assert not sim.check(dataclasses.replace(GOOD, round=0)).passed


def test_accept_any_task_is_marked_in_its_hash_and_in_every_result() -> None:
    """The deployed opt-in has the simulation's permissive rules but its own identity: its hash differs
    (and so does the manifest's), and each result carries the accept_any_task check. Power check: the
    simulation default, and a file stating the same rules, carry neither."""
    opt_in, sim = SitePolicy.accept_any_task(), SitePolicy.simulation_default()
    same_rules = parse_policy(
        {"policy": {k: v for k, v in sim.to_dict().items() if v is not None}}, source="same.toml"
    )
    assert same_rules.sha256() == sim.sha256() != opt_in.sha256()
    assert opt_in.to_dict()[ACCEPT_ANY_TASK] is True and ACCEPT_ANY_TASK not in sim.to_dict()
    request = dataclasses.replace(GOOD, secure_aggregation=False, dp="none", num_samples=1)
    result = opt_in.check(request)
    assert result.passed and result.checks == {**dict.fromkeys(RULES, True), ACCEPT_ANY_TASK: True}
    assert result.policy_sha256 == opt_in.sha256() and "--accept-any-task" in result.policy_source
    assert ACCEPT_ANY_TASK not in sim.check(request).checks
    assert ACCEPT_ANY_TASK not in same_rules.check(request).checks
    assert not opt_in.check(dataclasses.replace(GOOD, num_samples=0)).passed  # its checks still run


# --- deny by default: the file itself


def test_missing_policy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found") as info:
        load_policy(tmp_path / "absent.toml")
    assert info.value.where == str(tmp_path / "absent.toml")


@pytest.mark.parametrize("text", ["", "# nothing here\n", "[policy]\n"])
def test_empty_policy_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match="empty") as info:
        load_policy(path)
    assert info.value.where == str(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (POLICY_TOML + "allow_everything = true\n", "allow_everything"),
        (POLICY_TOML.replace("max_rounds", "max_round"), "max_round"),
        ("[polcy]\nx = 1\n" + POLICY_TOML, "polcy"),
    ],
)
def test_unknown_key_names_the_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=f"unknown key.*'{key}'") as info:
        load_policy(path)
    assert info.value.where == str(path)
    assert str(path) in info.value.render()


@pytest.mark.parametrize("key", [k for k in RULES if k not in OPTIONAL_RULES])
def test_every_rule_but_versions_and_init_models_must_be_stated(key: str) -> None:
    raw = {"policy": _rules()}
    del raw["policy"][key]
    with pytest.raises(PolicyError, match=f"missing key \\[policy\\] '{key}'"):
        parse_policy(raw, source="policy.toml")


def test_versions_may_be_left_out_and_then_any_version_passes() -> None:
    raw = {"policy": _rules()}
    del raw["policy"]["fedward_versions"]
    policy = parse_policy(raw, source="p.toml")
    assert policy.fedward_versions is None
    assert policy.check(dataclasses.replace(GOOD, fedward_version="2.0.0")).passed


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("allowed_code", [], "non-empty list"),
        ("allowed_code", ["*", CODE], "only entry"),
        ("allowed_code", ["not-a-hash"], "SHA-256"),
        ("require_secure_aggregation", "yes", "true or false"),
        ("require_dp", "strong", "not one of"),
        ("max_epsilon", 0, "> 0"),
        ("max_epsilon", float("inf"), "> 0"),
        ("max_epsilon", True, "> 0"),
        ("min_samples", 0, ">= 1"),
        ("max_rounds", 2.5, ">= 1"),
        ("fedward_versions", [""], "non-empty"),
    ],
)
def test_bad_values_name_the_key(key: str, value: Any, message: str) -> None:
    raw = {"policy": {**_rules(), key: value}}
    with pytest.raises(PolicyError, match=message) as info:
        parse_policy(raw, source="policy.toml")
    assert f"'{key}'" in str(info.value) and info.value.where == "policy.toml"


def test_max_epsilon_is_refused_without_dp_and_optional_then() -> None:
    with pytest.raises(PolicyError, match="no effect"):
        parse_policy({"policy": {**_rules(), "require_dp": "none"}}, source="p.toml")
    rules = {**_rules(), "require_dp": "none"}
    del rules["max_epsilon"]
    assert parse_policy({"policy": rules}, source="p.toml").max_epsilon is None


def test_hash_is_stable_across_key_and_list_order(tmp_path: Path) -> None:
    rules = _rules()
    forward = parse_policy({"policy": rules}, source="a.toml")
    backward = parse_policy({"policy": dict(reversed(list(rules.items())))}, source="b.toml")
    shuffled = parse_policy({"policy": {**rules, "allowed_code": [OTHER_CODE, CODE]}}, source="c.toml")
    reordered = parse_policy({"policy": {**rules, "allowed_code": [CODE.upper(), OTHER_CODE]}}, source="d")
    assert forward.sha256() == backward.sha256()
    assert shuffled.sha256() == reordered.sha256() != forward.sha256()
    int_epsilon = parse_policy({"policy": {**rules, "max_epsilon": 8}}, source="e")
    assert int_epsilon.sha256() == forward.sha256()
    assert dataclasses.replace(forward, min_samples=21).sha256() != forward.sha256()


def _rules() -> dict[str, Any]:
    return {
        "allowed_code": [CODE],
        "fedward_versions": ["0.1.0"],
        "require_secure_aggregation": True,
        "require_dp": "record",
        "max_epsilon": 8.0,
        "min_samples": 20,
        "max_rounds": 100,
    }
