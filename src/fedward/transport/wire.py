"""The coordinator service's wire format: tasks, replies and uploads as JSON, parameters as blobs.

A `Task` or `Reply` (fedward.core.messages) crosses the network in two parts: its JSON fields, validated
by the pydantic models below (unknown fields are refused, sizes are bounded), and its parameter bytes
(safetensors), which travel separately as a content-addressed blob named by its SHA-256. A site
downloads a task's blobs by hash, and uploads its reply's parameters in resumable chunks keyed by their
hash before it posts the reply that names them. Nothing is ever unpickled.

`task_id` names a task by what it is (run, round, site, kind, secure-aggregation stage), not by when it
was sent, so a coordinator that restarts and replays its journal asks for the same task under the same
id, and a site that already answered it answers again from its outbox.

Both ends parse what they receive with `parse_strict`: a JSON object that names a key twice is refused
(`DuplicateKeyError`: two parsers could read different values from it, and the signature covers both),
and types are strict, so "1" is not an integer and neither is 1.0 (an integer is still a valid float).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fedward.core.canonical import canonical_bytes
from fedward.core.messages import JSONValue, Reply, ReplyStatus, Task, TaskKind

__all__ = [
    "API_PREFIX",
    "MAX_JSON_BYTES",
    "BlobRef",
    "DuplicateKeyError",
    "NextTask",
    "ReplyMessage",
    "TaskMessage",
    "UploadStart",
    "UploadState",
    "parse_strict",
    "reply_from_message",
    "reply_to_message",
    "task_from_message",
    "task_id",
    "task_id_of",
    "task_to_message",
]

API_PREFIX = "/v1"
MAX_JSON_BYTES = 4 << 20  # the largest JSON body either side accepts (tasks carry ledger proofs)

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
SiteName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Short = Annotated[str, StringConstraints(max_length=256)]
Scalar = str | int | float | bool | None
Value = Scalar | list[Scalar]


_M = TypeVar("_M", bound=BaseModel)


class DuplicateKeyError(ValueError):
    """A JSON object in a message names the same key twice."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKeyError(f"the key {key[:64]!r} appears twice in one object")
        obj[key] = value
    return obj


def parse_strict(model: type[_M], data: bytes | str) -> _M:
    """`data` as a `model`: no duplicate keys (`DuplicateKeyError`), strict types (pydantic's
    `ValidationError`, which also reports JSON that does not parse)."""
    try:
        json.loads(data, object_pairs_hook=_refuse_duplicates)
    except DuplicateKeyError:
        raise
    except (ValueError, RecursionError):
        pass  # not JSON: pydantic's parse below says where
    return model.model_validate_json(data, strict=True)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BlobRef(_Message):
    """Parameter bytes stored on the coordinator, fetched with GET /v1/blobs/{sha256}."""

    sha256: Sha256Hex
    size: int = Field(ge=0)


class TaskMessage(_Message):
    task_id: Sha256Hex
    run_id: Short
    round: int = Field(ge=0)
    site: SiteName
    kind: TaskKind
    config: dict[Short, Value] = Field(default_factory=dict)
    parameters: BlobRef | None = None
    context: BlobRef | None = None


class NextTask(_Message):
    """The answer to GET /v1/tasks/next: a task, nothing yet (`idle`), or the run is over (`finished`)."""

    state: Literal["task", "idle", "finished"]
    task: TaskMessage | None = None


class ReplyMessage(_Message):
    """POST /v1/replies: a site's reply; its parameters must have been uploaded first."""

    task_id: Sha256Hex
    site: SiteName
    status: Literal["ok", "failed"]  # a site never claims a timeout; only the coordinator decides one
    parameters: BlobRef | None = None
    num_samples: int = Field(0, ge=0)
    metrics: dict[Short, float] = Field(default_factory=dict)
    info: dict[Short, Value] = Field(default_factory=dict)
    error: Annotated[str, StringConstraints(max_length=4000)] | None = None
    train_seconds: float = Field(0.0, ge=0)


class UploadStart(_Message):
    """POST /v1/uploads: announce (or re-announce, to resume) an upload of `size` bytes."""

    sha256: Sha256Hex
    size: int = Field(ge=0)


class UploadState(_Message):
    """How many bytes of an upload the coordinator holds; `complete` once the hash has been checked."""

    sha256: Sha256Hex
    size: int = Field(ge=0)
    offset: int = Field(ge=0)
    complete: bool


def task_id(task: Task) -> str:
    """The deterministic id of a task: the same task in a replayed run has the same id."""
    stage = task.config.get("secagg_stage")
    return task_id_of(task.run_id, task.round, task.site, task.kind, stage if isinstance(stage, str) else "")


def task_id_of(run_id: str, round: int, site: str, kind: TaskKind, stage: str = "") -> str:
    """`task_id` from the fields that name a task (`stage`: the secure-aggregation stage, or "")."""
    ident = [run_id, round, site, kind.value, stage]
    return hashlib.sha256(b"fedward task|" + canonical_bytes(ident)).hexdigest()


def _ref(data: bytes) -> BlobRef | None:
    return BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data)) if data else None


def task_to_message(task: Task) -> TaskMessage:
    return TaskMessage(
        task_id=task_id(task),
        run_id=task.run_id,
        round=task.round,
        site=task.site,
        kind=task.kind,
        config=dict(task.config),
        parameters=_ref(task.parameters),
        context=_ref(task.context),
    )


def task_from_message(message: TaskMessage, parameters: bytes, context: bytes) -> Task:
    """The task, given the bytes of its blobs (which the caller has checked against their hashes)."""
    config: dict[str, JSONValue] = dict(message.config)
    return Task(message.run_id, message.round, message.site, message.kind, parameters, config, context)


def reply_to_message(reply: Reply, task_id_: str) -> ReplyMessage:
    if reply.status is ReplyStatus.TIMEOUT:
        raise ValueError("a site does not send timeouts")
    return ReplyMessage(
        task_id=task_id_,
        site=reply.site,
        status="ok" if reply.ok else "failed",
        parameters=_ref(reply.parameters),
        num_samples=reply.num_samples,
        metrics=dict(reply.metrics),
        info=dict(reply.info),
        error=None if reply.error is None else reply.error[:4000],
        train_seconds=reply.train_seconds,
    )


def reply_from_message(message: ReplyMessage, task: Task, parameters: bytes) -> Reply:
    """The reply to `task`, given its parameter bytes (checked against their hash by the caller)."""
    info: Mapping[str, JSONValue] = dict(message.info)
    return Reply(
        task.run_id,
        task.round,
        task.site,
        task.kind,
        ReplyStatus(message.status),
        parameters=parameters,
        num_samples=message.num_samples,
        metrics=dict(message.metrics),
        info=info,
        error=message.error,
        train_seconds=message.train_seconds,
    )
