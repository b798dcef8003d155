"""The federation config file (TOML): parsing, validation, and the errors a person can act on.

Unknown keys are errors (a typo must not silently fall back to a default). Paths are relative to the
config file. Every error names the file and the `[table] key` it is about.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fedward.errors import ConfigError

__all__ = [
    "ATTACK_KINDS",
    "ROBUST_STRATEGIES",
    "AttackConfig",
    "CompressionConfig",
    "DataConfig",
    "DeploymentConfig",
    "DpMode",
    "FaultConfig",
    "FederationConfig",
    "FederationSection",
    "ModelConfig",
    "PersonalizationConfig",
    "PrivacyConfig",
    "PrivacyUnit",
    "ReleaseConfig",
    "SiteConfig",
    "StrategyConfig",
    "TrainPart",
    "TrustConfig",
    "ValidationConfig",
    "coordinator_address",
    "load_config",
    "parse_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class FederationSection(_Strict):
    task: Literal["tabular", "documents"]
    rounds: int = Field(10, ge=1, le=100_000)
    seed: int = Field(0, ge=0, lt=2**32)
    name: str = "fedward"
    fraction: float = Field(1.0, gt=0, le=1)
    min_sites: int = Field(1, ge=1)
    deadline_seconds: float | None = Field(None, gt=0)
    eval_every: int = Field(1, ge=1)


class DataConfig(_Strict):
    label: str = "label"
    # tabular data: the column naming each row's patient (a key, not a feature; needed by
    # [privacy] unit = "patient"); documents name patients in labels.csv's `patient` column instead
    patient_column: str | None = Field(None, min_length=1)
    image_size: int = Field(64, ge=16, le=512)
    min_dpi: int = Field(90, ge=1)
    deskew: bool = True
    correct_orientation: bool = True
    workers: int = Field(1, ge=1, le=64)
    # tabular data: an empty cell or a column a site lacks stops the run ("refuse"), or is filled with
    # the federated mean plus a `<feature>__missing` indicator column ("impute", fedward.tabular.impute)
    missing: Literal["refuse", "impute"] = "refuse"


BUILTIN_PREFIX = "builtin:"  # `[model] init = "builtin:NAME"`: a base model shipped in the package


class TrainPart(StrEnum):
    """Which of the model's tensors the sites train: all of them, or only the final classification layer
    (`head`, everything else frozen at the initial model: the usual way to use a strong base model).
    A `StrEnum`: it travels in task configs as its plain string value."""

    ALL = "all"
    HEAD = "head"


class ModelConfig(_Strict):
    # a built-in model, or (instead) `code`: the user's own Python file defining build_model(spec),
    # relative to the config (fedward.models.usercode); exactly one of the two
    name: Literal["logistic", "mlp", "doc-cnn"] | None = None
    code: Path | None = None
    hidden: list[int] = Field(default_factory=lambda: [64])
    channels: list[int] = Field(default_factory=lambda: [16, 32, 64])
    # the initial global model: a .safetensors file (relative to the config) or a shipped base model,
    # "builtin:NAME" (fedward.models.builtin)
    init: Path | None = None
    train: TrainPart = TrainPart.ALL

    @field_validator("hidden", "channels")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError("sizes must be positive integers")
        return v

    @model_validator(mode="after")
    def _name_or_code(self) -> ModelConfig:
        if (self.name is None) == (self.code is None):
            raise ValueError(
                "[model] needs exactly one of 'name' (a built-in model: logistic, mlp, doc-cnn) or 'code' "
                "(your own model file defining build_model(spec))"
            )
        return self


ROBUST_STRATEGIES = ("fedmedian", "trimmed_mean", "krum", "multikrum", "centered_clip")


class StrategyConfig(_Strict):
    name: Literal[
        "fedavg",
        "fedprox",
        "fedadam",
        "fedyogi",
        "fedadagrad",
        "fedmedian",
        "trimmed_mean",
        "krum",
        "multikrum",
        "centered_clip",
    ] = "fedavg"
    local_epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(None, gt=0)
    mu: float = Field(0.01, ge=0)
    server_lr: float = Field(0.01, gt=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.99, ge=0, lt=1)
    tau: float = Field(1e-3, gt=0)
    # the loss's class weights (fedward.settings.class_weights): "balanced" (N / (K n_c)), "none", or
    # "auto": balanced when the largest training class has at least twice the smallest's rows
    class_weights: Literal["auto", "balanced", "none"] = "auto"
    # robust rules (fedward.aggregation.robust) and norm bounding (fedward.aggregation.norm_bound)
    trim_fraction: float = Field(0.1, gt=0, lt=0.5)  # trimmed_mean: share dropped at each end
    byzantine_sites: int | None = Field(None, ge=0)  # f, the attackers a rule must tolerate
    multikrum_m: int | None = Field(None, ge=1)  # multikrum: how many lowest-scoring models to average
    clip_tau: float = Field(1.0, gt=0)  # centered_clip: the clipping radius
    clip_iterations: int = Field(3, ge=1, le=100)  # centered_clip: iterations
    norm_bound: float | None = Field(None, gt=0)  # any strategy: clip each update's L2 norm to this

    @model_validator(mode="after")
    def _robust_keys(self) -> StrategyConfig:
        if self.name in ("krum", "multikrum") and self.byzantine_sites is None:
            raise ValueError(
                f"'name' = '{self.name}' needs 'byzantine_sites' (f, the attacking sites it tolerates)"
            )
        if self.name == "multikrum" and self.multikrum_m is None:
            raise ValueError("'name' = 'multikrum' needs 'multikrum_m' (how many models to average)")
        if self.multikrum_m is not None and self.name != "multikrum":
            raise ValueError(f"'multikrum_m' has no effect with 'name' = '{self.name}'")
        return self


class PersonalizationConfig(_Strict):
    """`[personalization]`: after the last round each site carves `validation_fraction` of its training
    records (stratified, seeded) before training starts, fine-tunes the global model on the rest, trains
    a model of its own, and recommends by that split the model it should use (docs/personalization.md).
    The personalized and local models never leave the site."""

    enabled: bool = True
    validation_fraction: float = Field(0.2, gt=0, le=0.5)
    epochs: int = Field(20, ge=1, le=10_000)  # the most fine-tuning epochs; the validation split picks
    train: TrainPart = TrainPart.HEAD  # which tensors fine-tuning changes: the final layer, or all


class DpMode(StrEnum):
    """What differential privacy protects: nothing, each training record (DP-SGD at every site), or each
    site's whole contribution to a round (DP-FedAvg). A `StrEnum`: it travels in task configs and
    summaries as its plain string value."""

    NONE = "none"
    RECORD = "record"
    SITE = "site"


class PrivacyUnit(StrEnum):
    """Whom record-level DP protects: one training record (a page, a CSV row), or one patient with all
    their records (per-patient sampling and clipping; needs patient keys at every site)."""

    RECORD = "record"
    PATIENT = "patient"


class PrivacyConfig(_Strict):
    """`[privacy]`: secure aggregation and differential privacy (see docs/privacy.md)."""

    secure_aggregation: bool = False
    dp: DpMode = DpMode.NONE
    unit: PrivacyUnit = PrivacyUnit.RECORD
    target_epsilon: float | None = Field(None, gt=0)
    noise_multiplier: float | None = Field(None, gt=0)
    epsilon_budget: float | None = Field(None, gt=0)
    clip_norm: float = Field(1.0, gt=0)
    delta: float = Field(1e-5, gt=0, lt=0.1)
    # record-level DP with secure aggregation: each site adds only its share of the round's noise, so the
    # aggregate carries the noise one site would add alone (distributed DP; docs/privacy.md says what the
    # guarantee then assumes)
    shared_noise: bool = False
    # secure-aggregation settings: SecAgg+ graph degree (0 = every site is every site's neighbour), the
    # fraction of a site's shareholders needed to unmask, and the fixed-point encoding of the update
    neighbours: int = Field(0, ge=0)
    threshold: float = Field(2 / 3, gt=0.5, le=1)
    clip_range: float = Field(4.0, gt=0)
    fixed_point_bits: int = Field(24, ge=1, le=48)
    ring_bits: Literal[32, 64] = 64

    @model_validator(mode="after")
    def _dp_settings(self) -> PrivacyConfig:
        if self.shared_noise and not (self.dp == DpMode.RECORD and self.secure_aggregation):
            raise ValueError(
                "'shared_noise' = true needs dp = 'record' and secure_aggregation = true: the sites' noise "
                "shares only add up to the full noise in a sum that secure aggregation hides"
            )
        if self.shared_noise and self.unit == PrivacyUnit.PATIENT:
            raise ValueError(
                "'shared_noise' = true does not work with unit = 'patient' yet: a site's step divides its "
                "noisy sum by its patients while the mean weighs sites by their records, so the shares would "
                "not add up to the noise the accounting assumes for every site; use one or the other"
            )
        if self.unit == PrivacyUnit.PATIENT and self.dp != DpMode.RECORD:
            raise ValueError(
                f"unit = 'patient' needs dp = 'record' (DP-SGD with per-patient sampling and clipping), "
                f"not dp = '{self.dp}'"
            )
        if self.dp == DpMode.NONE:
            given = [k for k in ("target_epsilon", "noise_multiplier", "epsilon_budget") if getattr(self, k)]
            if given:
                raise ValueError(f"'{given[0]}' has no effect with dp = 'none'; set dp = 'record' or 'site'")
            return self
        if (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise ValueError(f"dp = '{self.dp}' needs exactly one of 'target_epsilon' or 'noise_multiplier'")
        if self.target_epsilon and self.epsilon_budget and self.epsilon_budget < self.target_epsilon:
            raise ValueError(
                f"'epsilon_budget' ({self.epsilon_budget}) is below 'target_epsilon' ({self.target_epsilon})"
            )
        return self


class CompressionConfig(_Strict):
    """`[compression]`: how sites send their updates (fedward.core.compress): the float32 model
    (`none`), the update quantized to int8 per tensor, or its largest-magnitude `topk_fraction` of
    entries with error feedback at the site (`topk`). Neither works with secure aggregation."""

    kind: Literal["none", "int8", "topk"] = "none"
    topk_fraction: float = Field(0.01, gt=0, le=1)


class FaultConfig(_Strict):
    """`[[faults]]`: make a site drop out at one stage of one round (for tests and demos)."""

    site: str
    round: int = Field(ge=1)
    stage: Literal["before_train", "before_upload", "after_upload"]


ATTACK_KINDS = ("sign_flip", "scale", "gaussian", "label_flip", "alie", "ipm", "backdoor")


class AttackConfig(_Strict):
    """`[[attacks]]`: make a simulated site poison its update from `from_round` on (fedward.simulation.
    attacks). Simulation only: a federation file with `[deployment]`, and every kit, refuses them.
    `scale`: the factor of `scale` and `ipm`, the noise std of `gaussian`, the z of `alie` (default:
    Baruch et al.'s z_max from the number of sites), the boost of `backdoor` (1: no model replacement)."""

    site: str
    kind: Literal["sign_flip", "scale", "gaussian", "label_flip", "alie", "ipm", "backdoor"]
    scale: float | None = Field(None, gt=0)
    from_round: int = Field(1, ge=1)
    target: int = Field(0, ge=0)  # backdoor: the class index triggered inputs are relabelled to


class SiteConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    train: Path
    test: Path
    policy: Path | None = (
        None  # the site's own policy file (docs/threat-model.md); simulation default if unset
    )


class TrustConfig(_Strict):
    """`[trust]`: where the federation's keys are. Without it a simulation makes fresh keys for the run."""

    keys: Path | None = None  # a folder: admin.pub, roster.json, coordinator.key and one SITE.key per site


class ReleaseConfig(_Strict):
    """`[release]`: the gates the final global model must pass to be published as the signed release
    (fedward.release.gates). Every gate is optional; with none set, the final model is released as before.
    `baseline` is a previous release folder whose per-site accuracy `max_regression` compares against;
    its signature is checked with `baseline_key` (a coordinator.pub; default: this federation's
    coordinator key) before its figures are trusted."""

    min_site_accuracy: float | None = Field(None, ge=0, le=1)  # the worst site's accuracy
    min_site_macro_f1: float | None = Field(None, ge=0, le=1)  # the worst site's macro-F1
    max_site_gap: float | None = Field(None, ge=0, le=1)  # best minus worst site accuracy
    max_epsilon: float | None = Field(None, gt=0)  # the largest epsilon any site (or the federation) spent
    min_sites: int | None = Field(None, ge=1)  # sites that evaluated the final model
    max_regression: float | None = Field(None, ge=0, le=1)  # largest per-site accuracy drop vs `baseline`
    max_ece: float | None = Field(None, ge=0, le=1)  # the largest expected calibration error at any site
    baseline: Path | None = None
    baseline_key: Path | None = None

    @model_validator(mode="after")
    def _baseline(self) -> ReleaseConfig:
        if (self.max_regression is None) != (self.baseline is None):
            given = "max_regression" if self.baseline is None else "baseline"
            raise ValueError(f"'{given}' needs both 'max_regression' and 'baseline' (a release folder)")
        if self.baseline_key is not None and self.baseline is None:
            raise ValueError("'baseline_key' has no effect without 'baseline'")
        return self

    @property
    def gated(self) -> bool:
        """Is any gate set?"""
        return any(getattr(self, k) is not None for k in RELEASE_GATES)


RELEASE_GATES = (
    "min_site_accuracy",
    "min_site_macro_f1",
    "max_site_gap",
    "max_epsilon",
    "min_sites",
    "max_regression",
    "max_ece",
)


class ValidationConfig(_Strict):
    """`[validation]`: how the per-site validation in summary.json is cut (docs/validation.md).

    `tiers` maps a criticality tier to the classes in it (each class in at most one tier), e.g.
    `tiers = { critical = ["pathology_report"], routine = ["referral"] }`; `target_accuracy` is the
    accuracy each site's confidence threshold is chosen for, on its validation split; a cell with fewer
    than `min_cell` records carries a warning that it is too small to say much."""

    tiers: dict[str, list[str]] = Field(default_factory=dict)
    target_accuracy: float = Field(0.95, gt=0, le=1)
    min_cell: int = Field(20, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _tiers(self) -> ValidationConfig:
        seen: dict[str, str] = {}
        for tier, classes in self.tiers.items():
            if not tier.strip():
                raise ValueError("'tiers': a tier needs a name")
            if not classes:
                raise ValueError(f"'tiers.{tier}' lists no class")
            for c in classes:
                if c in seen:
                    raise ValueError(f"'tiers': class {c!r} is in both {seen[c]!r} and {tier!r}")
                seen[c] = tier
        return self


class DeploymentConfig(_Strict):
    """`[deployment]`: where the coordinator service listens and keeps its state (docs/deployment.md).

    Only `fedward provision` and the services read it; `fedward simulate` ignores it."""

    coordinator: str  # https://HOST:PORT, the address every site connects to
    database: str | None = None  # a SQLAlchemy URL; default SQLite inside the coordinator's kit
    listen: str | None = None  # the address the coordinator binds (default: the host of `coordinator`)
    poll_seconds: float = Field(20.0, gt=0, le=300)  # how long a site's request for a task may wait
    chunk_mib: float = Field(5.0, gt=0, le=64)  # upload chunk size
    max_update_mib: float = Field(4096.0, gt=0)  # the largest update (or model) the coordinator accepts
    upload_expiry_seconds: float = Field(600.0, gt=0)  # a partial upload idle this long is removed
    max_partial_uploads: int = Field(4, ge=1, le=1000)  # partial uploads one site may hold at once
    upload_overhead_mib: float = Field(8.0, gt=0)  # an upload may be 4x the round's model plus this
    linger_seconds: float = Field(60.0, ge=0)  # after the run, how long to wait for sites to learn it ended
    # connection hygiene of the coordinator's HTTPS service (coordinator/service/hygiene.py)
    handshake_timeout_seconds: float = Field(5.0, gt=0, le=120)  # a TLS handshake must finish within this
    keep_alive_seconds: int = Field(5, ge=1, le=300)  # an idle keep-alive connection is closed after this
    max_connections: int = Field(512, ge=1, le=100_000)  # open connections in total (503 past it)
    max_connections_per_address: int = Field(64, ge=1, le=100_000)  # open connections from one address
    max_header_kib: int = Field(16, ge=1, le=1024)  # the largest request head
    log_refusals_per_minute: int = Field(10, ge=1, le=10_000)  # refusals logged a minute, of each kind
    certificate_days: int = Field(365, ge=1, le=3650)

    @field_validator("database")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).password is not None:
            raise ValueError(
                "must not contain a password: the federation file is copied into every kit; give the "
                "password to the coordinator's machine alone (PGPASSWORD or ~/.pgpass)"
            )
        return v

    @field_validator("coordinator")
    @classmethod
    def _url(cls, v: str) -> str:
        host, port = coordinator_address(v)
        return f"https://{host}:{port}" if ":" not in host else f"https://[{host}]:{port}"


_HYGIENE_KEYS = (
    "handshake_timeout_seconds",
    "keep_alive_seconds",
    "max_connections",
    "max_connections_per_address",
    "max_header_kib",
    "log_refusals_per_minute",
)


def coordinator_address(url: str) -> tuple[str, int]:
    """('host', port) of an https://HOST:PORT URL; ValueError naming what is wrong."""
    parsed = urlsplit(url)
    if parsed.scheme != "https":
        raise ValueError(f"must be an https:// URL with a host and port, got {url!r}")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.username:
        raise ValueError(f"must be just https://HOST:PORT, got {url!r}")
    try:
        port = parsed.port
    except ValueError:
        raise ValueError(f"has an invalid port: {url!r}") from None
    if not parsed.hostname or port is None:
        raise ValueError(
            f"must name a host and a port, e.g. https://coordinator.example.org:8443, got {url!r}"
        )
    return parsed.hostname, port


class FederationConfig(_Strict):
    federation: FederationSection
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    personalization: PersonalizationConfig = Field(default_factory=PersonalizationConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    trust: TrustConfig = Field(default_factory=TrustConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    sites: list[SiteConfig] = Field(min_length=1)
    faults: list[FaultConfig] = Field(default_factory=list)
    attacks: list[AttackConfig] = Field(default_factory=list)
    deployment: DeploymentConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FederationConfig:
        names = [s.name for s in self.sites]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate site names: {', '.join(dupes)}")
        if self.federation.min_sites > len(self.sites):
            raise ValueError(
                f"min_sites={self.federation.min_sites} but only {len(self.sites)} sites are listed"
            )
        docs = self.federation.task == "documents"
        if self.model.name is not None and docs != (self.model.name == "doc-cnn"):
            raise ValueError(
                f"model {self.model.name!r} does not fit task {self.federation.task!r}: use doc-cnn "
                "for documents, logistic or mlp for tabular"
            )
        if docs and self.data.patient_column is not None:
            raise ValueError(
                "[data] 'patient_column' is for tabular data; document sites name patients in "
                "labels.csv's 'patient' column"
            )
        self._check_privacy()
        self._check_compression()
        self._check_faults(names)
        self._check_attacks(names)
        self._check_robust(len(names))
        self._check_release()
        return self

    def _check_release(self) -> None:
        r = self.release
        if r.max_epsilon is not None and self.privacy.dp == DpMode.NONE:
            raise ValueError(
                "[release] 'max_epsilon' needs [privacy] dp = 'record' or 'site': without differential "
                "privacy no epsilon bounds what the model reveals"
            )
        if r.min_sites is not None and r.min_sites > len(self.sites):
            raise ValueError(
                f"[release] 'min_sites'={r.min_sites} but only {len(self.sites)} sites are listed"
            )

    def _check_attacks(self, names: list[str]) -> None:
        if self.attacks and self.deployment is not None:
            raise ValueError(
                "[[attacks]] poison updates for robustness simulations only; a federation file with "
                "[deployment] must not have them"
            )
        for i, attack in enumerate(self.attacks, start=1):
            if attack.site not in names:
                raise ValueError(f"[[attacks]] #{i} 'site': {attack.site!r} is not one of the [[sites]]")
        attackers = [a.site for a in self.attacks]
        twice = sorted({a for a in attackers if attackers.count(a) > 1})
        if twice:
            raise ValueError(f"[[attacks]] 'site': one attack per site; {', '.join(twice)} has more")

    def _check_robust(self, n: int) -> None:
        """Each robust rule's tolerance against the listed sites (checked again each round against the
        sites that replied, fedward.aggregation.robust)."""
        s = self.strategy
        f = s.byzantine_sites
        if s.name in ("krum", "multikrum") and f is not None and n < 2 * f + 3:
            raise ValueError(
                f"[strategy] 'byzantine_sites' = {f}: {s.name} needs at least 2f + 3 = {2 * f + 3} sites "
                f"(Blanchard et al. 2017), only {n} are listed"
            )
        if s.name == "multikrum" and f is not None and s.multikrum_m is not None and s.multikrum_m > n - f:
            raise ValueError(
                f"[strategy] 'multikrum_m' = {s.multikrum_m} is more than the {n - f} sites (n - f) "
                "that are not attackers"
            )
        if s.name == "trimmed_mean":
            k = int(s.trim_fraction * n)
            if f is not None and k < f:
                raise ValueError(
                    f"[strategy] 'trim_fraction' = {s.trim_fraction} trims {k} of {n} sites per side, "
                    f"fewer than 'byzantine_sites' = {f}; raise it to at least {f / n:.3g}"
                )
            if k < 1:
                raise ValueError(
                    f"[strategy] 'trim_fraction' = {s.trim_fraction} trims nothing with {n} sites "
                    f"(floor({s.trim_fraction} * {n}) = 0); raise it to at least {1 / n:.3g}"
                )
        if s.name == "centered_clip" and f is not None and 2 * f >= n:
            raise ValueError(
                f"[strategy] 'byzantine_sites' = {f}: centered_clip tolerates fewer than half of the "
                f"{n} sites"
            )

    def _check_privacy(self) -> None:
        p, strategy = self.privacy, self.strategy.name
        if p.secure_aggregation and strategy in ROBUST_STRATEGIES:
            raise ValueError(
                f"[strategy] 'name' = '{strategy}' needs each site's individual update, which secure "
                "aggregation hides; use fedavg, fedprox, fedadam, fedyogi or fedadagrad (with "
                "'norm_bound', which the sites enforce)"
            )
        if p.dp == DpMode.RECORD and strategy == "fedprox":
            raise ValueError(
                "[strategy] 'name' = 'fedprox' does not work with [privacy] dp = 'record': the proximal "
                "term is not a per-record gradient; use fedavg or a server optimizer (fedadam, ...)"
            )
        if p.dp == DpMode.SITE and strategy in ROBUST_STRATEGIES:
            raise ValueError(f"[strategy] 'name' = '{strategy}' has no sensitivity bound for dp = 'site'")
        if p.shared_noise:
            self._check_shared_noise()

    def _check_shared_noise(self) -> None:
        """Shared noise is private only if each site's update is a linear function of its noisy gradient
        sum, so that the sum of the updates is a function of the summed noise: one step per round."""
        s = self.strategy
        if s.local_epochs != 1:
            raise ValueError(
                f"[privacy] 'shared_noise' needs [strategy] 'local_epochs' = 1 (got {s.local_epochs}): each "
                "site takes one full-batch step per round, so its update is linear in its noise share"
            )
        if s.norm_bound is not None:
            raise ValueError(
                "[privacy] 'shared_noise' does not work with [strategy] 'norm_bound': clipping each site's "
                "noisy update is not linear in its noise share, so the sum would lose the accounted noise"
            )
        if s.optimizer != "sgd":
            raise ValueError(
                f"[privacy] 'shared_noise' needs [strategy] 'optimizer' = 'sgd' (got {s.optimizer!r}): "
                "Adam's step is not linear in the noisy gradient; use a server optimizer (name = 'fedadam')"
            )

    def _check_compression(self) -> None:
        kind = self.compression.kind
        if kind == "none" or not self.privacy.secure_aggregation:
            return
        if kind == "topk":
            raise ValueError(
                "[compression] 'kind' = 'topk' does not work with [privacy] secure_aggregation: each "
                "site keeps different coordinates while the masks cover every coordinate, so the masks "
                "would not cancel; use kind = 'none' with secure aggregation"
            )
        raise ValueError(
            "[compression] 'kind' = 'int8' does not work with [privacy] secure_aggregation: the masked "
            "update is a vector in the SecAgg ring (ring_bits), and masks are uniform over the whole ring, "
            "so it cannot shrink to 8 bits per entry; use kind = 'none' (ring_bits = 32 halves the bytes)"
        )

    def _check_faults(self, names: list[str]) -> None:
        for i, fault in enumerate(self.faults, start=1):
            if fault.site not in names:
                raise ValueError(f"[[faults]] #{i} 'site': {fault.site!r} is not one of the [[sites]]")
            if fault.round > self.federation.rounds:
                raise ValueError(
                    f"[[faults]] #{i} 'round': {fault.round} is after the last round "
                    f"({self.federation.rounds})"
                )

    def sha256(self) -> str:
        """Hash of the validated settings (canonical JSON), for the summary and later the ledger. Keys
        added since the hash was first defined are left out while at their defaults (`_ADDED_KEYS`), and so
        are whole tables added since at their defaults, so the hash of an older file stays what it was."""
        settings = self.model_dump(mode="json")
        for table, empty in (
            ("deployment", None),
            ("attacks", []),
            ("personalization", PersonalizationConfig().model_dump(mode="json")),
            ("release", ReleaseConfig().model_dump(mode="json")),
            ("validation", ValidationConfig().model_dump(mode="json")),
            ("compression", CompressionConfig().model_dump(mode="json")),
        ):
            if settings[table] == empty:
                del settings[table]
        for table, key, default in _ADDED_KEYS:
            if table in settings and settings[table][key] == default:
                del settings[table][key]
        if "deployment" in settings:  # the connection hygiene keys, at their defaults
            for key in _HYGIENE_KEYS:
                if settings["deployment"][key] == DeploymentConfig.model_fields[key].default:
                    del settings["deployment"][key]
        blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


# (table, key, default) of each key added to a table after config hashes were first recorded
_ADDED_KEYS: tuple[tuple[str, str, object], ...] = (
    ("model", "init", None),
    ("model", "train", TrainPart.ALL.value),
    ("model", "code", None),  # its hash is recorded apart
    ("strategy", "class_weights", "auto"),
    ("strategy", "trim_fraction", 0.1),  # the robust rules and norm bounding
    ("strategy", "byzantine_sites", None),
    ("strategy", "multikrum_m", None),
    ("strategy", "clip_tau", 1.0),
    ("strategy", "clip_iterations", 3),
    ("strategy", "norm_bound", None),
    ("data", "patient_column", None),  # the privacy unit
    ("data", "missing", "refuse"),
    ("privacy", "unit", PrivacyUnit.RECORD.value),
    ("privacy", "shared_noise", False),
    ("release", "max_ece", None),
)


def load_config(path: Path) -> FederationConfig:
    """Read and validate a config file; site paths become absolute, relative to the file."""
    if not path.is_file():
        raise ConfigError("config file not found", where=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=path) from None
    return parse_config(raw, source=path)


def parse_config(raw: dict[str, Any], *, source: Path) -> FederationConfig:
    try:
        cfg = FederationConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], raw), where=source) from None
    base = source.parent.resolve()
    sites = [
        s.model_copy(
            update={"train": base / s.train, "test": base / s.test, "policy": s.policy and base / s.policy}
        )
        for s in cfg.sites
    ]
    trust = cfg.trust.model_copy(update={"keys": cfg.trust.keys and base / cfg.trust.keys})
    init = cfg.model.init
    if init is not None and not str(init).startswith(BUILTIN_PREFIX):  # a built-in names no file here
        init = base / init
    code = cfg.model.code and base / cfg.model.code
    model = cfg.model.model_copy(update={"init": init, "code": code})
    r = cfg.release
    release = r.model_copy(
        update={
            "baseline": r.baseline and base / r.baseline,
            "baseline_key": r.baseline_key and base / r.baseline_key,
        }
    )
    return cfg.model_copy(update={"sites": sites, "trust": trust, "model": model, "release": release})


