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


class ReplyStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the site raised, refused, or sent something unusable
    TIMEOUT = "timeout"  # no reply before the round deadline


@dataclass(frozen=True, slots=True)
class Task:
    run_id: str
    round: int
    site: str
    kind: TaskKind
    parameters: bytes = b""
    config: Mapping[str, JSONValue] = field(default_factory=dict)
    context: bytes = b""  # safetensors of auxiliary arrays, e.g. the federated feature standardization


@dataclass(frozen=True, slots=True)
class Reply:
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
