"""describe_ledger: one readable line per entry, rounds indented, for `fedward ledger show DIR`."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_harness import build_ledger, digest

from fedward.ledger import LedgerError, describe_ledger, entries_path


def test_describe_a_ten_round_run(tmp_path: Path) -> None:
    build_ledger(tmp_path)
    lines = describe_ledger(tmp_path)
    assert len(lines) == 67
    assert lines[0] == (
        "2025-01-31T00:00:01Z  run run-2025-01-31-demo of federation demo started: "
        f"config {digest('config')[:12]}, code 0.1.0"
    )
    assert lines[4].endswith(
        f"round 1 opened with 3 sites (hospital-a, hospital-b, hospital-c), model {digest('model-0')[:12]}"
    )
    assert lines[5].endswith(f"  update from hospital-a accepted (manifest {digest('hospital-a-1')[:12]})")
    assert lines[7].endswith(
        f"  update from hospital-c rejected: stale round (manifest {digest('c-1')[:12]})"
    )
    assert lines[8].endswith("  privacy spent, epsilon so far: hospital-a=0.25, hospital-b=0.25")
    assert lines[9].endswith(
        f"  aggregate: model {digest('model-1')[:12]} from 2 sites (hospital-a, hospital-b)"
    )
    assert any(line.endswith("rejected: stale round (manifest none)") for line in lines)
    assert sum("release v" in line for line in lines) == 2
    assert lines[-1].endswith(f"run finished after 10 rounds (done): final model {digest('model-10')[:12]}")


def test_describe_refuses_a_malformed_ledger(tmp_path: Path) -> None:
    build_ledger(tmp_path)
    path = entries_path(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"seq":3,', b'"seq":4,', 1))
    with pytest.raises(LedgerError, match="seq 4"):
        describe_ledger(tmp_path)
