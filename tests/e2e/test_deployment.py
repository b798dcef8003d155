"""A deployed federation end to end on loopback with real processes: a coordinator and three sites over
mutual TLS. The deployed run's final model is bit-identical to `fedward simulate`'s for the same file,
and stays so when the coordinator is SIGKILLed at random points and started again."""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deployed import Deployment, provisioned
from federations import run_cli
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateSchema, DropSchema

from fedward.coordinator.state import SqlStateStore, sql_url_for

pytestmark = pytest.mark.slow

SITES = ["site_00", "site_01", "site_02"]


def _simulated_model(cfg: Path, out: Path) -> bytes:
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    return (out / "model" / "global.safetensors").read_bytes()


def _deploy(tmp: Path, env: dict[str, str] | None = None, **kwargs: object) -> tuple[Path, Deployment]:
    cfg, kits, _ = provisioned(tmp, **kwargs)  # type: ignore[arg-type]
    logs = tmp / "logs"
    logs.mkdir()
    return cfg, Deployment(kits, SITES, logs, env=env or {})


@contextlib.contextmanager
def _postgres_schema() -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh schema on the test PostgreSQL server: (URL without its password, env with PGPASSWORD).
    Skipped without a server, failed under CI=true (CI must run it), like the contract suite."""
    url = os.environ.get("FEDWARD_TEST_POSTGRES_URL", "").strip()
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL not available under CI=true: .ci/run starts one")
        pytest.skip("PostgreSQL not available: set FEDWARD_TEST_POSTGRES_URL or run scripts/postgres.sh")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(CreateSchema(schema))
    parsed = make_url(url)
    bare = parsed._replace(password=None).set(query={"options": f"-csearch_path={schema}"})
    try:
        yield bare.render_as_string(hide_password=False), {"PGPASSWORD": parsed.password or ""}
    finally:
        with engine.begin() as c:
            c.execute(DropSchema(schema, cascade=True))
        engine.dispose()


def _finish(dep: Deployment) -> Path:
    rc, sites = dep.wait()
    assert rc == 0, dep.log_text()
    assert sites == dict.fromkeys(SITES, 0), dep.log_text()
    return dep.kits / "coordinator" / "run"


def test_deployed_run_matches_simulation(tmp_path):
    _deployed_run_matches_simulation(tmp_path, "")


def test_deployed_run_on_postgresql_matches_simulation(tmp_path):
    with _postgres_schema() as (url, env):
        _deployed_run_matches_simulation(tmp_path, f'database = "{url}"\n', env)


def _deployed_run_matches_simulation(
    tmp_path: Path, database: str, env: dict[str, str] | None = None
) -> None:
    cfg, dep = _deploy(tmp_path, env, deployment_extra=database)
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
    assert run_cli(["run", "verify", str(run)]) == 0  # the signed manifest of the deployed run directory
    for site in SITES:  # each site exported the last checkpoint it accepted; the ledger extends it
        witnessed = dep.kits / site / "witness" / f"{summary['run_id']}.json"
        assert run_cli(["ledger", "verify", str(run), "--checkpoint", str(witnessed)]) == 0
    status = dep.status()
    assert status["state"] == "finished" and status["round"] == 3
    # the state went where [deployment] database said: no SQLite file in the kit when PostgreSQL is named
    assert (dep.kits / "coordinator" / "state" / "coordinator.db").exists() == (not database)
    assert set(status["sites"]) == set(SITES)  # type: ignore[arg-type]


def _journal_round(dep: Deployment) -> int:
    """The coordinator's last finished round, read straight from its state (it may be dead)."""
    db = dep.kits / "coordinator" / "state" / "coordinator.db"
    if not db.exists():
        return 0
    store = SqlStateStore(sql_url_for(db))
    try:
        return int(store.meta("round") or 0)
    finally:
        store.close()


def _logged_round(dep: Deployment) -> int:
    """The last round a coordinator of this deployment logged as finished (its state is not opened
    while it runs)."""
    finished = [
        json.loads(line)["round"]
        for log in dep.logs.glob("coordinator-*.log")
        for line in log.read_text(errors="replace").splitlines()
        if '"event":"round_finished"' in line
    ]
    return max(finished, default=0)


