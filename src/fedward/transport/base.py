"""The transport seam: deliver one task to each of several sites and gather the replies by a deadline.

A transport moves messages; it never interprets parameters or decides anything about a round. A site
that does not answer in time gets a `ReplyStatus.TIMEOUT` reply from the transport, and a site that
raised gets `ReplyStatus.FAILED`, so the caller always receives exactly one reply per task.

Implementations: `InMemoryTransport` (transport/memory.py: `fedward simulate`, sites are objects in this
process) and `ServiceTransport` (coordinator/service/transport.py: a deployed coordinator, whose sites
fetch tasks and post replies over HTTPS). One contract suite runs against both
(tests/contract/test_transport.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from fedward.core.messages import Reply, Task

__all__ = ["SiteHandler", "SiteSilent", "Transport", "check_addressed"]


class SiteSilent(Exception):
    """Raised by a handler to model a site that never answers its task (the fault injector's dropouts).

    An in-process transport reports it as that task's TIMEOUT at once, as a deadline would (without
    waiting for one); a deployed site's loop treats it like any other exception and answers FAILED."""


class SiteHandler(Protocol):
    """What the site side exposes to a transport: one task in, one reply out.

    Contract:
    - `name` is the site's name, the same for the handler's whole life; a transport routes to the
      handler the tasks whose `site` is that name, and to no other handler.
    - `handle(task)` answers one task with a reply for it: the task's `run_id`, `round`, `site` and
      `kind`, and status OK or FAILED (never TIMEOUT, which only a transport decides). A transport
      turns a reply for another task into a FAILED one.
    - `handle` may raise: the transport turns the exception into a FAILED reply whose `error` names it
      (a deployed site does the same, in site/runner.py), so a site's failure never stops a round;
      `SiteSilent` alone becomes a TIMEOUT in memory (a simulated dropout).
    - A transport calls `handle` at most once per task and exchange, from a thread of its own, one task
      at a time for each site.
    """

    @property
    def name(self) -> str: ...

    def handle(self, task: Task) -> Reply: ...


class Transport(Protocol):
    """Sends each of a round step's tasks to its site and brings back exactly one reply per task.

    Contract (tests/contract/test_transport.py checks each point against every implementation):
    - `sites` names the sites the transport reaches, in a fixed order: the order it was given them.
    - `exchange(tasks, deadline_s)` takes at most one task per site, each for a site in `sites`. A task
      for an unknown site raises `KeyError`, a second task for one site raises `ValueError`, and either
      is raised before any task is sent. An empty list returns an empty mapping at once.
    - It returns one reply per task, keyed by the task's site and iterating in the order of `tasks`.
      Every reply's `run_id`, `round`, `site` and `kind` are its task's.
    - Messages arrive whole: a site's handler receives a task equal to the one sent (parameters and
      context byte for byte, whatever their size, and the same config), and the caller receives the
      reply's parameters byte for byte with the status, error, metrics, info, sample count and training
      time the site sent.
    - A site's failure is data, never an exception. A site that raised or answered FAILED gives a
      FAILED reply whose `error` says why. A site with no reply `deadline_s` seconds after the exchange
      began gives a TIMEOUT reply, which only the transport decides, and `exchange` returns soon after
      the deadline whatever the site is doing; `deadline_s=None` waits for every site.
    - The first answer to a task counts. An answer after it, or after the task timed out (a late
      reply, a site answering twice), is refused or dropped and never replaces it; the returned mapping
      keeps reading the first.
    - What `exchange` raises beyond the two errors above is the coordinator's own failure (a journal
      that diverged on replay, a broken state store), never a site's.
    - A task equal to one answered in an earlier exchange may be answered from the transport's record of
      that answer (a restarted deployed coordinator replays its run so); tasks of one run therefore
      differ in round, site, kind or secure-aggregation stage.
    - `close` releases what the transport holds without waiting for sites still working; closing twice
      is harmless.
    """

    @property
    def sites(self) -> Sequence[str]:
        """The sites this transport can reach, in a fixed order."""
        ...

    def exchange(self, tasks: Sequence[Task], deadline_s: float | None) -> Mapping[str, Reply]:
        """Send each task to its site; return one reply per task, keyed by site, within `deadline_s`."""
        ...

    def close(self) -> None:
        """Release the transport's threads and connections, without waiting for sites still working."""
        ...


def check_addressed(tasks: Sequence[Task], sites: Collection[str]) -> None:
    """Refuse an exchange the contract does not allow, before any of it is sent: `KeyError` for a task
    to a site outside `sites`, `ValueError` for a second task to one site (its reply would be lost)."""
    addressed: set[str] = set()
    for task in tasks:
        if task.site not in sites:
            raise KeyError(f"unknown site {task.site!r}")
        if task.site in addressed:
            raise ValueError(f"two tasks for site {task.site!r} in one exchange")
        addressed.add(task.site)
