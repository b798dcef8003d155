"""`[policy] training_code`: the user model code (`[model] code` files, by SHA-256) a site agrees to run.
Left out, the site runs none; there is no wildcard in a file; built-in models need no entry."""

import pytest

from fedward.site.policy import PolicyError, PolicyRequest, SitePolicy, parse_policy

DIGEST = "ab" * 32
BASE = {
    "allowed_code": ["*"],
    "require_secure_aggregation": False,
    "require_dp": "none",
    "min_samples": 1,
    "max_rounds": 10,
}


def _request(code: str | None) -> PolicyRequest:
    return PolicyRequest("c" * 64, "0.1.0", 1, False, "none", None, None, None, 100, model_code_sha256=code)


def _policy(**extra: object) -> SitePolicy:
    return parse_policy({"policy": {**BASE, **extra}}, source="policy.toml")


def test_absent_runs_no_user_code_but_built_in_models_and_keeps_the_hash() -> None:
    policy = _policy()
    assert policy.training_code is None and "training_code" not in policy.to_dict()
    assert policy.check(_request(None)).passed
    result = policy.check(_request(DIGEST))
    assert not result.passed and result.checks["training_code"] is False
    assert result.reasons == [
        f"training_code: the task ships model code sha256:{DIGEST}; the site's policy runs none"
    ]


def test_a_listed_hash_passes_and_any_other_is_refused() -> None:
    policy = _policy(training_code=[f"sha256:{DIGEST.upper()}"])
    assert policy.training_code == (DIGEST,) and policy.allows_model_code(DIGEST)
    assert policy.check(_request(DIGEST)).passed  # power check of the refusal below
    other = "cd" * 32
    result = policy.check(_request(other))
    assert not result.passed
    assert (
        f"training_code: model code sha256:{other} is not in the site's training_code list" in result.reasons
    )
    assert policy.sha256() != _policy().sha256()  # the list is part of the policy's identity


@pytest.mark.parametrize("value", [["*"], ["sha256:xyz"], [], "sha256:" + DIGEST, [1]])
def test_a_malformed_list_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(PolicyError, match=r"\[policy\] 'training_code'"):
        _policy(training_code=value)


def test_the_simulation_runs_the_configured_code_only_and_accept_any_task_runs_none() -> None:
    assert SitePolicy.simulation_default(DIGEST).check(_request(DIGEST)).passed
    assert not SitePolicy.simulation_default(DIGEST).check(_request("cd" * 32)).passed
    assert not SitePolicy.simulation_default().check(_request(DIGEST)).passed
    assert not SitePolicy.accept_any_task().check(_request(DIGEST)).passed
