"""The transport seam: deliver one task to each of several sites and gather the replies by a deadline.

A transport moves messages; it never interprets parameters or decides anything about a round. A site
that does not answer in time gets a `ReplyStatus.TIMEOUT` reply from the transport, and a site that
raised gets `ReplyStatus.FAILED`, so the caller always receives exactly one reply per task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from fedward.core.messages import Reply, Task

__all__ = ["SiteHandler", "Transport"]


class SiteHandler(Protocol):
    """What the site side exposes to a transport: one task in, one reply out."""

    @property
    def name(self) -> str: ...

    def handle(self, task: Task) -> Reply: ...


class Transport(Protocol):
    @property
    def sites(self) -> Sequence[str]:
        """The sites this transport can reach, in a fixed order."""
        ...

    def exchange(self, tasks: Sequence[Task], deadline_s: float | None) -> Mapping[str, Reply]:
        """Send each task to its site; return one reply per task, keyed by site, within `deadline_s`."""
        ...

    def close(self) -> None: ...
