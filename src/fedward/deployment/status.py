"""`fedward coordinator status KIT`: where a deployed run stands, read from the coordinator's state.

It reads the state store directly (not the API), so it works while the coordinator is down, which is
when an administrator most wants to know how far the run got.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from fedward.coordinator.state import open_state_store, sql_url_for
from fedward.deployment.coordinator import STATE_DIR
from fedward.deployment.kits import load_coordinator_kit

__all__ = ["coordinator_status"]


def coordinator_status(kit_dir: Path) -> dict[str, Any]:
    kit = load_coordinator_kit(kit_dir)
    db = kit.path / STATE_DIR / "coordinator.db"
    if kit.database is None and not db.exists():
        sites: dict[str, Any] = {s: {"last_seen": None, "open_tasks": 0} for s in kit.sites}
        return {"round": 0, "state": "not started", "run_id": None, "rounds_completed": 0, "sites": sites}
    store = open_state_store(kit.database or sql_url_for(db))
    try:
        rounds = [json.loads(r.body) for r in store.rounds()]
        seen = store.last_seen()
        epsilon = rounds[-1].get("epsilon", {}) if rounds else {}
        sites = {}
        for site in kit.sites:
            sites[site] = {"last_seen": seen.get(site), "open_tasks": len(store.open_tasks(site))}
            if site in epsilon:
                sites[site]["epsilon"] = epsilon[site]
        return {
            "round": int(store.meta("round") or 0),
            "state": store.meta("state") or "starting",
            "run_id": store.meta("run_id"),
            "rounds_completed": sum(1 for r in rounds if r.get("aggregated")),
            "sites": sites,
            "rejections": dict(Counter(reason for _, reason, _, _ in store.rejections())),
            "reason": store.meta("reason"),
        }
    finally:
        store.close()