def _wait_for_a_new_round(dep: Deployment, after: int, timeout: float = 240) -> bool:
    """Wait until a coordinator logs a round past `after` as finished (a restarted one first logs again
    the rounds it replays from its journal): True, or False if the coordinator exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = dep.coordinator is None or dep.coordinator.poll() is not None
        if _logged_round(dep) > after:
            return True
        if exited:
            return False
        time.sleep(0.05)
    raise AssertionError(f"no round past {after} finished within {timeout:.0f} s:\n{dep.log_text()}")


def _kill_at_random_points(dep: Deployment, rng: random.Random, kills: int, rounds: int) -> list[int]:
    """SIGKILL the coordinator `kills` times at random moments of the run, restarting it each time; the
    rounds the journal had reached at each kill. The first kill comes at a random moment after the
    coordinator listens (the sites connecting, the first round); each later one at a random moment after
    the restarted coordinator finished a new round, so that every restart makes progress and the kills
    spread over the rounds. (Kills timed from a process's start landed during its imports on a loaded
    machine, and kills that came before the sites' growing backoff brought them back made the run crawl.)
    No kill once the last round is logged: the kills must land while the run is going."""
    reached: list[int] = []
    for i in range(kills):
        if i == 0:
            dep.wait_listening()
            time.sleep(rng.uniform(0.5, 3.0))
        elif _wait_for_a_new_round(dep, after=reached[-1]):
            time.sleep(rng.uniform(0.0, 0.5))  # rounds here take about 1 s on an idle machine
        else:
            break  # the run ended
        if dep.coordinator is None or dep.coordinator.poll() is not None or _logged_round(dep) >= rounds:
            break
        dep.kill_coordinator()
        reached.append(_journal_round(dep))
        dep.start_coordinator()
    return reached


def test_sigkill_at_random_points_resumes_bit_identically(tmp_path):
    cfg, dep = _deploy(tmp_path, rounds=4, extra="[privacy]\nsecure_aggregation = true\n")
    try:
        dep.start_coordinator()
        dep.start_sites()
        reached = _kill_at_random_points(dep, random.Random(20261128), kills=4, rounds=4)
        run = _finish(dep)
    finally:
        dep.stop()
    # power: the kills landed while the run was going, not before it started or after it ended
    assert reached and max(reached) < 4, reached
    assert (run / "model" / "global.safetensors").read_bytes() == _simulated_model(cfg, tmp_path / "sim")
    assert run_cli(["ledger", "verify", str(run)]) == 0
    rounds = [json.loads(line)["round"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rounds == [1, 2, 3, 4]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["privacy"]["secure_aggregation"]["enabled"]


def test_sigkill_loses_and_double_counts_no_privacy_spend(tmp_path):
    extra = '[privacy]\ndp = "record"\nnoise_multiplier = 1.0\nclip_norm = 1.0\n'
    cfg, dep = _deploy(tmp_path, rounds=3, extra=extra)
    try:
        dep.start_coordinator()
        dep.start_sites()
        reached = _kill_at_random_points(dep, random.Random(7), kills=3, rounds=3)
        run = _finish(dep)
    finally:
        dep.stop()
    assert reached, "the run finished before the first kill: nothing was tested"
    deployed = json.loads((run / "summary.json").read_text())["privacy"]
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "sim"), "--no-baselines"]) == 0
    simulated = json.loads((tmp_path / "sim" / "summary.json").read_text())["privacy"]
    # the spend is a function of the events only: one per site per round, whatever the restarts
    assert deployed["epsilon_by_round"] == simulated["epsilon_by_round"]
    assert {s: e["epsilon"] for s, e in deployed["sites"].items()} == {
        s: e["epsilon"] for s, e in simulated["sites"].items()
    }
    store = SqlStateStore(sql_url_for(dep.kits / "coordinator" / "state" / "coordinator.db"))
    try:
        assert {s: len(store.privacy_events(s)) for s in SITES} == dict.fromkeys(SITES, 3)
    finally:
        store.close()
