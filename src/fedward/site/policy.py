"""The site policy: what a hospital agrees to run, written by the site and never by the coordinator.

A site refuses every task its policy does not allow (deny by default). The policy is a TOML file with one
`[policy]` table; every rule must be stated (only `fedward_versions`, `init_models` and `training_code`
may be left out, meaning any version, any initial model and no user model code), unknown keys are errors,
and an empty or missing file is an error, so a typo or a forgotten file can never widen what a site
accepts. Two permissive policies are built in and say so in their names:
`SitePolicy.simulation_default()`, for the in-process simulation only, and `SitePolicy.accept_any_task()`,
which a deployed site runs only when its operator asked for it explicitly (`fedward site run
--accept-any-task`). The latter is marked in its rules (so its hash differs from every file's) and adds an
`accept_any_task` entry to every result's checks, so each signed manifest says that the site accepted any
task. The checks of both still run and are recorded like any other.

`check` returns one result per rule and a reason for each refusal, naming the rule and the values, so the
refusal can travel back to the coordinator as data and be written to the ledger. Privacy rules follow
docs/privacy.md: record-level DP (Abadi et al., CCS 2016) and site-level DP (McMahan et al., ICLR 2018)
are different guarantees, so neither stands in for the other, and an epsilon only counts when it is
proven: a calibrated target or an enforced budget, never a bare noise multiplier. `init_models` pins the
base models a site accepts to start from (SHA-256s of `[model] init` files): a task that starts from any
other, or from a model built from the seed, is refused; an entry "builtin:NAME" names a base model shipped
with fedward by its name and stands for its SHA-256. `training_code` lists the user model code (`[model]
code` files, "sha256:HEX") the site agrees to run: a task that ships any other code, or any code at all
when the list is left out, is refused before the code is imported (docs/threat-model.md: allow-listing a
hash means running that program with the site process's rights). The simulation's built-in policy runs the
configured code; `accept_any_task` runs none. `share_personalization` is a setting, not a rule (it never
refuses a task): under DP it lets the site send its personalized and local models' figures
(docs/personalization.md). `allow_shared_noise` (optional; left out means false) accepts record-level DP
whose noise is shared between the sites under secure aggregation: the task's epsilon then holds only if
secure aggregation hides each update and the other sites add their shares (docs/privacy.md), so a site
must opt in.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from fedward.config import BUILTIN_PREFIX, PrivacyConfig
from fedward.core.canonical import canonical_bytes
from fedward.errors import UserError
from fedward.models.builtin import builtin_model

__all__ = [
    "ACCEPT_ANY_TASK",
    "ANY_CODE",
    "CODE_PREFIX",
    "DP_LEVELS",
    "OPTIONAL_RULES",
    "RULES",
    "SETTINGS",
    "PolicyError",
    "PolicyRequest",
    "PolicyResult",
    "SitePolicy",
    "load_policy",
    "parse_policy",
]

ANY_CODE = "*"
DP_LEVELS = ("none", "record", "site")
RULES = (
    "allowed_code",
    "fedward_versions",
    "require_secure_aggregation",
    "require_dp",
    "max_epsilon",
    "min_samples",
    "max_rounds",
    "init_models",
    "training_code",
    "allow_shared_noise",
)
# may be left out: then any version or initial model is accepted, no user model code and no shared noise
OPTIONAL_RULES = ("fedward_versions", "init_models", "training_code", "allow_shared_noise")
CODE_PREFIX = "sha256:"  # `training_code = ["sha256:HEX"]`: the SHA-256 of a `[model] code` file
# settings, not rules: they decide what the site does, never whether it accepts a task
SETTINGS = ("share_personalization",)
DpLevel = Literal["none", "record", "site"]

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_SIMULATION_SOURCE = "built-in simulation policy (permissive; for `fedward simulate` only)"
_ACCEPT_ANY_SOURCE = "built-in accept-any-task policy (the site's operator chose --accept-any-task)"
ACCEPT_ANY_TASK = "accept_any_task"  # the marker in the rules and the checks of that policy
_HINT = (
    "state every rule in [policy]; only 'fedward_versions', 'init_models' and 'training_code' may be left "
    "out (then any version, any initial model and no user model code is accepted)"
)


class PolicyError(UserError):
    """The site policy file is missing, empty or invalid."""


@dataclass(frozen=True)
class PolicyRequest:
    """What a fit task asks of the site, in plain values (the caller reads them from the Task)."""

    task_sha256: str
    fedward_version: str
    round: int
    secure_aggregation: bool
    dp: str
    target_epsilon: float | None
    epsilon_budget: float | None
    noise_multiplier: float | None
    num_samples: int
    init_model_sha256: str | None = None  # the `[model] init` file the run starts from; None: the seed
    shared_noise: bool = False  # record-level DP whose noise the sites share under secure aggregation
    model_code_sha256: str | None = None  # the `[model] code` the task ships; None: a built-in model

    @classmethod
    def from_privacy(
        cls,
        privacy: PrivacyConfig,
        *,
        task_sha256: str,
        fedward_version: str,
        round: int,
        num_samples: int,
        init_model_sha256: str | None = None,
    ) -> PolicyRequest:
        """The request of a task run under the federation's `[privacy]` settings."""
        return cls(
            task_sha256=task_sha256,
            fedward_version=fedward_version,
            round=round,
            secure_aggregation=privacy.secure_aggregation,
            dp=privacy.dp,
            target_epsilon=privacy.target_epsilon,
            epsilon_budget=privacy.epsilon_budget,
            noise_multiplier=privacy.noise_multiplier,
            num_samples=num_samples,
            init_model_sha256=init_model_sha256,
            shared_noise=privacy.shared_noise,
        )


