"""Shared builders for the tests of `fedward.run`: a small federation config (no data files are read),
tiny tabular site data, and a one-round audited federation in memory."""

from pathlib import Path

import numpy as np

from fedward.config import FederationConfig, parse_config
from fedward.coordinator import FederationResult, run_federation
from fedward.core.messages import Reply, Task
from fedward.ledger import utc_clock
from fedward.run.audit import open_audit
from fedward.run.plan import plan_for, strategy_for
from fedward.run.site_trust import site_trust
from fedward.site import LocalData, Site
from fedward.site.policy import SitePolicy
from fedward.transport import InMemoryTransport
from fedward.trust import FederationKeys, new_federation_keys

__all__ = ["SITES", "Recorder", "TaskRecorder", "audited_run", "config", "site_data"]

SITES = ["st-olav", "haukeland"]


def config(tmp: Path, rounds: int = 1) -> FederationConfig:
    raw = {
        "federation": {"task": "tabular", "name": "oncology", "rounds": rounds, "seed": 3, "min_sites": 1},
        "model": {"name": "logistic"},
        "strategy": {"batch_size": 8, "lr": 0.1},
        "sites": [{"name": s, "train": f"{s}-train.csv", "test": f"{s}-test.csv"} for s in SITES],
    }
    return parse_config(raw, source=tmp / "federation.toml")


def site_data(seed: int, n: int = 40) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = tuple("yes" if v > 0 else "no" for v in x[:, 0] + 0.1 * rng.normal(size=n))
    return LocalData(x[:30], y[:30], x[30:], y[30:], ("a", "b", "c"))


class Recorder:
    """A site handler that passes tasks through and keeps every reply (to read the signed manifests)."""

    def __init__(self, site: Site) -> None:
        self.site, self.replies = site, []

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task) -> Reply:
        reply = self.site.handle(task)
        self.replies.append(reply)
        return reply


class TaskRecorder:
    """A site handler that passes tasks through and keeps every task it was sent."""

    def __init__(self, site: Site) -> None:
        self.site, self.tasks = site, []

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task) -> Reply:
        self.tasks.append(task)
        return self.site.handle(task)


def audited_run(
    tmp: Path, policies: dict[str, SitePolicy]
) -> tuple[FederationKeys, Path, FederationResult, dict[str, Recorder]]:
    """One audited round in memory, every site's trust built by `run.site_trust` with its policy."""
    cfg = config(tmp)
    keys = new_federation_keys(cfg.federation.name, SITES, utc_clock())
    work = tmp / "work"
    work.mkdir()
    audit = open_audit(work, keys, cfg.federation.name, "run-1", utc_clock)
    sites = {
        name: Recorder(
            Site(name, site_data(i), site_trust(cfg, keys, name, "f" * 64, policies[name], utc_clock))
        )
        for i, name in enumerate(SITES)
    }
    transport = InMemoryTransport(list(sites.values()))
    try:
        result = run_federation(transport, plan_for(cfg, "run-1", None), strategy_for(cfg), None, audit)
    finally:
        transport.close()
        audit.ledger.close()
    return keys, work, result, sites
