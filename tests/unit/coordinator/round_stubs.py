"""Stand-ins for the round's surroundings, so each step is tested without a transport or real sites:
canned replies by site and task kind, an observer that logs every call, fit replies built from arrays."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from fedward.core.arrays import Arrays, arrays_to_bytes
from fedward.core.messages import JSONValue, Reply, ReplyStatus, Task

PARAMS: Arrays = {"w": np.zeros((2, 3), np.float32), "b": np.zeros(2, np.float32)}
SETUP_SAMPLES = 1000  # every stub site's set-up (DESCRIBE) count: above any stub reply's


def setup_samples(sites: Sequence[str], n: int = SETUP_SAMPLES) -> dict[str, int]:
    return dict.fromkeys(sites, n)


def model(value: float) -> Arrays:
    return {k: np.full(a.shape, value, np.float32) for k, a in PARAMS.items()}


def fit_reply(task: Task, params: Arrays | None = None, n: int = 10, **kw) -> Reply:
    body = arrays_to_bytes(params if params is not None else model(1.0))
    return Reply(task.run_id, task.round, task.site, task.kind, ReplyStatus.OK, body, n, **kw)


class CannedExchange:
    """Answers each task with `answer(task)`; logs every exchange (its tasks' sites and kinds)."""

    def __init__(
        self, sites: Sequence[str], answer: Callable[[Task], Reply], log: list | None = None
    ) -> None:
        self._sites, self._answer = list(sites), answer
        self.log: list = [] if log is None else log
        self.tasks: list[Task] = []

    @property
    def sites(self) -> Sequence[str]:
        return self._sites

    def exchange(self, tasks: Sequence[Task], deadline_s: float | None) -> Mapping[str, Reply]:
        self.log.append(("exchange", [t.kind.value for t in tasks][:1], [t.site for t in tasks]))
        self.tasks.extend(tasks)
        return {t.site: self._answer(t) for t in tasks}

    def close(self) -> None:
        pass


class LoggingObserver:
    """A round observer that logs its calls in order and refuses the updates of the sites in `refuse`."""

    def __init__(self, log: list | None = None, refuse: Sequence[str] = (), admit: bool = True) -> None:
        self.log: list = [] if log is None else log
        self.refuse, self.admit = set(refuse), admit
        self.models: list[bytes] = []

    def run_started(self, plan, code_sha256: str) -> None:
        self.log.append(("run_started",))

    def open_round(
        self, rnd: int, selected: Sequence[str], model_bytes: bytes, not_admitted: Sequence[str] = ()
    ) -> None:
        self.log.append(("open_round", rnd, list(selected)))

    def evidence(self, site: str) -> dict[str, JSONValue]:
        self.log.append(("evidence", site))
        return {"trust_entry": f"seen-by-{site}"}

    def check_update(self, reply: Reply, payload: bytes, rnd: int, max_samples: int) -> str | None:
        self.log.append(("check_update", reply.site, rnd))
        return "refused by the test" if reply.site in self.refuse else None

    def record_failure(self, reply: Reply, rnd: int) -> None:
        self.log.append(("record_failure", reply.site, rnd))

    def close_round(self, rnd: int, epsilons, new_model, contributors: Sequence[str]) -> None:
        if new_model is not None:
            self.models.append(new_model())
        self.log.append(("close_round", rnd, new_model is not None, list(contributors)))

    def admitted(self, site: str, rnd: int) -> bool:
        self.log.append(("admitted", site))
        return self.admit

    def confirm(self, site: str) -> None:
        self.log.append(("confirm", site))

    def finish(self, result, reason: str) -> None:
        self.log.append(("finish", reason))
