"""A site revoked in the middle of a round no longer holds the round until `deadline_seconds`.

A deployed coordinator's transport asks the roster (RosterWatch.refused, tested in
tests/unit/deployment/test_roster_watch.py) while it waits for replies; once the roster revokes a site
whose task is open, the task is closed with a journaled `revoked` record, the round goes on with the
others, and the ledger records the revoked site's `update_rejected`. Here a real round runs through the
service (sites in their own loops over HTTP, an audited ledger), with a site that stops answering (as a
revoked site, refused by the API, does) and is revoked a moment after its task arrives. Power check:
without the roster hook the round waits for the deadline. Under secure aggregation a site revoked before
its masked input is a dropout the protocol recovers from (its pairwise masks removed); one revoked after
uploading it stays in that round's sum (its input cannot be taken out of the sum), as docs say.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from transports import connect_service

from fedward.config import parse_config
from fedward.coordinator import FederationResult, run_federation
from fedward.coordinator.service.transport import Refused
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.ledger import entries_path, utc_clock
from fedward.run.audit import open_audit
from fedward.run.plan import plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.site import LocalData, Site
from fedward.site.policy import SitePolicy
from fedward.trust import new_federation_keys

SITES = ["st-olav", "haukeland", "ous"]
DEADLINE_S = 4.0


def _data(seed: int, n: int = 40) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = tuple("yes" if v > 0 else "no" for v in x[:, 0] + 0.1 * rng.normal(size=n))
    return LocalData(x[:30], y[:30], x[30:], y[30:], ("a", "b", "c"))


class Silenced:
    """A site that answers until its first fit task, then never again (its requests would be refused:
    the roster revokes it), and is revoked `after_s` after that task arrives."""

    def __init__(
        self, site: Site, revoked: set[str], after_s: float, silent_at: tuple[TaskKind, int]
    ) -> None:
        self.site, self._revoked, self._after = site, revoked, after_s
        self._kind, self._nth = silent_at
        self.release = threading.Event()

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task) -> Reply:
        if task.kind == self._kind:
            self._nth -= 1
        if task.kind != self._kind or self._nth > 0:
            return self.site.handle(task)
        threading.Timer(self._after, self._revoked.add, args=(self.name,)).start()
        self.release.wait(60)
        raise RuntimeError("revoked: cannot deliver")


def _round(
    tmp: Path, hooked: bool, secure: bool = False, silent_at: tuple[TaskKind, int] = (TaskKind.FIT, 1)
) -> tuple[float, Reply, list[dict], FederationResult]:
    """One audited round over the service; haukeland goes silent and is revoked 0.3 s into its fit.
    The fit step's seconds, haukeland's fit reply, and the ledger's entries."""
    raw = {
        "federation": {"task": "tabular", "name": "oncology", "rounds": 1, "seed": 3, "min_sites": 1,
                       "deadline_seconds": DEADLINE_S},
        "model": {"name": "logistic"},
        "strategy": {"batch_size": 8, "lr": 0.1},
        "privacy": {"secure_aggregation": secure},
        "sites": [{"name": s, "train": f"{s}-train.csv", "test": f"{s}-test.csv"} for s in SITES],
    }  # fmt: skip
    cfg = parse_config(raw, source=tmp / "federation.toml")
    keys = new_federation_keys(cfg.federation.name, SITES, utc_clock())
    work = tmp / "work"
    work.mkdir()
    audit = open_audit(work, keys, cfg.federation.name, "run-1", utc_clock)
    policy = SitePolicy.simulation_default()
    sites = [Site(n, _data(i), site_trust(cfg, keys, n, "f" * 64, policy, utc_clock)) for i, n in
             enumerate(SITES)]  # fmt: skip
    revoked: set[str] = set()
    silenced = Silenced(sites[1], revoked, 0.3, silent_at)

    def refused(site: str, rnd: int) -> str | None:
        return "revoked (roster version 2)" if site in revoked else None

    hook: Refused | None = refused if hooked else None
    connected = connect_service([sites[0], silenced, *sites[2:]], tmp / "service", hook)
    fit_reply: list[Reply] = []
    fit_seconds: list[float] = []
    original = connected.transport.exchange

    def exchange(tasks, deadline_s):  # time the fit step; keep haukeland's reply as the loop saw it
        start = time.monotonic()
        replies = original(tasks, deadline_s)
        if tasks and tasks[0].kind == silent_at[0] and "haukeland" in replies:
            fit_seconds.append(time.monotonic() - start)
            fit_reply.append(replies["haukeland"])
        return replies

    connected.transport.exchange = exchange  # type: ignore[method-assign]
    try:
        result = run_federation(connected.transport, plan_for(cfg, "run-1", None), strategy_for(cfg),
                                None, audit)  # fmt: skip
        assert result.rounds_completed == 1
    finally:
        silenced.release.set()
        audit.ledger.close()
        connected.close()
    entries = [json.loads(line) for line in entries_path(work).read_text().splitlines()]
    nth = silent_at[1] - 1  # the step haukeland went silent in
    return fit_seconds[nth], fit_reply[nth], entries, result


def _rejected(entries: list[dict]) -> dict[str, str]:
    return {e["site"]: e["reason"] for e in entries if e["kind"] == "update_rejected"}


def test_a_site_revoked_mid_round_stops_holding_the_round_and_is_recorded(tmp_path: Path) -> None:
    seconds, reply, entries, _ = _round(tmp_path, hooked=True)
    assert seconds < DEADLINE_S - 1.0  # the round did not wait for the deadline
    assert reply.status == ReplyStatus.FAILED
    assert "site revoked during round 1" in (reply.error or "")
    rejected = _rejected(entries)
    assert list(rejected) == ["haukeland"] and "site revoked during round 1" in rejected["haukeland"]


def test_power_check_without_the_roster_hook_the_round_waits_for_the_deadline(tmp_path: Path) -> None:
    seconds, reply, entries, _ = _round(tmp_path, hooked=False)
    assert seconds >= DEADLINE_S
    assert reply.status == ReplyStatus.TIMEOUT
    assert "no reply within" in _rejected(entries)["haukeland"]


@pytest.mark.parametrize(
    ("step", "recovered", "why"),
    [(1, 0, "dropped before sending its key shares"), (2, 1, "dropped before uploading its masked update")],
    ids=["at-key-shares", "at-masked-input"],
)
def test_under_secure_aggregation_a_site_revoked_before_its_masked_input_is_a_recovered_dropout(
    tmp_path: Path, step: int, recovered: int, why: str
) -> None:
    seconds, reply, entries, result = _round(
        tmp_path, hooked=True, secure=True, silent_at=(TaskKind.SECAGG, step)
    )
    assert seconds < DEADLINE_S - 1.0
    assert reply.status == ReplyStatus.FAILED and "site revoked during round 1" in (reply.error or "")
    record = result.rounds[0]
    assert record.aggregated, record.reason  # the other two sites' sum
    assert record.secagg == {"contributors": 2, "recovered": recovered}
    assert why in (record.outcomes["haukeland"].error or "")
    # the ledger names the round's contributors without it (the reason is in the round's record)
    aggregate = [e for e in entries if e["kind"] == "aggregate_computed"]
    assert [sorted(e["contributors"]) for e in aggregate] == [["ous", "st-olav"]]
