"""A site revoked mid-run leaves the selection from the next round on, so no round waits for it; when
fewer admitted sites remain than a round needs, the run stops cleanly with the last good model.

The attack is the stall of issue 17: after `fedward revoke` the loop kept sending the revoked site its
tasks (and, deployed, waited for replies that can never come). Each test has its power check: with the
selection filter taken away (the old behaviour), the revoked site is still sent tasks.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import fedward.coordinator.federation as federation
from fedward.config import parse_config
from fedward.coordinator import run_federation
from fedward.coordinator.audit import Audit
from fedward.coordinator.federation import too_few_admitted
from fedward.coordinator.selection import admitted_sites, select_sites
from fedward.core.messages import Reply, Task, TaskKind
from fedward.errors import FederationError
from fedward.ledger import entries_path, utc_clock
from fedward.run.audit import open_audit
from fedward.run.plan import plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.site import LocalData, Site
from fedward.site.policy import SitePolicy
from fedward.transport import InMemoryTransport
from fedward.trust import new_federation_keys, revoke


def site_data(seed: int, n: int = 40) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = tuple("yes" if v > 0 else "no" for v in x[:, 0] + 0.1 * rng.normal(size=n))
    return LocalData(x[:30], y[:30], x[30:], y[30:], ("a", "b", "c"))


class Recording:
    """A site that answers every task and records which (kind, round) it was sent."""

    def __init__(self, site: Site) -> None:
        self.site, self.sent = site, []

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task) -> Reply:
        self.sent.append((task.kind, task.round))
        return self.site.handle(task)


def _run(tmp: Path, sites: list[str], rounds: int, min_sites: int, revoke_after: dict[int, list[str]]):
    """An audited in-process run; after round r, the sites in `revoke_after[r]` are revoked from r + 1
    (as a deployed coordinator takes up a roster `fedward revoke` rewrote: `Audit.update_roster`)."""
    raw = {
        "federation": {
            "task": "tabular",
            "name": "oncology",
            "rounds": rounds,
            "seed": 3,
            "min_sites": min_sites,
        },
        "model": {"name": "logistic"},
        "strategy": {"batch_size": 8, "lr": 0.1},
        "sites": [{"name": s, "train": f"{s}-train.csv", "test": f"{s}-test.csv"} for s in sites],
    }
    cfg = parse_config(raw, source=tmp / "federation.toml")
    keys = new_federation_keys(cfg.federation.name, sites, utc_clock())
    work = tmp / "work"
    work.mkdir()
    audit = open_audit(work, keys, cfg.federation.name, "run-1", utc_clock)
    policy = SitePolicy.simulation_default()
    handlers = {
        name: Recording(Site(name, site_data(i), site_trust(cfg, keys, name, "f" * 64, policy, utc_clock)))
        for i, name in enumerate(sites)
    }

    def on_round(record) -> None:
        for site in revoke_after.get(record.round, []):
            audit.update_roster(revoke(audit.roster, site, record.round + 1))

    transport = InMemoryTransport(list(handlers.values()))
    try:
        result = run_federation(transport, plan_for(cfg, "run-1", None), strategy_for(cfg), on_round, audit)
    finally:
        transport.close()
        audit.ledger.close()
    return result, handlers, work


def _entries(work: Path) -> list[dict]:
    return [json.loads(line) for line in entries_path(work).read_text().splitlines()]


def _rounds_sent(handler: Recording) -> set[int]:
    return {rnd for _, rnd in handler.sent}


def _old_selection(monkeypatch) -> None:
    """The defence off: every set-up site is eligible every round, and the run never stops for it."""
    monkeypatch.setattr(federation, "admitted_sites", lambda sites, admitted, rnd: list(sites))
    monkeypatch.setattr(federation, "too_few_admitted", lambda ctx, eligible, rnd: None)


SITES = ["a", "b", "c", "d"]


def test_a_site_revoked_after_round_2_is_sent_no_later_task_and_the_run_goes_on(tmp_path):
    result, handlers, work = _run(tmp_path, SITES, rounds=4, min_sites=2, revoke_after={2: ["d"]})
    assert _rounds_sent(handlers["d"]) == {0, 1, 2}  # describe, then rounds 1 and 2 only
    assert all(_rounds_sent(handlers[s]) == {0, 1, 2, 3, 4} for s in "abc")
    assert [r.selected for r in result.rounds] == [SITES, SITES, ["a", "b", "c"], ["a", "b", "c"]]
    assert [r.not_admitted for r in result.rounds] == [[], [], ["d"], ["d"]]
    assert result.rounds_completed == 4 and result.stopped is None
    assert all("d" not in r.evaluation for r in result.rounds[2:])
    entries = _entries(work)
    revoked = [e for e in entries if e["kind"] == "site_revoked"]
    assert [(e["site"], e["reason"]) for e in revoked] == [("d", "from round 3 (roster version 2)")]
    opened = [e for e in entries if e["kind"] == "round_opened"]
    assert [e.get("not_admitted") for e in opened] == [None, None, ["d"], ["d"]]
    assert entries[-1]["kind"] == "run_finished" and entries[-1]["reason"] == "all rounds run"


def test_power_without_the_filter_the_revoked_site_is_still_sent_tasks(tmp_path, monkeypatch):
    _old_selection(monkeypatch)
    result, handlers, _ = _run(tmp_path, SITES, rounds=4, min_sites=2, revoke_after={2: ["d"]})
    assert {(TaskKind.FIT, 3), (TaskKind.FIT, 4)} <= set(handlers["d"].sent)  # the stall of issue 17
    assert result.rounds[2].selected == SITES


def test_too_few_admitted_sites_end_the_run_with_the_last_good_model_and_a_reason(tmp_path):
    result, handlers, work = _run(
        tmp_path, ["a", "b", "c"], rounds=5, min_sites=2, revoke_after={2: ["b", "c"]}
    )
    assert result.rounds_completed == 2 and len(result.rounds) == 2
    assert result.stopped is not None
    assert "round 3: fewer than min_sites=2 admitted sites remain (1 of 3; revoked or expired: b, c)" in (
        result.stopped
    )
    assert result.privacy.stopped is None  # not the privacy budget
    assert all(_rounds_sent(handlers[s]) == {0, 1, 2} for s in "abc")  # round 3 never opened
    entries = _entries(work)
    finished = entries[-1]
    assert finished["kind"] == "run_finished" and finished["reason"] == result.stopped
    assert finished["rounds_completed"] == 2
    release = next(e for e in entries if e["kind"] == "release_signed")
    assert release["round"] == 2
    assert (work / "releases" / "final").is_dir()
    assert not any(e["kind"] == "round_opened" and e["round"] == 3 for e in entries)


def test_power_without_the_stop_the_run_keeps_asking_the_revoked_sites(tmp_path, monkeypatch):
    _old_selection(monkeypatch)
    result, handlers, _ = _run(tmp_path, ["a", "b", "c"], rounds=4, min_sites=2, revoke_after={2: ["b", "c"]})
    assert result.stopped is None and len(result.rounds) == 4
    assert (TaskKind.FIT, 4) in handlers["c"].sent
    assert result.rounds_completed == 2  # rounds 3 and 4 ran for nothing: the revoked updates are refused


def test_no_round_completed_stays_a_federation_error(tmp_path, monkeypatch):
    real = Audit.admitted
    monkeypatch.setattr(Audit, "admitted", lambda self, site, rnd: site == "a" and real(self, site, rnd))
    with pytest.raises(FederationError, match="no round completed: round 1: fewer than min_sites=2"):
        _run(tmp_path, ["a", "b", "c"], rounds=3, min_sites=2, revoke_after={})


def _ctx(sites: list[str], min_sites: int, floor: int):
    plan = SimpleNamespace(min_sites=min_sites)
    return SimpleNamespace(
        plan=plan, setup=SimpleNamespace(sites=sites), privacy=SimpleNamespace(min_contributors=floor)
    )


def test_with_secure_aggregation_the_floor_is_the_threshold_not_only_min_sites():
    ctx = _ctx(["a", "b", "c", "d", "e"], min_sites=1, floor=3)
    assert too_few_admitted(ctx, ["a", "b", "c"], 4) is None
    reason = too_few_admitted(ctx, ["a", "b"], 4)
    assert reason is not None and "fewer than 3 (min_sites=1 and the secure aggregation threshold)" in reason
    assert "(2 of 5; revoked or expired: c, d, e)" in reason


def test_selection_is_unchanged_while_every_site_is_admitted_and_seeded_after():
    sites = [f"s{i}" for i in range(10)]
    everyone = admitted_sites(sites, lambda s, r: True, 3)
    assert select_sites(everyone, 0.5, 1, seed=7, round_=3) == select_sites(sites, 0.5, 1, seed=7, round_=3)
    fewer = admitted_sites(sites, lambda s, r: s != "s4", 3)
    assert fewer == [s for s in sites if s != "s4"]
    first = select_sites(fewer, 0.5, 1, seed=7, round_=3)
    assert first == select_sites(fewer, 0.5, 1, seed=7, round_=3)  # deterministic given seed and list
    assert "s4" not in first and len(first) == 5  # ceil(0.5 * 9)
