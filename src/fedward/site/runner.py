"""The site's run loop in a deployment: ask the coordinator for tasks, answer each one once, stop when done.

`run_site` is what `fedward site run KIT` does after it has loaded the kit: long-poll for the next task,
fetch its blobs, rebuild the `Task`, let the site handler answer it, upload the reply's parameters and
post the reply; when the coordinator says the run is `finished`, return.

Each task is trained at most once. Before anything is sent, the reply is written to an outbox on disk
(`<task_id>.json` and `<sha256>.bin`, each atomically: temporary file, fsync, rename). A coordinator that
crashes and replays its journal asks again for the same task under the same id (`wire.task_id` names a
task by what it is), and the site answers from its outbox instead of calling the handler again: a second
training would spend the privacy budget twice (DP-SGD, Abadi et al. 2016) and would not match the
secure-aggregation session already under way (Bonawitz et al. 2017). The outbox keeps the replies of the
last few tasks only. A task addressed to another site is refused with a failed reply, never trained.

Consecutive tasks share blobs: the federation's context is the same every round, and an evaluation task
carries the model the next fit task trains (and the other way round). The site keeps the last few blobs
it downloaded, by SHA-256 (`BlobCache`), and does not fetch one it already holds. Each cached blob was
checked against its SHA-256 and size when it was downloaded; bytes cannot change after that.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError

from fedward.core.durable import write_atomic
from fedward.core.messages import Reply, ReplyStatus, Task
from fedward.transport.base import SiteHandler
from fedward.transport.client import CoordinatorClient
from fedward.transport.wire import (
    BlobRef,
    ReplyMessage,
    TaskMessage,
    reply_to_message,
    task_from_message,
    task_id,
)

__all__ = [
    "BLOB_CACHE_BYTES",
    "BLOB_CACHE_KEEP",
    "OUTBOX_KEEP",
    "BlobCache",
    "Outbox",
    "OutboxDamaged",
    "SiteRunResult",
    "run_site",
]

logger = logging.getLogger(__name__)

OUTBOX_KEEP = 8  # replies kept for re-sending; older ones belong to rounds the coordinator has closed
BLOB_CACHE_KEEP = 4  # a fit task's model and context, and the evaluation task's, with room to spare
BLOB_CACHE_BYTES = 512 * 2**20  # bytes the cache may hold at most; a larger blob is not kept
EventSink = Callable[[str, dict[str, object]], None]


class OutboxDamaged(Exception):
    """An outbox entry exists but cannot be read back intact; the task must not be trained again."""


@dataclass
class SiteRunResult:
    """What one `run_site` did, for the CLI's summary and the site's logs."""

    tasks_handled: int = 0  # tasks the handler answered
    replies_from_outbox: int = 0  # re-asked tasks answered from the outbox, without the handler
    tasks_refused: int = 0  # tasks addressed to another site, or whose id did not match their contents
    replies_closed: int = 0  # replies the coordinator no longer needed (the task was closed)
    uploads_resumed: int = 0
    bytes_sent: int = 0
    blobs_from_cache: int = 0  # task blobs the site already held, not downloaded again


class BlobCache:
    """The last `keep` blobs downloaded, at most `max_bytes` in all, by SHA-256; the oldest used go first.

    Only bytes that `CoordinatorClient.download` returned go in, and it checks them against the
    reference's SHA-256 and size, so a hit is as good as a fresh download."""

    def __init__(self, keep: int = BLOB_CACHE_KEEP, max_bytes: int = BLOB_CACHE_BYTES) -> None:
        self.keep, self.max_bytes = keep, max_bytes
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0

    def get(self, ref: BlobRef, fetch: Callable[[BlobRef], bytes]) -> bytes:
        """The blob's bytes from the cache, or from `fetch(ref)` (then kept, if it fits)."""
        held = self._blobs.get(ref.sha256)
        if held is not None and len(held) == ref.size:
            self._blobs.move_to_end(ref.sha256)
            self.hits += 1
            return held
        data = fetch(ref)
        self._put(ref.sha256, data)
        return data

    def _put(self, sha256: str, data: bytes) -> None:
        if self.keep < 1 or len(data) > self.max_bytes:
            return
        old = self._blobs.pop(sha256, None)
        self._bytes -= 0 if old is None else len(old)
        self._blobs[sha256] = data
        self._bytes += len(data)
        while len(self._blobs) > self.keep or self._bytes > self.max_bytes:
            _, dropped = self._blobs.popitem(last=False)
            self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._blobs)


