"""Bytes on the wire: a transport wrapper that counts what a round's exchanges carry.

`bytes_down` is the sum of the task payloads sent (parameters and context), `bytes_up` the sum of the
reply payloads received (parameters), over every exchange the round makes through it (fit, the
secure-aggregation stages, evaluation). Message envelopes (config, metrics, signatures) are not
counted: the figure is the payload a compression setting changes. A reply is counted the first time it
is looked up, so a deployed transport that reads replies from disk on lookup reads each once, as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from fedward.core.messages import Reply, Task
from fedward.transport.base import Transport

__all__ = ["CountingTransport"]


class CountingTransport:
    """`transport`, counting the payload bytes of its exchanges (`bytes_up`, `bytes_down`)."""

    def __init__(self, transport: Transport) -> None:
        self._inner = transport
        self.bytes_up = 0
        self.bytes_down = 0

    @property
    def sites(self) -> Sequence[str]:
        return self._inner.sites

    def exchange(self, tasks: Sequence[Task], deadline_s: float | None) -> Mapping[str, Reply]:
        replies = self._inner.exchange(tasks, deadline_s)
        self.bytes_down += sum(len(t.parameters) + len(t.context) for t in tasks)
        return _Counted(replies, self)

    def close(self) -> None:
        self._inner.close()

    def count_up(self, reply: Reply) -> None:
        self.bytes_up += len(reply.parameters)


class _Counted(Mapping[str, Reply]):
    """The replies of one exchange; each reply's payload is counted once, on its first lookup."""

    def __init__(self, replies: Mapping[str, Reply], counter: CountingTransport) -> None:
        self._replies, self._counter = replies, counter
        self._seen: set[str] = set()

    def __getitem__(self, site: str) -> Reply:
        reply = self._replies[site]
        if site not in self._seen:
            self._seen.add(site)
            self._counter.count_up(reply)
        return reply

    def __iter__(self) -> Iterator[str]:
        return iter(self._replies)

    def __len__(self) -> int:
        return len(self._replies)
