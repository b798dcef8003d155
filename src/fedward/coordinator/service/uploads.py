"""Which uploads a site may open, how large, how many at once, and when a partial one is removed.

A site uploads only to answer a task, so an upload is opened only while the site has an open task (one
the coordinator sent it and that has no reply and no timeout yet: `StateStore.open_tasks`), and its
announced size is bounded by what a reply to that task can legitimately be:

    limit = min(max_update_bytes, upload_factor * M + upload_overhead_bytes)

where M is the size of the round's global model: the parameters blob of the task itself for fit,
evaluate and personalize tasks (they carry the model), of the same round's fit task for a
secure-aggregation task (whose own parameters are protocol messages, while its masked input is one
ring element, 4 or 8 bytes, per model value), and 0 for describe tasks (statistics only). The factor
(4 by default) covers a float32 model returned as a 64-bit masked vector or a float16 model's float32
update; the overhead (8 MiB) covers safetensors headers, key shares and statistics. With several open
tasks the largest limit applies.

A site may hold at most `max_partial_uploads` partial uploads at once, announcing together at most twice
its limit (room for one abandoned upload beside a new one); a new upload past that is refused with 429
(which the site's client retries after a pause). A resumed upload (same site and hash) is not new: a
site restarted mid-upload goes on from the offset the coordinator holds. A partial upload idle for
`upload_expiry_s` is removed (after each successful open, so a refused request changes nothing), and
so are all of a site's partial uploads once it has no open task left (`discard_finished`, at the end of
every exchange of the round loop). An already stored blob is answered as complete whatever the site's
tasks: nothing is opened and no byte is written.

Refusals (the JSON `reason`): `too_large` (413, over `max_update_bytes`), `no_open_task` (409),
`upload_too_large` (413, over the task's limit), `upload_quota` (429).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fedward.coordinator.service.context import Refusal, ServiceContext
from fedward.coordinator.state.base import StateStore, TaskRecord
from fedward.coordinator.state.blobs import BlobStore, UploadStatus
from fedward.core.messages import TaskKind
from fedward.transport.wire import TaskMessage, task_id_of

__all__ = ["UploadBound", "discard_finished", "open_upload", "task_limit", "upload_bound"]

_MODEL_IN_TASK = frozenset({TaskKind.FIT, TaskKind.EVALUATE, TaskKind.PERSONALIZE})


@dataclass(frozen=True)
class UploadBound:
    """The most bytes a site's upload may announce now, and the open task that allows it."""

    limit: int
    task_id: str
    kind: str


def open_upload(ctx: ServiceContext, site: str, sha256: str, size: int) -> UploadStatus:
    """Begin or resume `site`'s upload (the blob store's `start_upload`), or a `Refusal` (see above)."""
    if size > ctx.max_update_bytes:
        detail = f"an update of {size} bytes is over the limit of {ctx.max_update_bytes}"
        raise Refusal(413, "too_large", detail, site=site)
    if ctx.blobs.has(sha256):  # stored already (a retry after a lost answer): nothing to open
        return ctx.blobs.start_upload(site, sha256, size, now=ctx.now())
    bound = upload_bound(ctx, site)
    if bound is None:
        detail = f"site {site!r} has no open task to answer: upload {sha256} refused"
        raise Refusal(409, "no_open_task", detail, site=site)
    if size > bound.limit:
        detail = (
            f"an upload of {size} bytes is over the {bound.limit} bytes a reply to {bound.kind} task "
            f"{bound.task_id} may be"
        )
        raise Refusal(413, "upload_too_large", detail, site=site)
    now = ctx.now()
    with ctx.upload_lock:  # the quota check and the start are one step: two requests cannot both fit
        if ctx.blobs.upload_status(site, sha256) is None:  # a new upload, not a resumed one
            _check_quota(ctx, site, size, bound, now)
        status = ctx.blobs.start_upload(site, sha256, size, now=now)
    _expire(ctx, now)
    return status


def upload_bound(ctx: ServiceContext, site: str) -> UploadBound | None:
    """The largest limit over the site's open tasks; None if it has none."""
    bounds = [
        UploadBound(task_limit(ctx, record), record.task_id, record.kind)
        for record in ctx.store.open_tasks(site)
    ]
    return max(bounds, key=lambda b: b.limit, default=None)


def task_limit(ctx: ServiceContext, record: TaskRecord) -> int:
    """The most bytes a reply's parameters to this task may be (the module docstring's rule)."""
    model = _model_bytes(ctx, TaskMessage.model_validate_json(record.body))
    if model is None:
        return ctx.max_update_bytes
    return min(ctx.max_update_bytes, int(ctx.upload_factor * model) + ctx.upload_overhead_bytes)


def _model_bytes(ctx: ServiceContext, task: TaskMessage) -> int | None:
    """The size of the task's round's global model; None if it cannot be found (the cap alone applies)."""
    if task.kind in _MODEL_IN_TASK:
        return task.parameters.size if task.parameters is not None else 0
    if task.kind is TaskKind.SECAGG:
        fit = ctx.store.task(task_id_of(task.run_id, task.round, task.site, TaskKind.FIT))
        if fit is None:
            return None
        return _model_bytes(ctx, TaskMessage.model_validate_json(fit.body))
    return 0  # describe: statistics, no model


def _check_quota(ctx: ServiceContext, site: str, size: int, bound: UploadBound, now: float) -> None:
    live = [p for p in ctx.blobs.partial_uploads(site) if p.active >= now - ctx.upload_expiry_s]
    if len(live) >= ctx.max_partial_uploads:
        detail = f"site {site!r} already has {len(live)} partial uploads (at most {ctx.max_partial_uploads})"
        raise Refusal(429, "upload_quota", detail, site=site)
    held = sum(p.size for p in live)
    if held + size > 2 * bound.limit:
        detail = (
            f"site {site!r}: partial uploads of {held} bytes and a new one of {size} are over its quota "
            f"of {2 * bound.limit} bytes"
        )
        raise Refusal(429, "upload_quota", detail, site=site)


def _expire(ctx: ServiceContext, now: float) -> None:
    for gone in ctx.blobs.expire(now - ctx.upload_expiry_s):
        ctx.logger.info(
            "partial upload expired",
            extra={"event": "upload_expired", "site": gone.site, "sha256": gone.sha256, "held": gone.offset},
        )


def discard_finished(store: StateStore, blobs: BlobStore, sites: Iterable[str]) -> int:
    """Remove the partial uploads of every site in `sites` that has no open task; how many."""
    removed = 0
    for site in sites:
        if store.open_tasks(site):
            continue
        for partial in blobs.partial_uploads(site):
            removed += blobs.discard_upload(site, partial.sha256)
    return removed