class Outbox:
    """Replies saved before they are sent: `<task_id>.json` ({"seq", "reply"}) and `<sha256>.bin`."""

    def __init__(self, root: Path, keep: int = OUTBOX_KEEP) -> None:
        if keep < 1:
            raise ValueError("the outbox must keep at least one reply")
        self.root, self.keep = root, keep
        root.mkdir(mode=0o700, parents=True, exist_ok=True)  # updates can reveal training data
        self._next_seq = max((seq for seq, _, _ in self._entries()), default=0) + 1
        self.prune()  # also clears what a crash mid-write left behind

    def get(self, task_id_: str) -> tuple[ReplyMessage, bytes] | None:
        """The saved reply to the task and its parameter bytes; None if never answered here."""
        path = self.root / f"{task_id_}.json"
        if not path.exists():
            return None
        try:
            message = ReplyMessage.model_validate(json.loads(path.read_bytes())["reply"])
            parameters = self._parameters(message.parameters)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OutboxDamaged(f"{path}: {exc}") from None
        return message, parameters

    def put(self, message: ReplyMessage, parameters: bytes) -> None:
        """Save the reply (parameters first, so a saved reply always has its bytes) and prune old ones."""
        if message.parameters is not None:
            write_atomic(self.root / f"{message.parameters.sha256}.bin", parameters)
        record = {"seq": self._next_seq, "reply": message.model_dump(mode="json")}
        write_atomic(self.root / f"{message.task_id}.json", json.dumps(record).encode())
        self._next_seq += 1
        self.prune()

    def prune(self) -> None:
        """Keep the newest `keep` replies, delete the rest oldest first, and any unreferenced file."""
        entries = sorted(self._entries())
        for _, path, _ in entries[: max(0, len(entries) - self.keep)]:
            path.unlink()
        referenced = {blob for _, _, blob in entries[-self.keep :] if blob}
        for path in self.root.iterdir():
            if path.suffix == ".tmp" or (path.suffix == ".bin" and path.name not in referenced):
                path.unlink()

    def _parameters(self, ref: BlobRef | None) -> bytes:
        if ref is None:
            return b""
        data = (self.root / f"{ref.sha256}.bin").read_bytes()
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise ValueError("parameter bytes do not match the saved reply")
        return data

    def _entries(self) -> list[tuple[int, Path, str | None]]:
        """(seq, path, parameter file name) of each saved reply; unreadable ones sort first, to go first."""
        found: list[tuple[int, Path, str | None]] = []
        for path in self.root.glob("*.json"):
            try:
                record = json.loads(path.read_bytes())
                ref = record["reply"].get("parameters")
                found.append((int(record["seq"]), path, f"{ref['sha256']}.bin" if ref else None))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                found.append((0, path, None))
        return found


