"""`RosterWatch`: the coordinator's view of which sites it admits. It looks at roster.json and at the
round at most every `recheck_s` seconds, not on every request, and still sees a revocation after that."""

from datetime import UTC, datetime
from pathlib import Path

from fedward.coordinator.state import MemoryStateStore
from fedward.deployment import load_coordinator_kit, revoke_site
from fedward.deployment.roster_watch import RECHECK_S, RosterWatch


class CountingStore(MemoryStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.meta_reads = 0

    def meta(self, key: str) -> str | None:
        self.meta_reads += 1
        return super().meta(key)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _watch(kits: Path) -> tuple[RosterWatch, CountingStore, Clock]:
    kit = load_coordinator_kit(kits / "coordinator")
    store, clock = CountingStore(), Clock()
    return RosterWatch(kit.roster_file, kit.admin_public, store, clock=clock), store, clock


def test_a_revocation_is_seen_once_the_recheck_interval_has_passed(kits: Path) -> None:
    watch, _store, clock = _watch(kits)
    key = watch.site_key("haukeland")
    assert key is not None and RECHECK_S <= 0.5
    revoke_site(kits, "haukeland", 1, datetime.now(UTC))
    clock.now += RECHECK_S / 2
    assert watch.site_key("haukeland") == key  # not looked at again yet
    clock.now += RECHECK_S / 2
    assert watch.site_key("haukeland") is None
    assert watch.site_key("st-olav") is not None


def test_the_round_is_read_at_most_once_per_interval(kits: Path) -> None:
    watch, store, clock = _watch(kits)
    revoke_site(kits, "haukeland", 3, datetime.now(UTC))
    store.set_meta("round", "1")  # round 2 comes next: haukeland still takes part
    for _ in range(20):
        assert watch.site_key("haukeland") is not None
    assert store.meta_reads == 1
    store.set_meta("round", "2")
    assert watch.site_key("haukeland") is not None  # the round is at most RECHECK_S old
    clock.now += RECHECK_S
    assert watch.site_key("haukeland") is None and store.meta_reads == 2


def test_refused_names_a_site_revoked_for_the_round_asked_about(kits: Path) -> None:
    """What the round loop's transport asks while it waits (a site revoked mid-round stops holding it)."""
    watch, _store, clock = _watch(kits)
    assert watch.refused("haukeland", 2) is None and watch.refused("st-olav", 2) is None
    revoke_site(kits, "haukeland", 3, datetime.now(UTC))
    clock.now += RECHECK_S
    assert watch.refused("haukeland", 2) is None  # revoked from round 3 on: round 2 still waits for it
    reason = watch.refused("haukeland", 3)
    assert reason is not None and reason.startswith("revoked (roster version")
    assert watch.refused("st-olav", 3) is None
    assert watch.refused("nobody", 3) is None  # not the roster's to say: the round loop's checks decide