def _describe(err: Any, raw: dict[str, Any]) -> str:
    loc = [str(p) for p in err["loc"]]
    if not loc:
        return str(err["msg"]).removeprefix("Value error, ")
    where = _toml_location(loc, raw)
    if err["type"] == "extra_forbidden":
        return f"unknown key {where}"
    if err["type"] == "missing":
        return f"missing key {where}"
    return f"{where}: {str(err['msg']).removeprefix('Value error, ')}"


def _toml_location(loc: list[str], raw: dict[str, Any]) -> str:
    """('sites', '1', 'train') -> "[[sites]] #2 (x) 'train'"; ('model', 'name') -> "[model] 'name'"."""
    if loc[0] in ("sites", "faults", "attacks") and len(loc) >= 2 and loc[1].isdigit():
        i = int(loc[1])
        items = raw.get(loc[0])
        name = (
            items[i].get("name") or items[i].get("site")
            if isinstance(items, list) and i < len(items) and isinstance(items[i], dict)
            else None
        )
        label = f"[[{loc[0]}]] #{i + 1}" + (f" ({name})" if name else "")
        return f"{label} '{'.'.join(loc[2:])}'" if len(loc) > 2 else label
    if len(loc) == 1:
        return f"[{loc[0]}]" if isinstance(raw.get(loc[0]), dict) or loc[0] in raw else f"'{loc[0]}'"
    return f"[{loc[0]}] '{'.'.join(loc[1:])}'"
