"""`ServiceTransport`: the `Transport` of a deployed coordinator, over its journal.

`exchange` journals each task (its parameter bytes go to the blob store), wakes the sites' long polls,
and waits until every task has a reply or the deadline passes; a task still open then is closed with a
journaled timeout, so a late reply is refused and a replay decides the same way. While it waits it asks
`refused` (the kit's current roster, re-read and checked by `RosterWatch`) whether each pending task's
site is still admitted for the task's round: a site revoked (or expired) meanwhile can send nothing, so
its task is closed at once with a journaled `revoked` record and the round goes on without it (its
reply is a failure, `update_rejected` in the ledger; under secure aggregation a dropout) instead of
holding the round until `deadline_seconds`, or forever without one. Then the partial
uploads of every site left with no open task are removed (service/uploads.py). A task that already has
a reply in the journal (a restarted coordinator replaying its run) is answered at once from there, and a
replayed task whose content differs from the journal's stops the run (`ReplayDivergedError`).

Replies come back as a lazy mapping that reads each reply's parameters from disk when it is looked up,
so a round over many sites holds one site's update in memory at a time (the strategies fold updates into
a streaming accumulator). A stored update whose bytes no longer hash to its name (a bit flipped on disk)
is not used: the site's reply counts as failed, with a reason naming the blob, and an error is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from fedward.coordinator.service.board import Board
from fedward.coordinator.service.uploads import discard_finished
from fedward.coordinator.state.base import ReplyRecord, StateStore, TaskRecord
from fedward.coordinator.state.blobs import BlobCorruptError, BlobStore
from fedward.core.messages import Reply, ReplyStatus, Task
from fedward.transport.base import check_addressed
from fedward.transport.wire import ReplyMessage, reply_from_message, task_to_message

log = logging.getLogger("fedward.coordinator")

__all__ = ["ServiceTransport"]

_POLL_S = 1.0  # re-read the store at least this often while waiting, whatever the board says

Refused = Callable[[str, int], str | None]  # why the roster no longer admits (site, round), or None


class ServiceTransport:
    def __init__(
        self,
        store: StateStore,
        blobs: BlobStore,
        board: Board,
        sites: Sequence[str],
        utc: Callable[[], str],
        refused: Refused | None = None,
    ) -> None:
        self._store, self._blobs, self._board = store, blobs, board
        self._sites, self._utc, self._refused = list(sites), utc, refused

    @property
    def sites(self) -> Sequence[str]:
        return list(self._sites)

    def exchange(self, tasks: Sequence[Task], deadline_s: float | None) -> Mapping[str, Reply]:
        check_addressed(tasks, self._sites)  # before anything is journaled, which a site would answer
        ids = {task.site: self._journal(task) for task in tasks}
        self._board.notify()
        self._wait(list(ids.values()), deadline_s)
        discard_finished(self._store, self._blobs, ids)  # the round's step is over: no upload is due
        return _Replies(self._store, self._blobs, {t.site: (t, ids[t.site]) for t in tasks})

    def close(self) -> None:
        pass

    def _journal(self, task: Task) -> str:
        message = task_to_message(task)
        for data in (task.parameters, task.context):
            if data and not self._blobs.has(hashlib.sha256(data).hexdigest()):
                self._blobs.put(data)
        body = message.model_dump_json()
        record = TaskRecord(
            message.task_id,
            task.site,
            task.round,
            task.kind.value,
            body,
            hashlib.sha256(body.encode()).hexdigest(),
        )
        self._store.put_task(record)
        return message.task_id

    def _wait(self, task_ids: list[str], deadline_s: float | None) -> None:
        start = time.monotonic()
        while True:
            version = self._board.version
            pending = [t for t in task_ids if self._store.reply(t) is None]
            if pending and self._refused is not None:
                pending = [t for t in pending if not self._close_if_revoked(t)]
            if not pending:
                return
            remaining = None if deadline_s is None else deadline_s - (time.monotonic() - start)
            if remaining is not None and remaining <= 0:
                self._time_out(pending, deadline_s)
                return
            self._board.wait(version, _POLL_S if remaining is None else min(_POLL_S, remaining))

    def _close_if_revoked(self, task_id: str) -> bool:
        """Close the task if the roster no longer admits its site for its round; whether it is closed."""
        assert self._refused is not None
        task = self._store.task(task_id)
        assert task is not None
        why = self._refused(task.site, task.round)
        if why is None:
            return False
        error = json.dumps({"error": f"site revoked during round {task.round}: {why}"})
        self._store.put_reply(ReplyRecord(task_id, task.site, "revoked", error, self._utc()))
        log.warning(
            "stopped waiting for a revoked site",
            extra={"event": "task_closed_revoked", "site": task.site, "round": task.round, "reason": why},
        )
        self._board.notify()
        return True

    def _time_out(self, task_ids: list[str], deadline_s: float | None) -> None:
        error = json.dumps({"error": f"no reply within {deadline_s:g} s"})
        for task_id in task_ids:
            task = self._store.task(task_id)
            assert task is not None
            # a reply that lands between the check and here wins: put_reply keeps the first
            self._store.put_reply(ReplyRecord(task_id, task.site, "timeout", error, self._utc()))
        self._board.notify()


class _Replies(Mapping[str, Reply]):
    """One reply per site, built from the journal (and the blob store) each time it is looked up."""

    def __init__(self, store: StateStore, blobs: BlobStore, tasks: dict[str, tuple[Task, str]]) -> None:
        self._store, self._blobs, self._tasks = store, blobs, tasks

    def __getitem__(self, site: str) -> Reply:
        task, task_id = self._tasks[site]
        record = self._store.reply(task_id)
        if record is None:
            raise KeyError(site)
        if record.status == "timeout":
            return Reply.failure(task, ReplyStatus.TIMEOUT, str(json.loads(record.body)["error"]))
        if record.status == "revoked":
            return Reply.failure(task, ReplyStatus.FAILED, str(json.loads(record.body)["error"]))
        message = ReplyMessage.model_validate_json(record.body)
        try:
            parameters = b"" if message.parameters is None else self._blobs.read(message.parameters.sha256)
        except BlobCorruptError as exc:
            log.error(str(exc), extra={"event": "blob_corrupt", "site": site, "blob": exc.sha256})
            return Reply.failure(task, ReplyStatus.FAILED, f"the stored update is corrupt: {exc}")
        return reply_from_message(message, task, parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)
