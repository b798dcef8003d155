"""The site's side of the trust milestone: its policy, its check of the global model, and its signed
update packages.

Before it trains on (or evaluates) a global model, a site
1. checks the task against its own policy (deny by default; `fedward.site.policy`),
2. verifies the coordinator's signed ledger checkpoint that comes with the task, and that it extends the
   checkpoints this site has seen before (`CheckpointWitness`: a coordinator showing two histories is a
   fork and the site stops), and
3. checks that the ledger entry naming this round's model is included in that checkpoint and that its
   model hash is the hash of the model bytes it received, so the coordinator cannot hand this site a
   model other than the one it recorded.
Its reply then carries an update package: a manifest (provenance, privacy, policy results) signed with
the site's Ed25519 key over the payload's hash (`fedward.trust`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fedward import __version__
from fedward.core.canonical import parse_canonical
from fedward.core.messages import JSONValue, Task
from fedward.core.provenance import code_identity, task_sha256
from fedward.crypto import SigningKey
from fedward.ledger import CheckpointWitness, parse_signed_checkpoint
from fedward.privacy import Accountant, PrivacyEvent, rdp_epsilon
from fedward.site.policy import PolicyRequest, PolicyResult, SitePolicy
from fedward.trust import PolicyRecord, PrivacyRecord, TrainingCode, UpdateManifest, sign_package

__all__ = ["SiteTrust", "TrustRefusal"]


class TrustRefusal(Exception):
    """The site will not run this task: its policy refuses it, or the global model does not check out."""


def _number(config: Mapping[str, JSONValue], key: str) -> float | None:
    value = config.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _hex_list(config: Mapping[str, JSONValue], key: str) -> list[bytes]:
    value = config.get(key)
    if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
        raise TrustRefusal(f"task config {key!r} must be a list of hex hashes")
    return [bytes.fromhex(str(h)) for h in value]


def _consistency(config: Mapping[str, JSONValue], witness: CheckpointWitness) -> list[bytes]:
    """The proof from the checkpoint this site saw last (the coordinator sends one per size it may have)."""
    latest = witness.latest
    if latest is None:
        return []
    proofs = parse_canonical(str(config["trust_consistency"]).encode(), max_bytes=1 << 20)
    proof = proofs.get(str(latest.checkpoint.tree_size)) if isinstance(proofs, dict) else None
    if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
        size = latest.checkpoint.tree_size
        raise TrustRefusal(f"no consistency proof from the checkpoint this site saw last (size {size})")
    return [bytes.fromhex(h) for h in proof]


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

    def check_policy(self, task: Task, num_samples: int) -> PolicyResult:
        c = task.config
        request = PolicyRequest(
            task_sha256=task_sha256(c),
            fedward_version=__version__,
            round=task.round,
            secure_aggregation=bool(c.get("secure_aggregation", False)),
            dp=str(c.get("dp", "none")),
            target_epsilon=_number(c, "dp_target_epsilon"),
            epsilon_budget=_number(c, "dp_epsilon_budget"),
            noise_multiplier=_number(c, "dp_noise_multiplier"),
            num_samples=num_samples,
        )
        result = self.policy.check(request)
        if not result.passed:
            raise TrustRefusal(f"site {self.name} policy refuses the task: " + "; ".join(result.reasons))
        return result

    def check_model(self, task: Task) -> None:
        """Verify the signed checkpoint, its consistency with what this site saw, and the model's entry."""
        c = task.config
        try:
            signed = parse_signed_checkpoint(str(c["trust_checkpoint"]).encode())
            witness = self.witnesses.setdefault(task.run_id, CheckpointWitness(task.run_id))
            witness.observe(signed, self.coordinator_key, _consistency(c, witness))
            index = c["trust_entry_index"]
            if not isinstance(index, int):
                raise TrustRefusal("task config 'trust_entry_index' must be an integer")
            entry = witness.check_inclusion(
                str(c["trust_entry"]).encode(), index, _hex_list(c, "trust_inclusion")
            )
        except KeyError as exc:
            raise TrustRefusal(f"task lacks the ledger evidence {exc.args[0]!r} for its model") from None
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
        )
        return sign_package(manifest, payload, self.key).to_fields()

    def _privacy(
        self, config: Mapping[str, JSONValue], info: Mapping[str, JSONValue], secure: bool
    ) -> PrivacyRecord:
        dp = str(config.get("dp", "none"))
        if dp != "record":
            return PrivacyRecord(dp=dp, secure_aggregation=secure)
        steps = info.get("dp_steps")
        event = PrivacyEvent(
            float(_number(info, "dp_noise_multiplier") or 0.0),
            float(_number(info, "dp_sample_rate") or 0.0),
            steps if isinstance(steps, int) else 0,
        )
        self.accountant.record(event)
        epsilon = rdp_epsilon(self.accountant.events, float(_number(config, "dp_delta") or 1e-5))
        return PrivacyRecord(
            dp=dp,
            noise_multiplier=event.noise_multiplier,
            sample_rate=event.sample_rate,
            steps=event.steps,
            epsilon=epsilon,
            secure_aggregation=secure,
        )
