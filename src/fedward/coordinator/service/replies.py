"""Accepting a site's reply over HTTP: who may answer which task, once, with parameters that arrived.

The first reply to a task wins and is kept unchanged (`StateStore.put_reply`). A site whose response
was lost in transit sends the same reply again and is told it was accepted (`duplicate`); a different
reply to an answered task is a replay and is refused, as is any reply once the coordinator has closed
the task with a timeout. A site can answer only its own tasks, and only with parameters that are stored
complete, at the size it names, in the blob store (which is content-addressed and does not track who
uploaded what, so that a package copied from another site is caught by the round loop's check of its
signature, not here). A reply must also survive the journal: JSON that parses back to the same reply
(no NaN or infinities, which would be written as null). Deeper checks of the update itself (package
signature, round, model hash) are the round loop's, which records their outcome in the ledger.
"""

from __future__ import annotations

from pydantic import ValidationError

from fedward.coordinator.service.context import Refusal, ServiceContext
from fedward.coordinator.state.base import ReplyRecord
from fedward.transport.wire import BlobRef, ReplyMessage

__all__ = ["accept_reply"]


def accept_reply(ctx: ServiceContext, site: str, message: ReplyMessage) -> bool:
    """Store `message` from signer `site`; True if it duplicates the stored reply. Refusals raise."""
    try:
        return _accept(ctx, site, message)
    except Refusal as refusal:
        ctx.metrics.updates_rejected.labels(refusal.reason).inc()
        raise


def _accept(ctx: ServiceContext, site: str, message: ReplyMessage) -> bool:
    task_id, body = message.task_id, _stored_form(message, site)
    if message.site != site:
        raise Refusal(
            403, "wrong_site", f"site {site!r} sent a reply in the name of {message.site!r}", site=site
        )
    task = ctx.store.task(task_id)
    if task is None:
        raise Refusal(404, "unknown_task", f"no task {task_id}", site=site)
    if task.site != site:
        raise Refusal(403, "wrong_site", f"task {task_id} belongs to another site", site=site)
    stored = ctx.store.reply(task_id)
    if stored is not None:
        return _same_as_stored(stored, body, site)
    if message.parameters is not None:
        _check_uploaded(ctx, site, message.parameters)
    if not ctx.store.put_reply(ReplyRecord(task_id, site, message.status, body, ctx.utc())):
        raced = ctx.store.reply(task_id)  # another copy of this request won the race
        assert raced is not None
        return _same_as_stored(raced, body, site)
    ctx.board.notify()
    return False


def _stored_form(message: ReplyMessage, site: str) -> str:
    """The reply as the journal keeps it: JSON that parses back to the same reply. NaN and infinities
    would be written as null and break the round loop's reading of the journal, so they are refused."""
    body = message.model_dump_json()
    try:
        again: ReplyMessage | None = ReplyMessage.model_validate_json(body)
    except ValidationError:
        again = None
    if again != message:
        detail = "the reply holds numbers JSON cannot carry (NaN or infinity)"
        raise Refusal(422, "malformed", detail, site=site)
    return body


def _same_as_stored(stored: ReplyRecord, body: str, site: str) -> bool:
    """True for a retry of the stored reply; any other reply to an answered task is refused."""
    if stored.status == "timeout":
        raise Refusal(409, "task_closed", f"task {stored.task_id} was closed: no reply in time", site=site)
    if stored.status == "revoked":
        raise Refusal(409, "task_closed", f"task {stored.task_id} was closed: site revoked", site=site)
    if stored.body != body:
        raise Refusal(409, "replay", f"task {stored.task_id} already has a different reply", site=site)
    return True


def _check_uploaded(ctx: ServiceContext, site: str, ref: BlobRef) -> None:
    """The reply's parameters must be a complete blob of the announced size in the blob store."""
    status = ctx.blobs.upload_status(site, ref.sha256)
    held = ctx.blobs.has(ref.sha256) and ctx.blobs.size(ref.sha256) == ref.size
    if status is None or not status.complete or not held:
        raise Refusal(
            400, "missing_blob", f"parameters {ref.sha256} ({ref.size} bytes) were not uploaded (completely)",
            site=site,
        )  # fmt: skip
