"""The round observer seam: what the round loop tells whoever keeps the run's record, and the two
observers there are: the audit trail (`AuditObserver`, over coordinator/audit.py) and nobody
(`NoObserver`, a run without a ledger).

With this seam no step of the round asks "is there an audit?": it calls its observer, and the no-op
observer makes each call cost nothing and change nothing the sites see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from fedward.coordinator.audit import Audit
from fedward.coordinator.inference import inference_files
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.result import FederationResult
from fedward.core.arrays import arrays_to_bytes
from fedward.core.messages import JSONValue, Reply

__all__ = ["AuditObserver", "NoObserver", "RoundObserver"]


class RoundObserver(Protocol):
    """Watches one run's rounds and may add evidence to its tasks; never decides what a round computes.

    Contract (every implementation):
    - Calls arrive in the round loop's order: `run_started` once; per round `admitted` for every set-up
      site, `open_round`, `evidence` for each fit task in task order, then `record_failure` and
      `check_update` as replies are taken, `close_round`; per evaluation `admitted` for every site,
      `evidence` for each admitted one, `confirm` for each that answered; `finish` once, only after at
      least one round aggregated.
      A deployed coordinator replays the loop from its journal, so an observer must be deterministic
      given this sequence (and its own journaled clock): the same calls give the same record.
    - `evidence(site)` returns the extra fit/evaluate task settings for `site` (empty: none). The
      observer may not change any other setting of a task.
    - `check_update` is called once per reply that arrived as `ok`, before anything in it is used, with
      the exact bytes that will be used, the reply carrying the sample count it would be weighted by,
      and the count the site described at set-up (`max_samples`); it returns why the update is
      refused, or None to accept it. A refused update is never folded in.
    - `record_failure` is called once per selected site whose fit reply was not `ok` (failed, timed out,
      refused by its policy), and for nothing else.
    - `close_round` gets the privacy spent so far (empty without DP), a callable giving the new global
      model's bytes when the round aggregated (None when it kept the old model) and the contributors.
    - `admitted(site, rnd)` says whether `site` may take part in round `rnd`: the round loop asks it for
      every set-up site before selecting (a site it does not admit gets no task that round, and is
      passed to `open_round` as `not_admitted`), and again before evaluating (only admitted sites'
      evaluations count).
    - Errors an observer raises are the coordinator's own (a ledger that cannot be written): they stop
      the run and are never blamed on a site.
    """

    def run_started(self, plan: FederationPlan, code_sha256: str) -> None: ...

    def open_round(
        self, rnd: int, selected: Sequence[str], model_bytes: bytes, not_admitted: Sequence[str] = ()
    ) -> None: ...

    def evidence(self, site: str) -> dict[str, JSONValue]: ...

    def check_update(self, reply: Reply, payload: bytes, rnd: int, max_samples: int) -> str | None: ...

    def record_failure(self, reply: Reply, rnd: int) -> None: ...

    def close_round(
        self,
        rnd: int,
        epsilons: Mapping[str, float],
        new_model: Callable[[], bytes] | None,
        contributors: Sequence[str],
    ) -> None: ...

    def admitted(self, site: str, rnd: int) -> bool: ...

    def confirm(self, site: str) -> None: ...

    def finish(self, result: FederationResult, reason: str) -> None: ...


class NoObserver:
    """A run with no audit trail: tasks carry no evidence, every update and every site is accepted (the
    combiner's own payload checks still apply, the sample count's set-up bound among them)."""

    def run_started(self, plan: FederationPlan, code_sha256: str) -> None:
        pass

    def open_round(
        self, rnd: int, selected: Sequence[str], model_bytes: bytes, not_admitted: Sequence[str] = ()
    ) -> None:
        pass

    def evidence(self, site: str) -> dict[str, JSONValue]:
        return {}

    def check_update(self, reply: Reply, payload: bytes, rnd: int, max_samples: int) -> str | None:
        return None

    def record_failure(self, reply: Reply, rnd: int) -> None:
        pass

    def close_round(
        self,
        rnd: int,
        epsilons: Mapping[str, float],
        new_model: Callable[[], bytes] | None,
        contributors: Sequence[str],
    ) -> None:
        pass

    def admitted(self, site: str, rnd: int) -> bool:
        return True

    def confirm(self, site: str) -> None:
        pass

    def finish(self, result: FederationResult, reason: str) -> None:
        pass


class AuditObserver:
    """The audit trail (coordinator/audit.py): ledger entries, signed checkpoints, the evidence each task
    carries, package verification and the signed final release."""

    def __init__(self, audit: Audit) -> None:
        self.audit = audit
        self.plan: FederationPlan | None = None

    def run_started(self, plan: FederationPlan, code_sha256: str) -> None:
        self.plan = plan
        init = None if plan.init_model is None else plan.init_model.sha256
        code = None if plan.model_code is None else plan.model_code.sha256
        self.audit.norm_bound = plan.train.norm_bound
        self.audit.run_started(plan.run_id, plan.federation, plan.config_sha256, code_sha256, init, code)

    def open_round(
        self, rnd: int, selected: Sequence[str], model_bytes: bytes, not_admitted: Sequence[str] = ()
    ) -> None:
        self.audit.open_round(rnd, selected, model_bytes, not_admitted)

    def evidence(self, site: str) -> dict[str, JSONValue]:
        return self.audit.evidence(site)

    def check_update(self, reply: Reply, payload: bytes, rnd: int, max_samples: int) -> str | None:
        return self.audit.check_update(reply, payload, rnd, self.audit.round_model_sha256, max_samples)

    def record_failure(self, reply: Reply, rnd: int) -> None:
        self.audit.record_failure(reply, rnd)

    def close_round(
        self,
        rnd: int,
        epsilons: Mapping[str, float],
        new_model: Callable[[], bytes] | None,
        contributors: Sequence[str],
    ) -> None:
        self.audit.close_round(rnd, epsilons, None if new_model is None else new_model(), contributors)

    def admitted(self, site: str, rnd: int) -> bool:
        return self.audit.admitted(site, rnd)

    def confirm(self, site: str) -> None:
        self.audit.confirm(site)

    def finish(self, result: FederationResult, reason: str) -> None:
        self.audit.finish(
            run_id=result.run_id,
            last_round=result.last_aggregated_round,
            rounds_completed=result.rounds_completed,
            model_bytes=arrays_to_bytes(result.params),
            site_metrics=result.final.evaluation,
            privacy=result.privacy.summary(),
            reason=reason,
            gates=result.gates,
            inference=lambda: inference_files(
                result.setup, None if self.plan is None else self.plan.preprocessing, result.params
            ),
        )