@dataclass(frozen=True)
class PolicyResult:
    """One boolean per rule, and a sentence for each refusal; `passed` only when every rule passed."""

    passed: bool
    checks: dict[str, bool]
    reasons: list[str]
    policy_sha256: str
    policy_source: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON value for the reply and the ledger."""
        return {
            "passed": self.passed,
            "checks": dict(self.checks),
            "reasons": list(self.reasons),
            "policy_sha256": self.policy_sha256,
            "policy_source": self.policy_source,
        }


@dataclass(frozen=True)
class SitePolicy:
    """A validated site policy. Build it with `load_policy` or, for simulation only, `simulation_default`."""

    allowed_code: tuple[str, ...]
    fedward_versions: tuple[str, ...] | None
    require_secure_aggregation: bool
    require_dp: DpLevel
    max_epsilon: float | None
    min_samples: int
    max_rounds: int
    init_models: tuple[str, ...] | None = None  # SHA-256s of the accepted `[model] init` files; None: any
    # SHA-256s of the `[model] code` files the site runs; None: none (there is no wildcard)
    training_code: tuple[str, ...] | None = None
    source: str = field(default="<in memory>", compare=False)
    accepts_any_task: bool = False  # only `accept_any_task()`: an operator's explicit opt-in
    # under DP, send the personalized and local candidates' figures and the recommendation (they are
    # outside the DP guarantee; docs/personalization.md); False: only the global model's figures leave
    share_personalization: bool = False
    allow_shared_noise: bool = False  # accept DP noise shared between sites under secure aggregation

    @classmethod
    def simulation_default(cls, model_code_sha256: str | None = None) -> SitePolicy:
        """The permissive policy of the in-process simulation: any code, any privacy, any site size; and
        the configured `[model] code` (its SHA-256, given by the simulation that read the file)."""
        code = None if model_code_sha256 is None else (model_code_sha256,)
        return cls(**_PERMISSIVE, training_code=code, source=_SIMULATION_SOURCE)

    @classmethod
    def accept_any_task(cls) -> SitePolicy:
        """The permissive rules of `simulation_default`, chosen explicitly by a deployed site's operator;
        marked, so that every result (and so every manifest) records the choice."""
        return cls(**_PERMISSIVE, source=_ACCEPT_ANY_SOURCE, accepts_any_task=True)

    @property
    def is_simulation_default(self) -> bool:
        return self.source == _SIMULATION_SOURCE

    def to_dict(self) -> dict[str, Any]:
        """The rules as a JSON value (the source path is not part of the policy's identity; the
        accept-any-task marker and `init_models` are, and appear only when set, so the hashes of files
        without them are unchanged)."""
        versions = list(self.fedward_versions) if self.fedward_versions is not None else None
        rules: dict[str, Any] = {
            "allowed_code": list(self.allowed_code),
            "fedward_versions": versions,
            "require_secure_aggregation": self.require_secure_aggregation,
            "require_dp": self.require_dp,
            "max_epsilon": self.max_epsilon,
            "min_samples": self.min_samples,
            "max_rounds": self.max_rounds,
        }
        if self.init_models is not None:
            rules["init_models"] = list(self.init_models)
        if self.training_code is not None:
            rules["training_code"] = list(self.training_code)
        if self.accepts_any_task:
            rules[ACCEPT_ANY_TASK] = True
        if self.share_personalization:
            rules["share_personalization"] = True
        if self.allow_shared_noise:
            rules["allow_shared_noise"] = True
        return rules

    def sha256(self) -> str:
        """Hex SHA-256 of the canonical JSON of the rules: stable across key order and list order."""
        return hashlib.sha256(canonical_bytes(self.to_dict())).hexdigest()

    def allows_model_code(self, sha256: str) -> bool:
        """May this site run the `[model] code` whose source hashes to `sha256`?"""
        return sha256.lower() in (self.training_code or ())

    def check(self, request: PolicyRequest) -> PolicyResult:
        """Judge a request against every rule; never raises for a request, refuses instead."""
        outcomes = {rule: _CHECKS[rule](self, request) for rule in RULES}
        checks = {rule: reason is None for rule, reason in outcomes.items()}
        if self.accepts_any_task:
            checks[ACCEPT_ANY_TASK] = True  # on record in the manifest: the operator accepted any task
        reasons = [reason for reason in outcomes.values() if reason is not None]
        return PolicyResult(all(checks.values()), checks, reasons, self.sha256(), self.source)


_PERMISSIVE: dict[str, Any] = {
    "allowed_code": (ANY_CODE,),
    "fedward_versions": None,
    "require_secure_aggregation": False,
    "require_dp": "none",
    "max_epsilon": None,
    "min_samples": 1,
    "max_rounds": 100_000,
    "init_models": None,
    "allow_shared_noise": True,
}


# --- the rules: each returns None when the request passes, else a sentence naming the rule and values


def _check_code(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if ANY_CODE in policy.allowed_code or request.task_sha256.lower() in policy.allowed_code:
        return None
    return f"allowed_code: task code {request.task_sha256!r} is not in the site's allowed_code list"


def _check_version(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if policy.fedward_versions is None or request.fedward_version in policy.fedward_versions:
        return None
    accepted = ", ".join(policy.fedward_versions)
    return f"fedward_versions: fedward {request.fedward_version!r} is not one of the accepted ({accepted})"


def _check_secagg(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if not policy.require_secure_aggregation or request.secure_aggregation is True:
        return None
    return "require_secure_aggregation: the site requires secure aggregation, the task does not use it"


def _check_dp(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if request.dp not in DP_LEVELS:
        return f"require_dp: the task asks for unknown dp = {request.dp!r}"
    if policy.require_dp == "none" or request.dp == policy.require_dp:
        return None
    return f"require_dp: the site requires dp = {policy.require_dp!r}, the task uses dp = {request.dp!r}"


def _check_epsilon(policy: SitePolicy, request: PolicyRequest) -> str | None:
    limit = policy.max_epsilon
    if limit is None or (request.dp == "none" and policy.require_dp == "none"):
        return None
    if request.dp == "none":
        return f"max_epsilon: the task uses no DP, so its epsilon is unbounded (limit {limit})"
    stated = {"target_epsilon": request.target_epsilon, "epsilon_budget": request.epsilon_budget}
    given = {name: value for name, value in stated.items() if value is not None}
    if not given:
        return (
            f"max_epsilon: with only a noise multiplier ({request.noise_multiplier}) the task's epsilon "
            f"cannot be proven to stay within {limit}; the coordinator must set epsilon_budget <= {limit}"
        )
    over = [f"{name} = {value}" for name, value in given.items() if not 0 < value <= limit]
    if over:
        return f"max_epsilon: {' and '.join(over)} is not within the site's limit of (0, {limit}]"
    return None


def _check_samples(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if request.num_samples >= policy.min_samples:
        return None
    return f"min_samples: the site has {request.num_samples} local samples, fewer than {policy.min_samples}"


def _check_rounds(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if 1 <= request.round <= policy.max_rounds:
        return None
    return f"max_rounds: round {request.round} is outside 1..{policy.max_rounds}"


def _check_init_model(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if policy.init_models is None or request.init_model_sha256 in policy.init_models:
        return None
    start = "a model built from the seed" if request.init_model_sha256 is None else request.init_model_sha256
    return f"init_models: the task starts from {start}, not one of the site's init_models"


def _check_shared_noise(policy: SitePolicy, request: PolicyRequest) -> str | None:
    if not request.shared_noise or policy.allow_shared_noise:
        return None
    return (
        "allow_shared_noise: the task shares the DP noise between sites (its epsilon assumes secure "
        "aggregation and the other sites' noise); the site's policy does not allow it"
    )


def _check_training_code(policy: SitePolicy, request: PolicyRequest) -> str | None:
    code = request.model_code_sha256
    if code is None or policy.allows_model_code(code):
        return None
    if policy.training_code is None:
        return f"training_code: the task ships model code {CODE_PREFIX}{code}; the site's policy runs none"
    return f"training_code: model code {CODE_PREFIX}{code} is not in the site's training_code list"


_CHECKS: dict[str, Callable[[SitePolicy, PolicyRequest], str | None]] = {
    "allowed_code": _check_code,
    "fedward_versions": _check_version,
    "require_secure_aggregation": _check_secagg,
    "require_dp": _check_dp,
    "max_epsilon": _check_epsilon,
    "min_samples": _check_samples,
    "max_rounds": _check_rounds,
    "init_models": _check_init_model,
    "allow_shared_noise": _check_shared_noise,
    "training_code": _check_training_code,
}


# --- reading the file


def load_policy(path: Path) -> SitePolicy:
    """Read and validate a site policy file; a missing, empty or invalid file raises `PolicyError`."""
    if not path.is_file():
        raise PolicyError(
            "site policy file not found; a site refuses to run without a policy (deny by default)",
            where=path,
            hint="write a [policy] table listing the allowed_code and the privacy the site requires",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"not valid TOML: {exc}", where=path) from None
    return parse_policy(raw, source=path)


def parse_policy(raw: Mapping[str, Any], *, source: Path | str) -> SitePolicy:
    """Validate the parsed TOML of a policy file; errors name `source` and the key."""
    table = _policy_table(raw, source)
    unknown = sorted(set(table) - set(RULES) - set(SETTINGS))
    if unknown:
        raise PolicyError(f"unknown key [policy] '{unknown[0]}'", where=source, hint=_HINT)
    missing = [key for key in RULES if key not in table and key not in OPTIONAL_RULES]
    missing = [key for key in missing if not (key == "max_epsilon" and table.get("require_dp") == "none")]
    if missing:
        raise PolicyError(f"missing key [policy] '{missing[0]}'", where=source, hint=_HINT)
    try:
        return _build(table, str(source))
    except ValueError as exc:
        raise PolicyError(str(exc), where=source, hint=_HINT) from None


def _policy_table(raw: Mapping[str, Any], source: Path | str) -> Mapping[str, Any]:
    if not raw:
        raise PolicyError("the site policy is empty; deny by default refuses every task", where=source)
    extra = sorted(set(raw) - {"policy"})
    if extra:
        raise PolicyError(f"unknown key '{extra[0]}' (only a [policy] table is allowed)", where=source)
    table = raw["policy"]
    if not isinstance(table, Mapping):
        raise PolicyError("'policy' must be a table: [policy]", where=source)
    if not table:
        raise PolicyError("[policy] is empty; deny by default refuses every task", where=source)
    return table


def _build(table: Mapping[str, Any], source: str) -> SitePolicy:
    require_dp = table["require_dp"]
    if require_dp not in DP_LEVELS:
        raise ValueError(f"[policy] 'require_dp': {require_dp!r} is not one of none, record, site")
    max_epsilon = _positive_number(table, "max_epsilon")
    if require_dp == "none" and max_epsilon is not None:
        raise ValueError("[policy] 'max_epsilon' has no effect with require_dp = 'none'; remove it")
    versions = _string_list(table, "fedward_versions") if "fedward_versions" in table else None
    return SitePolicy(
        allowed_code=_allowed_code(table),
        fedward_versions=versions,
        require_secure_aggregation=_boolean(table, "require_secure_aggregation"),
        require_dp=cast(DpLevel, require_dp),
        max_epsilon=max_epsilon,
        min_samples=_positive_int(table, "min_samples"),
        max_rounds=_positive_int(table, "max_rounds"),
        init_models=_init_models(table),
        training_code=_training_code(table),
        source=source,
        share_personalization=_boolean(table, "share_personalization")
        if "share_personalization" in table
        else False,
        allow_shared_noise=_boolean(table, "allow_shared_noise") if "allow_shared_noise" in table else False,
    )


def _string_list(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"[policy] '{key}' must be a non-empty list of non-empty strings")
    return tuple(sorted(set(value)))


def _init_models(table: Mapping[str, Any]) -> tuple[str, ...] | None:
    """SHA-256s; an entry "builtin:NAME" stands for the shipped base model's (its file checked against
    its card), so a site can pin the model by name and the policy still holds, and hashes, the digest."""
    if "init_models" not in table:
        return None
    hashes = tuple(sorted({_init_model_hash(h) for h in _string_list(table, "init_models")}))
    bad = [h for h in hashes if not _SHA256_HEX.match(h)]
    if bad:
        raise ValueError(f"[policy] 'init_models': {bad[0]!r} is not a SHA-256 hex digest")
    return hashes


def _training_code(table: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The SHA-256s of the `[model] code` files the site runs: "sha256:HEX" (or the bare digest)."""
    if "training_code" not in table:
        return None
    hashes = tuple(
        sorted({h.lower().removeprefix(CODE_PREFIX) for h in _string_list(table, "training_code")})
    )
    bad = [h for h in hashes if not _SHA256_HEX.match(h)]
    if bad:
        raise ValueError(
            f"[policy] 'training_code': {bad[0]!r} is not 'sha256:' and a SHA-256 hex digest (a site "
            "lists each model file it agrees to run; there is no wildcard)"
        )
    return hashes


