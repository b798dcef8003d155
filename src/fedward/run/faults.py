"""Injected dropouts for tests and demos (`[[faults]]`): a site that goes silent at one stage of a round.

- `before_train`: the site never answers the round's fit task;
- `before_upload`: it trains but its update never arrives (under secure aggregation: it has shared its
  keys but drops before sending its masked update, so its pairwise masks must be removed);
- `after_upload`: its update arrives but it answers nothing more that round (under secure aggregation:
  it is silent at unmasking, so its self mask must be rebuilt from the other sites' shares).
A dropped site stays silent for the rest of that round (its evaluation included) and is back the next.

`fedward simulate` applies them as the file says. A deployed site applies them only under the test-only
switch `FEDWARD_TEST_FAULTS=1`, which the CLI's `site run` alone reads (and logs loudly); without it a
deployed site whose federation file has `[[faults]]` refuses to start, so production never drops out by
accident.
"""

from __future__ import annotations

from collections.abc import Iterable

from fedward.config import FaultConfig
from fedward.core.messages import Reply, Task, TaskKind
from fedward.transport.base import SiteHandler, SiteSilent

__all__ = ["FaultySite"]


class FaultySite:
    """A `SiteHandler` that answers as the wrapped site does, except at the injected faults, where it
    goes silent: it raises `SiteSilent`, which an in-process transport reports as a TIMEOUT (as data,
    like a real dropout) and a deployed site's loop as a FAILED reply."""

    def __init__(self, site: SiteHandler, faults: Iterable[FaultConfig]) -> None:
        self._site = site
        self._faults = {(f.round, f.stage) for f in faults if f.site == site.name}

    @property
    def name(self) -> str:
        return self._site.name

    def handle(self, task: Task) -> Reply:
        stage = self._stage(task)
        if stage is None:
            return self._site.handle(task)
        if stage == "before_upload" and task.kind is TaskKind.FIT:
            self._site.handle(task)  # it trains, then its update is lost
        raise SiteSilent(f"site {self.name} dropped out {stage} (injected fault)")

    def _stage(self, task: Task) -> str | None:
        """The injected fault that answering `task` would run into, if any."""
        active = {stage for rnd, stage in self._faults if rnd == task.round}
        if task.kind is TaskKind.FIT:
            secure = "secagg_session" in task.config
            candidates = ["before_train"] if secure else ["before_train", "before_upload"]
        elif task.kind is TaskKind.SECAGG:
            stage = {"mask": "before_upload", "unmask": "after_upload"}.get(
                str(task.config.get("secagg_stage"))
            )
            candidates = [stage] if stage else []
        elif task.kind is TaskKind.EVALUATE:
            candidates = ["before_train", "before_upload", "after_upload"]  # silent for the rest of the round
        else:
            candidates = []
        return next((c for c in candidates if c in active), None)
