"""In-process transport for simulation: sites are objects in the same process.

With no deadline and one worker (the default) the sites are called in order in the caller's thread.
Otherwise tasks run on a small thread pool, which is what lets a deadline be enforced. The deadline is
measured from the moment the tasks are submitted; a site still working then is reported as timed out and
its late reply is dropped. A handler's reply that claims another task, or a timeout (which only the
transport decides), is turned into a failed reply, as the `Transport` contract (transport/base.py) says.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from fedward.core.messages import Reply, ReplyStatus, Task
from fedward.transport.base import SiteHandler, SiteSilent, check_addressed

__all__ = ["InMemoryTransport"]


class InMemoryTransport:
    def __init__(self, handlers: Sequence[SiteHandler], *, workers: int = 1) -> None:
        names = [h.name for h in handlers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate site names: {names}")
        self._handlers = {h.name: h for h in handlers}
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="fedward-site")

    @property
    def sites(self) -> Sequence[str]:
        return list(self._handlers)

    def exchange(self, tasks: Sequence[Task], deadline_s: float | None) -> Mapping[str, Reply]:
        check_addressed(tasks, self._handlers)
        if deadline_s is None and self._workers == 1:
            # nothing to time out and nothing to overlap: call the sites in order, without thread hand-offs
            return {task.site: _call(self._handlers[task.site], task) for task in tasks}
        futures: dict[str, Future[Reply]] = {}
        for task in tasks:
            futures[task.site] = self._pool.submit(_call, self._handlers[task.site], task)
        start = time.monotonic()
        by_task = {task.site: task for task in tasks}
        replies: dict[str, Reply] = {}
        for site, future in futures.items():
            remaining = None if deadline_s is None else max(0.0, deadline_s - (time.monotonic() - start))
            done, _ = wait_futures([future], timeout=remaining)
            if future in done:
                replies[site] = future.result()
            else:
                future.cancel()
                replies[site] = Reply.failure(
                    by_task[site], ReplyStatus.TIMEOUT, f"no reply within {deadline_s:g} s"
                )
        return replies

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _call(handler: SiteHandler, task: Task) -> Reply:
    try:
        reply = handler.handle(task)
    except SiteSilent as exc:  # a simulated dropout: what the deadline would have reported
        return Reply.failure(task, ReplyStatus.TIMEOUT, str(exc))
    except Exception as exc:  # a site's failure is data, never a crash of the round
        return Reply.failure(task, ReplyStatus.FAILED, f"{type(exc).__name__}: {exc}")
    return _checked(task, reply)


def _checked(task: Task, reply: Reply) -> Reply:
    """`reply` if it answers `task` as a site may; otherwise a failed reply saying what was wrong."""
    claimed = (reply.run_id, reply.round, reply.site, reply.kind)
    if claimed != (task.run_id, task.round, task.site, task.kind):
        return Reply.failure(
            task, ReplyStatus.FAILED, f"site {task.site}: the reply is for another task {claimed}"
        )
    if reply.status is ReplyStatus.TIMEOUT:
        return Reply.failure(task, ReplyStatus.FAILED, f"site {task.site}: a site does not send timeouts")
    return reply