def _init_model_hash(entry: str) -> str:
    if not entry.startswith(BUILTIN_PREFIX):
        return entry.lower()
    try:
        _path, card = builtin_model(entry)
    except ValueError as exc:
        raise ValueError(f"[policy] 'init_models': {exc}") from None
    return str(card["weights"]["sha256"])


def _allowed_code(table: Mapping[str, Any]) -> tuple[str, ...]:
    codes = tuple(sorted({code.lower() for code in _string_list(table, "allowed_code")}))
    if ANY_CODE in codes:
        if len(codes) > 1:
            raise ValueError("[policy] 'allowed_code': '*' accepts any code and must be the only entry")
        return codes
    bad = [code for code in codes if not _SHA256_HEX.match(code)]
    if bad:
        raise ValueError(f"[policy] 'allowed_code': {bad[0]!r} is not a SHA-256 hex digest or '*'")
    return codes


def _boolean(table: Mapping[str, Any], key: str) -> bool:
    value = table[key]
    if not isinstance(value, bool):
        raise ValueError(f"[policy] '{key}' must be true or false, not {value!r}")
    return value


def _positive_int(table: Mapping[str, Any], key: str) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"[policy] '{key}' must be a whole number >= 1, not {value!r}")
    return value


def _positive_number(table: Mapping[str, Any], key: str) -> float | None:
    if key not in table:
        return None
    value = table[key]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"[policy] '{key}' must be a finite number > 0, not {value!r}")
    return float(value)
