"""The coordinator's audit trail of a run: the ledger entries, the signed checkpoints, the evidence each
task carries for its global model, the verification of every update package, and the final release.

Round by round (see docs/threat-model.md):
- `open_round`: a `round_opened` entry names the selected sites (and any left out because the roster no
  longer admits them) and the hash of the model they get, and a
  signed checkpoint covers it; each task carries that checkpoint, a consistency proof from the last
  checkpoint the site was shown, and the entry with its inclusion proof (`evidence`).
- `check_update`: every reply's package is verified (`PackageVerifier`) before anything in it is used,
  with the sample count the reply claims (it must be the signed one, and not above the site's set-up
  count: the update's aggregation weight is signed); the outcome is an `update_accepted` or
  `update_rejected` entry with the manifest hash and the reason; with `[strategy] norm_bound` the
  manifest must also state that bound (a site's signed claim that it clipped: the only evidence of the
  clip under secure aggregation).
- `close_round`: `privacy_spent` and `aggregate_computed` (the new model's hash), then a checkpoint;
  evaluation tasks carry the evidence for that entry.
- `update_roster` (between rounds, after a revocation): a `site_revoked` entry per newly revoked site;
- `run_started` names the init file the first model came from (`init_model_hash`), when there is one;
- `finish`: the final model is published as a signed release (`DIR/releases/final/`, naming that init
  file too, with what inference needs: class names, preprocessing, the ONNX export), then
  `release_signed` (with the `[release]` gates it passed, when any are set) and `run_finished` and a last
  checkpoint; when the final model failed a gate no release is written, and `release_refused` records
  the gate results instead (fedward.release.gates);
- `sign_run_manifest`: once the run directory is written, the signed `run-manifest.json` over its files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedward.core.canonical import canonical_bytes
from fedward.core.messages import JSONValue, Reply
from fedward.crypto import SigningKey, key_id
from fedward.ledger import LedgerWriter
from fedward.release import write_manifest, write_release
from fedward.release.gates import GateResult, gates_passed
from fedward.settings import LedgerEvidence
from fedward.trust import PackageRejected, PackageVerifier, Roster, SiteStatus

__all__ = ["FINAL_RELEASE", "Audit"]

FINAL_RELEASE = "final"


@dataclass
class Audit:
    ledger: LedgerWriter
    key: SigningKey
    verifier: PackageVerifier
    releases_dir: Path
    clock: Callable[[], str]
    # site -> sizes of the checkpoints it may have seen last: the one its last reply confirmed, and any
    # shown since (a site may have checked a task whose reply was lost)
    shown: dict[str, set[int]] = field(default_factory=dict)
    model_entry: int = -1  # the ledger entry that names the current global model
    accepted: list[str] = field(default_factory=list)  # manifest hashes of accepted packages
    round_model_sha256: str = ""  # the hash of the open round's model, computed once per round
    init_model_sha256: str | None = None  # the `[model] init` file the run started from, if any
    model_code_sha256: str | None = None  # the `[model] code` file the sites ran, if any
    norm_bound: float | None = None  # `[strategy] norm_bound`: every manifest must state it was applied

    @property
    def roster(self) -> Roster:
        return self.verifier.roster

    def admitted(self, site: str, rnd: int) -> bool:
        """Is `site` admitted for round `rnd` (not unknown, revoked or expired)? Only admitted sites'
        evaluations count toward the round's metrics and the release."""
        return self.roster.status(site, rnd, self.clock()) == SiteStatus.OK

    def run_started(
        self,
        run_id: str,
        federation: str,
        config_hash: str,
        code_hash: str,
        init_model_hash: str | None = None,
        model_code_hash: str | None = None,
    ) -> None:
        """`run_started` (with the init file's hash when the run starts from one, and the model code's
        when the run trains the user's own model) and the roster."""
        self.init_model_sha256 = init_model_hash
        self.model_code_sha256 = model_code_hash
        init = {} if init_model_hash is None else {"init_model_hash": init_model_hash}
        if model_code_hash is not None:
            init["model_code_hash"] = model_code_hash
        self.ledger.append(
            "run_started",
            run_id=run_id,
            federation=federation,
            config_hash=config_hash,
            code_hash=code_hash,
            **init,
        )
        for site, entry in sorted(self.roster.sites.items()):
            self.ledger.append("site_admitted", site=site, key_id=key_id(entry.public_key))
            if entry.revoked_from_round is not None:
                self.ledger.append("site_revoked", site=site, reason=f"from round {entry.revoked_from_round}")
        self.ledger.checkpoint()

    def open_round(
        self, rnd: int, selected: Sequence[str], model_bytes: bytes, not_admitted: Sequence[str] = ()
    ) -> None:
        """`round_opened`, naming the selected sites and, when there are any, the set-up sites left out
        because the roster no longer admits them (`not_admitted`: revoked or expired)."""
        self.round_model_sha256 = hashlib.sha256(model_bytes).hexdigest()
        left_out: dict[str, Any] = {"not_admitted": list(not_admitted)} if not_admitted else {}
        self.model_entry = self.ledger.append(
            "round_opened", round=rnd, sites=list(selected), model_hash=self.round_model_sha256, **left_out
        )
        self.ledger.checkpoint()

    def update_roster(self, roster: Roster) -> list[str]:
        """Take a newer roster mid-run (a deployed coordinator, after `fedward revoke`), between rounds.

        The verifier refuses an older or foreign roster (`RosterError`). Every site whose revocation is
        new or earlier gets a `site_revoked` entry; the rounds from then on no longer select it. Returns
        those sites."""
        old = self.roster
        self.verifier.update_roster(roster)
        changed = []
        for site, entry in sorted(roster.sites.items()):
            before = old.sites.get(site)
            was = None if before is None else before.revoked_from_round
            if entry.revoked_from_round is not None and (was is None or entry.revoked_from_round < was):
                reason = f"from round {entry.revoked_from_round} (roster version {roster.version})"
                self.ledger.append("site_revoked", site=site, reason=reason)
                changed.append(site)
        if changed:
            self.ledger.checkpoint()
        return changed

    def evidence(self, site: str) -> dict[str, JSONValue]:
        """What a task carries so `site` can check its model against the ledger (see site/trust.py)."""
        signed = self.ledger.latest_checkpoint
        assert signed is not None and self.model_entry >= 0, "open_round or close_round comes first"
        size = signed.checkpoint.tree_size
        candidates = self.shown.setdefault(site, set())
        proofs = {str(old): [h.hex() for h in self.ledger.consistency_proof(old, size)] for old in candidates}
        candidates.add(size)
        inclusion = tuple(h.hex() for h in self.ledger.inclusion_proof_at(self.model_entry, size))
        return LedgerEvidence(
            checkpoint=signed.line.decode(),
            consistency=canonical_bytes(proofs).decode(),
            entry=self.ledger.line(self.model_entry).decode(),
            entry_index=self.model_entry,
            inclusion=inclusion,
        ).to_config()

    def confirm(self, site: str) -> None:
        """`site` answered its latest task: the checkpoint shown with it is the last one it has seen."""
        if self.shown.get(site):
            self.shown[site] = {max(self.shown[site])}

    def record_failure(self, reply: Reply, rnd: int) -> None:
        """A selected site sent no usable update (it failed, timed out, or its policy refused the task)."""
        why = f"{reply.status.value}: {reply.error or 'no detail'}"
        self.ledger.append(
            "update_rejected", round=rnd, site=reply.site, reason=why[:300], manifest_hash=None
        )

    def check_update(
        self, reply: Reply, payload: bytes, rnd: int, base_model_sha256: str, max_samples: int
    ) -> str | None:
        """Verify a site's package against the round's model (by its hash, computed once per round), the
        sample count the reply claims (the aggregation weight: it must be the signed one) and the count
        the site described at set-up (`max_samples`: the signed one may not exceed it); record the
        verdict. Returns the rejection (reason: detail) or None."""
        self.confirm(reply.site)
        try:
            manifest = self.verifier.verify_fields(
                reply.info,
                payload,
                site=reply.site,
                round=rnd,
                base_model_sha256=base_model_sha256,
                now=self.clock(),
                num_samples=reply.num_samples,
                max_num_samples=max_samples,
            )
        except PackageRejected as exc:
            self.ledger.append(
                "update_rejected", round=rnd, site=reply.site, reason=str(exc.reason), manifest_hash=None
            )
            return f"update package rejected ({exc.reason}): {exc.detail}"
        if manifest.norm_bound != self.norm_bound:
            detail = f"the manifest states norm_bound {manifest.norm_bound}, the run asks {self.norm_bound}"
            self.ledger.append(
                "update_rejected", round=rnd, site=reply.site, reason="norm_bound", manifest_hash=None
            )
            return f"update package rejected (norm_bound): {detail}"
        digest = manifest.sha256()
        self.ledger.append("update_accepted", round=rnd, site=reply.site, manifest_hash=digest)
        self.accepted.append(digest)
        return None

    def close_round(
        self, rnd: int, epsilons: Mapping[str, float], model_bytes: bytes | None, contributors: Sequence[str]
    ) -> None:
        if epsilons:
            self.ledger.append("privacy_spent", round=rnd, epsilons=dict(epsilons))
        if model_bytes is not None:
            self.model_entry = self.ledger.append(
                "aggregate_computed",
                round=rnd,
                model_hash=hashlib.sha256(model_bytes).hexdigest(),
                contributors=list(contributors),
            )
        self.ledger.checkpoint()

    def finish(
        self,
        *,
        run_id: str,
        last_round: int,
        rounds_completed: int,
        model_bytes: bytes,
        site_metrics: Mapping[str, Mapping[str, float]],
        privacy: Mapping[str, Any],
        reason: str,
        gates: Sequence[GateResult] | None = None,
        inference: Callable[[], tuple[bytes, bytes]] | None = None,
    ) -> Path | None:
        """Publish the final release, or, when it failed one of its `gates`, refuse it (no release folder,
        a `release_refused` entry with the gate results); then `run_finished`. Returns the release folder
        or None when refused. `inference` makes the release's inference.json and model.onnx."""
        model_hash = hashlib.sha256(model_bytes).hexdigest()
        results: dict[str, Any] = {} if not gates else {"gates": [g.to_json() for g in gates]}
        if gates and not gates_passed(gates):
            self.ledger.append(
                "release_refused", version=FINAL_RELEASE, round=last_round, model_hash=model_hash, **results
            )
            self._finished(rounds_completed, model_hash, reason)
            return None
        checkpoint = self.ledger.latest_checkpoint
        path = write_release(
            self.releases_dir,
            FINAL_RELEASE,
            model_bytes,
            run_id=run_id,
            round=last_round,
            parent=None,
            accepted_packages=list(self.accepted),
            site_metrics=site_metrics,
            privacy=privacy,
            ledger_checkpoint=None
            if checkpoint is None
            else {"tree_size": checkpoint.checkpoint.tree_size, "root_hash": checkpoint.checkpoint.root_hash},
            key=self.key,
            init_model_sha256=self.init_model_sha256,
            inference=None if inference is None else inference(),
            model_code_sha256=self.model_code_sha256,
        )
        self.ledger.append(
            "release_signed", version=FINAL_RELEASE, round=last_round, model_hash=model_hash, **results
        )
        self._finished(rounds_completed, model_hash, reason)
        return path

    def _finished(self, rounds_completed: int, model_hash: str, reason: str) -> None:
        self.ledger.append(
            "run_finished", rounds_completed=rounds_completed, final_model_hash=model_hash, reason=reason
        )
        self.ledger.checkpoint()

    def sign_run_manifest(self, root: Path) -> Path:
        """Sign the manifest of the run directory being written at `root` (every file's SHA-256 and size)
        with the coordinator's key; the run-directory writer calls this last."""
        return write_manifest(root, self.key)
