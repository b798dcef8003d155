"""A deployed federation end to end on loopback with real processes: a coordinator and three sites over
mutual TLS. The deployed run's final model is bit-identical to `fedward simulate`'s for the same file,
and stays so when the coordinator is SIGKILLed at random points and started again."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from deployed import Deployment, provisioned
from federations import run_cli

pytestmark = pytest.mark.slow

SITES = ["site_00", "site_01", "site_02"]


def _simulated_model(cfg: Path, out: Path) -> bytes:
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    return (out / "model" / "global.safetensors").read_bytes()


def _deploy(tmp: Path, **kwargs: object) -> tuple[Path, Deployment]:
    cfg, kits, _ = provisioned(tmp, **kwargs)  # type: ignore[arg-type]
    logs = tmp / "logs"
    logs.mkdir()
    return cfg, Deployment(kits, SITES, logs)


def _finish(dep: Deployment) -> Path:
    rc, sites = dep.wait()
    assert rc == 0, dep.log_text()
    assert sites == dict.fromkeys(SITES, 0), dep.log_text()
    return dep.kits / "coordinator" / "run"


def test_deployed_run_matches_simulation(tmp_path):
    cfg, dep = _deploy(tmp_path)
    try:
        dep.start_coordinator()
        dep.start_sites()
        run = _finish(dep)
    finally:
        dep.stop()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["rounds_completed"] == 3
    assert summary["sites"] == SITES
    assert (run / "model" / "global.safetensors").read_bytes() == _simulated_model(cfg, tmp_path / "sim")
    assert run_cli(["ledger", "verify", str(run)]) == 0
    assert run_cli(["release", "verify", str(run / "releases" / "final")]) == 0
    status = dep.status()
    assert status["state"] == "finished" and status["round"] == 3
    assert set(status["sites"]) == set(SITES)  # type: ignore[arg-type]


def test_sigkill_at_random_points_resumes_bit_identically(tmp_path):
    extra = "[privacy]\nsecure_aggregation = true\n"
    cfg, dep = _deploy(tmp_path, rounds=4, extra=extra)
    rng = random.Random(20261128)
    kills = 0
    try:
        dep.start_coordinator()
        dep.start_sites()
        for _ in range(3):
            time.sleep(rng.uniform(2.0, 6.0))
            if dep.coordinator is None or dep.coordinator.poll() is not None:
                break
            dep.kill_coordinator()
            kills += 1
            dep.start_coordinator()
        run = _finish(dep)
    finally:
        dep.stop()
    assert kills >= 1, "the run finished before the first kill: nothing was tested"
    assert (run / "model" / "global.safetensors").read_bytes() == _simulated_model(cfg, tmp_path / "sim")
    assert run_cli(["ledger", "verify", str(run)]) == 0
    rounds = [json.loads(line)["round"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rounds == [1, 2, 3, 4]
