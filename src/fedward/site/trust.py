"""The site's side of the trust milestone: its policy, its check of the global model, and its signed
update packages.

Before it trains on (or evaluates) a global model, a site
1. checks the task against its own policy (deny by default; `fedward.site.policy`),
2. verifies the coordinator's signed ledger checkpoint that comes with the task, and that it extends the
   checkpoints this site has seen before (`CheckpointWitness`: a coordinator showing two histories is a
   fork and the site stops), and
3. with the user's own model code in the task (`[model] code`), checks that the shipped source hashes
   to the hash the task declares and that its policy's `training_code` lists that hash, before the code
   is imported (`check_model_code`; nothing runs otherwise), and
4. checks that the ledger entry naming this round's model is included in that checkpoint and that its
   model hash is the hash of the model bytes it received, so the coordinator cannot hand this site a
   model other than the one it recorded.
With `witness_dir` (a deployed site: `KIT/witness/`), the latest checkpoint it accepted for each run is
written there as `RUN_ID.json` (one signed checkpoint, canonical JSON, written atomically) each time it
grows, so the site can hand it to anyone who checks the coordinator's ledger with
`fedward ledger verify RUN --checkpoint FILE`: a ledger cut back below what the site saw then fails.
Its reply then carries an update package: a manifest (provenance, privacy, policy results) signed with
the site's Ed25519 key over the payload's hash (`fedward.trust`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fedward import __version__
from fedward.config import DpMode
from fedward.core.durable import write_atomic
from fedward.core.messages import JSONValue, Task
from fedward.core.provenance import code_identity, task_sha256
from fedward.crypto import SigningKey
from fedward.ledger import CheckpointWitness, parse_signed_checkpoint
from fedward.models import ModelSpec, code_sha256
from fedward.privacy import Accountant, PrivacyEvent, rdp_epsilon
from fedward.settings import DpSettings, LedgerEvidence, TrainSettings
from fedward.site.policy import PolicyRequest, PolicyResult, SitePolicy
from fedward.trust import PolicyRecord, PrivacyRecord, TrainingCode, UpdateManifest, sign_package

__all__ = ["SiteTrust", "TrustRefusal", "export_witnessed"]

_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class TrustRefusal(Exception):
    """The site will not run this task: its policy refuses it, or the global model does not check out."""


def _evidence(config: Mapping[str, JSONValue]) -> LedgerEvidence:
    try:
        return LedgerEvidence.from_config(config)
    except ValueError as exc:
        raise TrustRefusal(f"task lacks valid ledger evidence for its model: {exc}") from None


def _consistency(evidence: LedgerEvidence, witness: CheckpointWitness) -> list[bytes]:
    """The proof from the checkpoint this site saw last (the coordinator sends one per size it may have)."""
    latest = witness.latest
    if latest is None:
        return []
    size = latest.checkpoint.tree_size
    try:
        proof = evidence.consistency_proof(size)
    except ValueError as exc:
        raise TrustRefusal(str(exc)) from None
    if proof is None:
        raise TrustRefusal(f"no consistency proof from the checkpoint this site saw last (size {size})")
    return proof


def export_witnessed(witness_dir: Path, witness: CheckpointWitness) -> Path | None:
    """Write the latest checkpoint `witness` accepted to `witness_dir/RUN_ID.json`, atomically (a reader
    sees the old checkpoint or the new one, never a torn file); None when there is none yet. A run id
    that is not a safe file name is refused (ValueError): it comes from the coordinator."""
    latest = witness.latest
    if latest is None:
        return None
    if _SAFE_RUN_ID.fullmatch(witness.ledger_id) is None:
        raise ValueError(f"run id {witness.ledger_id!r} is not a safe file name")
    witness_dir.mkdir(parents=True, exist_ok=True)
    path = witness_dir / f"{witness.ledger_id}.json"
    write_atomic(path, latest.line + b"\n")
    return path


def _model_code_sha256(config: Mapping[str, JSONValue]) -> str | None:
    code = ModelSpec.from_config(config).code
    return None if code is None else code.sha256


@dataclass
class SiteTrust:
    """One site's keys, policy and memory of the coordinator's ledger, for the length of a run."""

    name: str
    key: SigningKey
    coordinator_key: bytes
    policy: SitePolicy
    federation: str
    dataset_fingerprint: str
    preprocessing_sha256: str | None
    clock: Callable[[], str]
    peer_keys: Mapping[str, bytes] = field(default_factory=dict)  # every admitted site's public key
    witnesses: dict[str, CheckpointWitness] = field(default_factory=dict)
    accountant: Accountant = field(default_factory=Accountant)
    witness_dir: Path | None = None  # a deployed site exports its latest witnessed checkpoints here

    def check_policy(self, task: Task, num_samples: int) -> PolicyResult:
        try:
            dp, train = DpSettings.from_config(task.config), TrainSettings.from_config(task.config)
            code = ModelSpec.from_config(task.config).code
        except ValueError as exc:
            raise TrustRefusal(
                f"site {self.name} refuses a task with malformed privacy or training settings: {exc}"
            ) from None
        request = PolicyRequest(
            task_sha256=task_sha256(task.config),
            fedward_version=__version__,
            round=task.round,
            secure_aggregation=dp.secure_aggregation,
            dp=dp.mode,
            target_epsilon=dp.target_epsilon,
            epsilon_budget=dp.epsilon_budget,
            noise_multiplier=dp.noise_multiplier,
            num_samples=num_samples,
            init_model_sha256=train.init_model_sha256,
            shared_noise=dp.shared_noise,
            model_code_sha256=None if code is None else code.sha256,
        )
        result = self.policy.check(request)
        if not result.passed:
            raise TrustRefusal(f"site {self.name} policy refuses the task: " + "; ".join(result.reasons))
        return result

    def check_model_code(self, spec: ModelSpec) -> None:
        """Before the task's `[model] code` is imported: its source must hash to the declared hash (else
        it was changed on the way), and the policy's `training_code` must list that hash."""
        code = spec.code
        if code is None:
            return
        actual = code_sha256(code.source)
        if actual != code.sha256:
            raise TrustRefusal(
                f"site {self.name} refuses the task: its model code {code.filename!r} does not match the "
                f"declared hash sha256:{code.sha256} (the source received hashes to sha256:{actual}); "
                "nothing was run"
            )
        if not self.policy.allows_model_code(code.sha256):
            raise TrustRefusal(
                f"site {self.name} policy refuses the task: training_code: model code {code.filename!r} "
                f"(sha256:{code.sha256}) is not in the site's training_code list; nothing was run"
            )

    def check_model(self, task: Task) -> None:
        """Verify the signed checkpoint, its consistency with what this site saw, and the model's entry."""
        evidence = _evidence(task.config)
        signed = parse_signed_checkpoint(evidence.checkpoint.encode())
        witness = self.witnesses.setdefault(task.run_id, CheckpointWitness(task.run_id))
        before = witness.latest
        witness.observe(signed, self.coordinator_key, _consistency(evidence, witness))
        if self.witness_dir is not None and witness.latest != before:
            try:
                export_witnessed(self.witness_dir, witness)
            except ValueError as exc:
                raise TrustRefusal(str(exc)) from None
        try:
            inclusion = evidence.inclusion_proof()
        except ValueError as exc:
            raise TrustRefusal(str(exc)) from None
        index = evidence.entry_index
        entry = witness.check_inclusion(evidence.entry.encode(), index, inclusion)
        if entry.kind not in ("round_opened", "aggregate_computed"):
            raise TrustRefusal(f"ledger entry {index} ({entry.kind}) does not name a global model")
        if entry.fields["model_hash"] != hashlib.sha256(task.parameters).hexdigest():
            raise TrustRefusal(
                f"the model sent for round {task.round} is not the one recorded in the ledger (entry {index})"
            )

    def package_fields(
        self,
        task: Task,
        payload: bytes,
        *,
        num_samples: int,
        metrics: Mapping[str, float],
        info: Mapping[str, JSONValue],
        policy: PolicyResult,
        secure: bool,
    ) -> dict[str, str]:
        """Sign the update: a manifest over `payload` (the model, or the masked update)."""
        privacy = self._privacy(task.config, info, secure)
        identity = code_identity(task.config)
        manifest = UpdateManifest(
            federation=self.federation,
            run_id=task.run_id,
            round=task.round,
            site=self.name,
            sequence=task.round,
            base_model_sha256=hashlib.sha256(task.parameters).hexdigest(),
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            payload_kind="secagg-masked" if secure else "safetensors",
            num_samples=num_samples,
            training_code=TrainingCode(identity["fedward_version"], identity["task_sha256"]),
            preprocessing_sha256=self.preprocessing_sha256,
            dataset_fingerprint=self.dataset_fingerprint,
            metrics=dict(metrics),
            privacy=privacy,
            policy=PolicyRecord(policy.policy_sha256, dict(policy.checks), policy.passed),
            timestamp=self.clock(),
            init_model_sha256=TrainSettings.from_config(task.config).init_model_sha256,
            model_code_sha256=_model_code_sha256(task.config),
            norm_bound=TrainSettings.from_config(task.config).norm_bound,
        )
        return sign_package(manifest, payload, self.key).to_fields()

    def _privacy(
        self, config: Mapping[str, JSONValue], info: Mapping[str, JSONValue], secure: bool
    ) -> PrivacyRecord:
        dp = DpSettings.from_config(config)
        if dp.mode != DpMode.RECORD:
            return PrivacyRecord(dp=dp.mode.value, secure_aggregation=secure)
        event = PrivacyEvent.from_reply_info(info)
        self.accountant.record(event)
        epsilon = rdp_epsilon(self.accountant.events, dp.delta)
        return PrivacyRecord(
            dp=dp.mode.value,
            noise_multiplier=event.noise_multiplier,
            sample_rate=event.sample_rate,
            steps=event.steps,
            epsilon=epsilon,
            secure_aggregation=secure,
        )