class _SiteLoop:
    """The state of one `run_site`: where replies go, what has been done, and whom to tell."""

    def __init__(
        self, client: CoordinatorClient, handler: SiteHandler, outbox: Outbox, on_event: EventSink | None
    ) -> None:
        self.client, self.handler, self.outbox = client, handler, outbox
        self.on_event = on_event
        self.result = SiteRunResult()
        self.blobs = BlobCache()

    def emit(self, event: str, fields: dict[str, object]) -> None:
        logger.info("site %s: %s", self.client.site, event, extra={"event": event, **fields})
        if self.on_event is not None:
            self.on_event(event, fields)

    def answer(self, message: TaskMessage) -> None:
        """Answer one task: refuse it, re-send the saved reply, or handle it, save it and send it."""
        fields: dict[str, object] = {"task_id": message.task_id, "round": message.round, "kind": message.kind}
        self.emit("task", fields)
        if message.site != self.client.site:
            self.refuse(message, f"task addressed to {message.site!r}, not {self.client.site!r}")
            return
        try:
            saved = self.outbox.get(message.task_id)
        except OutboxDamaged as exc:
            self.refuse(message, f"site {self.client.site}: saved reply damaged, not training again: {exc}")
            return
        if saved is not None:
            self.result.replies_from_outbox += 1
            self.emit("reply_from_outbox", fields)
        else:
            saved = self.handle(message)
            self.outbox.put(*saved)
        self.send(*saved)

    def handle(self, message: TaskMessage) -> tuple[ReplyMessage, bytes]:
        """Fetch the task's blobs, rebuild the task and let the handler answer it (a failure is a reply)."""
        download = self.client.download
        parameters = self.blobs.get(message.parameters, download) if message.parameters else b""
        context = self.blobs.get(message.context, download) if message.context else b""
        task = task_from_message(message, parameters, context)
        if task_id(task) != message.task_id:
            reply = Reply.failure(task, ReplyStatus.FAILED, "the task's id does not match its contents")
            self.result.tasks_refused += 1
        else:
            reply = _call_handler(self.handler, task)
            self.result.tasks_handled += 1
        self.emit("handled", {"task_id": message.task_id, "status": reply.status.value})
        try:
            return reply_to_message(reply, message.task_id), reply.parameters
        except (ValueError, ValidationError) as exc:  # a timeout status, or fields the wire refuses
            failed = Reply.failure(
                task, ReplyStatus.FAILED, f"site {self.client.site}: unsendable reply: {exc}"
            )
            return reply_to_message(failed, message.task_id), b""

    def refuse(self, message: TaskMessage, why: str) -> None:
        """Answer with a failed reply and no training."""
        self.result.tasks_refused += 1
        self.emit("refused", {"task_id": message.task_id, "reason": why})
        failed = ReplyMessage(task_id=message.task_id, site=self.client.site, status="failed", error=why)
        self.send(failed, b"")

    def send(self, message: ReplyMessage, parameters: bytes) -> None:
        outcome = self.client.send_reply(message, parameters)
        if outcome == "closed":
            self.result.replies_closed += 1
        self.emit("reply", {"task_id": message.task_id, "status": message.status, "outcome": outcome})


def _call_handler(handler: SiteHandler, task: Task) -> Reply:
    """The handler's reply; an exception becomes a failed reply, as in every transport."""
    try:
        return handler.handle(task)
    except Exception as exc:
        return Reply.failure(task, ReplyStatus.FAILED, f"site {handler.name}: {type(exc).__name__}: {exc}")


def run_site(
    client: CoordinatorClient,
    handler: SiteHandler,
    outbox: Path,
    *,
    poll_seconds: float,
    on_event: EventSink | None = None,
    outbox_keep: int = OUTBOX_KEEP,
) -> SiteRunResult:
    """Answer the coordinator's tasks one at a time until it says the run is finished."""
    loop = _SiteLoop(client, handler, Outbox(outbox, outbox_keep), on_event)
    resumed, sent = client.stats.uploads_resumed, client.stats.bytes_sent
    while True:
        step = client.next_task(wait=poll_seconds)
        if step.state == "finished":
            break
        if step.task is not None:
            loop.answer(step.task)
    loop.result.uploads_resumed = client.stats.uploads_resumed - resumed
    loop.result.bytes_sent = client.stats.bytes_sent - sent
    loop.result.blobs_from_cache = loop.blobs.hits
    loop.emit("finished", asdict(loop.result))
    return loop.result
