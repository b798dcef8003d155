"""Shared pieces of the ledger tests: a fixed coordinator key, a deterministic clock, a synthetic 10-round
ledger, and (run as a script) a writer that appends forever, for the SIGKILL tests."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from fedward.crypto import SigningKey
from fedward.ledger import LedgerWriter

KEY = SigningKey.from_seed(bytes(range(32)))
OTHER_KEY = SigningKey.from_seed(bytes(range(1, 33)))
LEDGER_ID = "run-2025-01-31-demo"
SITES = ["hospital-a", "hospital-b", "hospital-c"]


def digest(label: str) -> str:
    """A stand-in SHA-256 hex digest for a model, config or manifest."""
    return hashlib.sha256(label.encode()).hexdigest()


class Clock:
    """Seconds since a fixed start, one tick per call: deterministic ISO 8601 UTC times."""

    def __init__(self, start: int = 0) -> None:
        self.ticks = start

    def __call__(self) -> str:
        self.ticks += 1
        minutes, seconds = divmod(self.ticks, 60)
        hours, minutes = divmod(minutes, 60)
        return f"2025-01-31T{hours % 24:02d}:{minutes:02d}:{seconds:02d}Z"


def start_run(writer: LedgerWriter) -> None:
    writer.append(
        "run_started", run_id=LEDGER_ID, federation="demo", config_hash=digest("config"), code_hash="0.1.0"
    )
    for site in SITES:
        writer.append("site_admitted", site=site, key_id=hashlib.sha256(site.encode()).hexdigest()[:16])


def play_round(writer: LedgerWriter, rnd: int) -> None:
    """One round's entries: opened, two accepted and one rejected update, privacy, aggregate."""
    writer.append("round_opened", round=rnd, sites=SITES, model_hash=digest(f"model-{rnd - 1}"))
    for site in SITES[:2]:
        writer.append("update_accepted", round=rnd, site=site, manifest_hash=digest(f"{site}-{rnd}"))
    manifest = digest(f"c-{rnd}") if rnd % 2 else None
    writer.append("update_rejected", round=rnd, site=SITES[2], reason="stale round", manifest_hash=manifest)
    writer.append("privacy_spent", round=rnd, epsilons={site: 0.25 * rnd for site in SITES[:2]})
    writer.append("aggregate_computed", round=rnd, model_hash=digest(f"model-{rnd}"), contributors=SITES[:2])


def build_ledger(directory: Path, rounds: int = 10) -> None:
    """A finished run: `rounds` rounds with a checkpoint after each, releases at 5 and 10, run_finished."""
    with LedgerWriter(directory, KEY, LEDGER_ID, Clock()) as writer:
        start_run(writer)
        writer.checkpoint()
        for rnd in range(1, rounds + 1):
            play_round(writer, rnd)
            if rnd % 5 == 0:
                writer.append(
                    "release_signed", version=f"v{rnd // 5}", round=rnd, model_hash=digest(f"model-{rnd}")
                )
            writer.checkpoint()
        writer.append(
            "run_finished", rounds_completed=rounds, final_model_hash=digest(f"model-{rounds}"), reason="done"
        )
        writer.checkpoint()


def append_forever(directory: Path) -> None:
    """Resume the ledger and append rounds with checkpoints until killed (the SIGKILL tests' child)."""
    print("go", flush=True)
    with LedgerWriter(directory, KEY, LEDGER_ID, Clock()) as writer:
        if writer.size == 0:
            start_run(writer)
        rnd = writer.size
        while True:
            rnd += 1
            play_round(writer, rnd)
            writer.checkpoint()


if __name__ == "__main__":
    append_forever(Path(sys.argv[1]))
