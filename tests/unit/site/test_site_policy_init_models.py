"""`init_models` in a site policy: the base models (`[model] init` files, by SHA-256) the site accepts to
start from. Optional (absent: any, and the policy's hash is what it was); when stated, a task from any
other file, or from a model built from the seed, is refused naming the rule. Power check: the same task
passes when its file is listed."""

from __future__ import annotations

import dataclasses

import pytest

from fedward.site.policy import RULES, PolicyError, PolicyRequest, SitePolicy, parse_policy

INIT = "ab" * 32
OTHER = "cd" * 32
RULES_TABLE = {
    "allowed_code": ["*"],
    "require_secure_aggregation": False,
    "require_dp": "none",
    "min_samples": 1,
    "max_rounds": 10,
}
REQUEST = PolicyRequest(
    task_sha256="ef" * 32,
    fedward_version="0.1.0",
    round=1,
    secure_aggregation=False,
    dp="none",
    target_epsilon=None,
    epsilon_budget=None,
    noise_multiplier=None,
    num_samples=10,
    init_model_sha256=INIT,
)


def _policy(**extra: object) -> SitePolicy:
    return parse_policy({"policy": {**RULES_TABLE, **extra}}, source="p.toml")


def test_absent_means_any_initial_model_and_the_hash_is_unchanged() -> None:
    policy = _policy()
    assert policy.init_models is None and "init_models" not in policy.to_dict()
    for start in (INIT, None):
        result = policy.check(dataclasses.replace(REQUEST, init_model_sha256=start))
        assert result.passed and result.checks == dict.fromkeys(RULES, True)


def test_a_listed_file_passes_and_any_other_start_is_refused() -> None:
    policy = _policy(init_models=[INIT.upper()])  # hex case does not matter
    assert policy.init_models == (INIT,) and policy.to_dict()["init_models"] == [INIT]
    assert policy.check(REQUEST).passed  # power check: the listed file is accepted
    other = policy.check(dataclasses.replace(REQUEST, init_model_sha256=OTHER))
    assert not other.passed and other.checks["init_models"] is False
    assert other.reasons == [f"init_models: the task starts from {OTHER}, not one of the site's init_models"]
    seed = policy.check(dataclasses.replace(REQUEST, init_model_sha256=None))
    assert not seed.passed and "built from the seed" in seed.reasons[0]


def test_the_pin_is_part_of_the_policys_identity() -> None:
    assert (
        len({_policy().sha256(), _policy(init_models=[INIT]).sha256(), _policy(init_models=[OTHER]).sha256()})
        == 3
    )


@pytest.mark.parametrize("value", [[], ["xyz"], "ab", [1]])
def test_a_malformed_list_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(PolicyError, match="init_models"):
        _policy(init_models=value)


def test_a_builtin_base_model_can_be_pinned_by_name():
    from fedward.models.builtin import builtin_model

    _path, card = builtin_model("builtin:doc-encoder")
    digest = card["weights"]["sha256"]
    by_name = _policy(init_models=["builtin:doc-encoder"])
    assert by_name.init_models == (digest,)
    assert by_name.sha256() == _policy(init_models=[digest]).sha256()  # the name stands for the digest
    started_from_it = dataclasses.replace(REQUEST, init_model_sha256=digest)
    assert by_name.check(started_from_it).passed
    assert not by_name.check(REQUEST).passed  # power: another file is still refused


def test_an_unknown_builtin_name_is_a_policy_error():
    with pytest.raises(PolicyError, match=r"init_models.*unknown built-in model"):
        _policy(init_models=["builtin:no-such-model"])
