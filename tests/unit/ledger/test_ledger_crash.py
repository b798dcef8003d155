"""SIGKILL at random moments while a child process resumes the ledger, appends entries and signs
checkpoints: after every kill the ledger verifies, nothing acknowledged is lost, and the next writer
carries on from where the killed one stopped.

A kill cannot split one small write(2), so torn lines show up here rarely if ever; test_ledger_writer
cuts the last line at every byte instead, which covers what a short write or a power cut can leave."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

from ledger_harness import KEY, LEDGER_ID, Clock, play_round

from fedward.ledger import LedgerWriter, verify_ledger

HARNESS = Path(__file__).with_name("ledger_harness.py")
TRIALS = 20


def kill_while_writing(directory: Path, delay: float) -> None:
    """Start a writer child; once it is about to open the ledger, wait `delay` seconds and SIGKILL it."""
    child = subprocess.Popen([sys.executable, str(HARNESS), str(directory)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"go\n"
        try:
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL  # it never stops on its own
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_sigkill_at_random_times_leaves_a_verifiable_ledger(tmp_path: Path) -> None:
    rng = random.Random(20250131)
    directory = tmp_path / "run"
    committed = entries = 0
    for _ in range(TRIALS):
        kill_while_writing(directory, delay=rng.uniform(0.0, 0.08))
        if not (directory / "ledger").exists():  # killed before the ledger was created: nothing to check
            continue
        report = verify_ledger(directory, KEY.public)
        assert report.committed >= committed and report.entries >= entries  # acknowledged work survives
        assert report.uncommitted == report.entries - report.committed
        committed, entries = report.committed, report.entries
    assert entries > 0
    with LedgerWriter(directory, KEY, LEDGER_ID, Clock()) as writer:
        assert writer.size == entries  # complete lines kept, torn tails cut
        play_round(writer, 1_000)
        writer.checkpoint()
    report = verify_ledger(directory, KEY.public)
    assert (report.entries, report.uncommitted, report.torn_bytes) == (entries + 6, 0, 0)
