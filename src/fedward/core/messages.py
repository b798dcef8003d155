"""The typed messages between the coordinator and the sites: Task (coordinator -> site) and Reply.

These are the only things the two roles exchange, whatever the transport. Parameters travel as
safetensors bytes; `config` and `metrics` hold JSON scalars only, so a message can be encoded without
pickle by any transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["JSONScalar", "JSONValue", "Reply", "ReplyStatus", "Task", "TaskKind"]

JSONScalar = str | int | float | bool | None
JSONValue = JSONScalar | list[JSONScalar]


class TaskKind(StrEnum):
    """What a site is asked to do."""

    DESCRIBE = "describe"  # report aggregate statistics of the local data (counts, sums, label set)
    FIT = "fit"  # train from the given parameters, return new parameters
    EVALUATE = "evaluate"  # evaluate the given parameters on the local test data
    SECAGG = "secagg"  # the next step of this round's secure-aggregation session (keys, shares, unmask)
    PERSONALIZE = "personalize"  # fine-tune and train locally, pick by validation; report metrics only


class ReplyStatus(StrEnum):
    """How a task ended for the coordinator."""

    OK = "ok"
    FAILED = "failed"  # the site raised, refused, or sent something unusable
    TIMEOUT = "timeout"  # no reply before the round deadline


@dataclass(frozen=True, slots=True)
class Task:
    """What the coordinator asks of one site: do `kind` for round `round` of run `run_id`.

    Contract:
    - A task is addressed to exactly one site (`site`), which a transport delivers it to unchanged.
    - `parameters` is the global model as safetensors bytes (empty when the kind needs none, as for
      DESCRIBE); `context` holds auxiliary arrays as safetensors (the federated feature standardization).
    - `config` holds JSON values only (scalars and lists of scalars): the task's settings, written by
      the coordinator and read by the site through the typed settings' `to_config` / `from_config`.
    - A task is identified by what it is, not when it was sent: run, round, site, kind and the
      secure-aggregation stage (`fedward.transport.wire.task_id`). The coordinator sends a given task
      once per run; a replayed run sends the same task again and gets the same answer.
    - Nothing in a task is trusted by the site because of how it arrived: the site checks it against its
      policy, and the global model against the hash and signature it was told to expect.
    """

    run_id: str
    round: int
    site: str
    kind: TaskKind
    parameters: bytes = b""
    config: Mapping[str, JSONValue] = field(default_factory=dict)
    context: bytes = b""  # safetensors of auxiliary arrays, e.g. the federated feature standardization


@dataclass(frozen=True, slots=True)
class Reply:
    """A site's answer to one task.

    Contract:
    - `run_id`, `round`, `site` and `kind` are those of the task it answers; a transport guarantees it
      (a reply that claims another task is turned into a FAILED one).
    - `status` OK: `parameters` (safetensors bytes; for FIT, the signed update package), `num_samples`,
      `metrics` and `info` carry the answer. FAILED: the site raised, refused or sent something
      unusable, and `error` says why. TIMEOUT: no answer before the deadline; only a transport sets it.
    - A site's failure is a reply, never an exception (`Reply.failure`), so it never stops a round.
    - Nothing in a reply is trusted because of how it arrived: the coordinator verifies the update's
      signature, round and base model before it uses anything in it.
    """

    run_id: str
    round: int
    site: str
    kind: TaskKind
    status: ReplyStatus
    parameters: bytes = b""
    num_samples: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)
    info: Mapping[str, JSONValue] = field(default_factory=dict)
    error: str | None = None
    train_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is ReplyStatus.OK

    @classmethod
    def failure(cls, task: Task, status: ReplyStatus, error: str) -> Reply:
        """A failed reply for `task`: how a site's failure arrives as data instead of an exception."""
        return cls(task.run_id, task.round, task.site, task.kind, status, error=error)
