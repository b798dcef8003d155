"""`fedward coordinator serve KIT`: the coordinator service, from start (or restart) to a finished run.

It serves the API over mutual TLS in a background thread and runs the same round loop as
`fedward simulate` (`run_federation`) in the main thread, with a `ServiceTransport` in place of the
in-memory one. Everything the loop cannot compute by itself is journaled in the state store (tasks,
replies, timeouts, clock readings, noise seeds, the run id, the roster and the site list it started
with, the roster read after each round), so a coordinator killed at any moment and started again replays
its run from the journal: no update is counted twice, no privacy spend is lost or counted twice, the
ledger is rebuilt byte for byte (and checked against what was on disk before) and the final model is the same.

When the run ends it writes `KIT/run/` (the layout of `fedward simulate --out`, less the baselines,
which need the sites' data), marks the run finished, waits up to `[deployment] linger_seconds` for every
site to learn that, and returns.
"""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fedward.config import DeploymentConfig, FederationConfig
from fedward.coordinator import FederationResult, RoundRecord, run_federation
from fedward.coordinator.audit import Audit
from fedward.coordinator.service.app import ServiceContext, create_app
from fedward.coordinator.service.board import Board
from fedward.coordinator.service.hygiene import ConnectionLimits
from fedward.coordinator.service.journal import JournalClock, JournalEntropy
from fedward.coordinator.service.metrics import ServiceMetrics
from fedward.coordinator.service.server import BackgroundServer, server_ssl_context
from fedward.coordinator.service.transport import ServiceTransport
from fedward.coordinator.state import BlobStore, RoundRow, StateStore, open_state_store, sql_url_for
from fedward.deployment.kits import CoordinatorKit, load_coordinator_kit, load_kit_config
from fedward.deployment.roster_refresh import RosterRefresh
from fedward.deployment.roster_watch import RosterWatch
from fedward.errors import ConfigError, FederationError
from fedward.ledger import entries_path, utc_clock
from fedward.models import InitModel
from fedward.release.gates import release_gates
from fedward.run.audit import open_audit
from fedward.run.outputs import write_run
from fedward.run.plan import init_model_for, model_code_for, plan_for, strategy_for
from fedward.run.privacy_checks import check_privacy_config
from fedward.run.summary import build_summary, described_site_data
from fedward.trust import FederationKeys, Roster, RosterError, SiteStatus

__all__ = ["ServeResult", "serve"]

log = logging.getLogger("fedward.coordinator")
RUN_DIR = "run"
STATE_DIR = "state"


@dataclass(frozen=True)
class ServeResult:
    run_dir: Path
    state: str  # "finished"
    rounds_completed: int
    resumed: bool  # the journal already held part of this run


def serve(kit_dir: Path) -> ServeResult:
    kit = load_coordinator_kit(kit_dir)
    cfg = load_kit_config(kit)
    if cfg.deployment is None:
        raise ConfigError("missing [deployment] table", where=kit.path / "federation.toml")
    check_privacy_config(cfg, kit.path / "federation.toml")
    init = init_model_for(cfg)  # a bad [model] init file stops here, before any state is written
    model_code_for(cfg)  # so does a [model] code file that cannot be read or is not valid Python
    release_gates(
        cfg.release, kit.keys.coordinator_public
    )  # and so does a [release] baseline that does not verify
    state_dir = kit.path / STATE_DIR
    state_dir.mkdir(mode=0o700, exist_ok=True)
    store = open_state_store(kit.database or sql_url_for(state_dir / "coordinator.db"))
    try:
        return _serve(kit, cfg, init, cfg.deployment, store, state_dir)
    finally:
        store.close()


def _serve(
    kit: CoordinatorKit,
    cfg: FederationConfig,
    init: InitModel | None,
    dep: DeploymentConfig,
    store: StateStore,
    state_dir: Path,
) -> ServeResult:
    _check_same_federation(store, cfg, kit)
    resumed = store.meta("run_id") is not None
    keys = _keys(kit, store)
    sites = _sites(store, cfg, keys.roster)
    run_id = store.meta_once("run_id", lambda: uuid.uuid4().hex)
    blobs = BlobStore(state_dir, max_bytes=int(dep.max_update_mib * (1 << 20)))
    board, metrics = Board(), ServiceMetrics()
    watch = RosterWatch(kit.roster_file, keys.admin_public, store)
    app = create_app(
        ServiceContext(
            store=store,
            blobs=blobs,
            board=board,
            metrics=metrics,
            federation=cfg.federation.name,
            site_key=watch.site_key,
            now=time.time,
            utc=utc_clock,
            poll_seconds=dep.poll_seconds,
            max_chunk_bytes=int(max(dep.chunk_mib * 2, 16) * (1 << 20)),
            max_update_bytes=int(dep.max_update_mib * (1 << 20)),
            upload_expiry_s=dep.upload_expiry_seconds,
            max_partial_uploads=dep.max_partial_uploads,
            upload_overhead_bytes=int(dep.upload_overhead_mib * (1 << 20)),
            logger=log,
        )
    )

    def tls() -> ssl.SSLContext:
        return server_ssl_context(kit.ca_file, kit.certificate_file, kit.key_file, kit.crl_file)

    server = BackgroundServer(app, kit.listen, kit.port, tls, kit.crl_file, connection_limits(dep))
    server.start()
    log.info(
        "coordinator listening", extra={"event": "listening", "url": kit.coordinator, "resumed": resumed}
    )
    try:
        rounds = 0
        if store.meta("state") not in ("finished", "failed"):
            rounds = _run(kit, cfg, init, store, blobs, board, metrics, keys, sites, run_id, state_dir, watch)
        _linger(store, board, sites, dep.linger_seconds)
    finally:
        server.stop()
    if store.meta("state") == "failed":
        raise FederationError(f"the run failed: {store.meta('reason')}", hint="see the coordinator's log")
    return ServeResult(kit.path / RUN_DIR, "finished", rounds, resumed)


def connection_limits(dep: DeploymentConfig) -> ConnectionLimits:
    """The HTTPS service's connection hygiene, from `[deployment]`."""
    return ConnectionLimits(
        handshake_timeout_s=dep.handshake_timeout_seconds,
        keep_alive_s=dep.keep_alive_seconds,
        max_connections=dep.max_connections,
        max_connections_per_address=dep.max_connections_per_address,
        max_header_bytes=dep.max_header_kib * 1024,
        log_per_minute=dep.log_refusals_per_minute,
    )


def _check_same_federation(store: StateStore, cfg: FederationConfig, kit: CoordinatorKit) -> None:
    recorded = store.meta_once("config_sha256", cfg.sha256)
    if recorded != cfg.sha256():
        raise ConfigError(
            "the coordinator's state belongs to a run of another federation file",
            where=kit.path / "federation.toml",
            hint="restore the federation file the run started with, or give the new run a new kit",
        )


def _keys(kit: CoordinatorKit, store: StateStore) -> FederationKeys:
    """The kit's keys with the roster the run started with (journaled: a restart keeps using it)."""
    path = kit.roster_file
    try:
        raw = store.meta_once("roster", lambda: path.read_bytes().decode()).encode()
        return FederationKeys(kit.admin_public, raw, kit.signing_key)
    except (OSError, ValueError, RosterError) as exc:
        raise ConfigError(f"cannot load the roster the run started with: {exc}", where=path) from None


def _sites(store: StateStore, cfg: FederationConfig, roster: Roster) -> list[str]:
    """The sites the run started with: the federation's, less any the roster revoked before round 1."""

    def admitted() -> str:
        now = utc_clock()
        return json.dumps([s.name for s in cfg.sites if roster.status(s.name, 1, now) == SiteStatus.OK])

    sites: list[str] = json.loads(store.meta_once("sites", admitted))
    return sites


def _run(
    kit: CoordinatorKit,
    cfg: FederationConfig,
    init: InitModel | None,
    store: StateStore,
    blobs: BlobStore,
    board: Board,
    metrics: ServiceMetrics,
    keys: FederationKeys,
    sites: list[str],
    run_id: str,
    state_dir: Path,
    watch: RosterWatch,
) -> int:
    start = time.perf_counter()
    store.set_meta("state", "running")
    board.notify()
    clock = JournalClock(store, utc_clock)
    work = state_dir / "work"
    before = _committed_ledger(work)
    shutil.rmtree(work, ignore_errors=True)
    audit = open_audit(work, keys, cfg.federation.name, run_id, clock)
    transport = ServiceTransport(store, blobs, board, sites, utc_clock, watch.refused)
    recorder = _RoundRecorder(store, metrics)
    refresh = RosterRefresh(kit.roster_file, keys.admin_public, store, audit)

    def on_round(record: RoundRecord) -> None:
        recorder(record)
        refresh(record)  # a site revoked since is not selected from the next round on

    try:
        result = run_federation(
            transport,
            plan_for(cfg, run_id, init, release_gates(cfg.release, keys.coordinator_public)),
            strategy_for(cfg),
            on_round,
            audit,
            JournalEntropy(store),
        )
    except FederationError as exc:  # the sites learn it is over; serve() lingers, then reports it
        log.error("run failed: %s", exc, extra={"event": "run_failed"})
        store.set_meta("reason", str(exc))
        store.set_meta("finished_at", utc_clock())
        store.set_meta("state", "failed")
        board.notify()
        return 0
    finally:
        audit.ledger.close()
    _check_replayed_ledger(before, work)
    _write_run(kit, cfg, result, work, time.perf_counter() - start, audit)
    store.set_meta("finished_at", utc_clock())
    store.set_meta("state", "finished")
    board.notify()
    log.info("run finished", extra={"event": "run_finished", "rounds": result.rounds_completed})
    if result.release_status == "refused":  # no release: the final model failed a [release] gate
        failed = "; ".join(g.describe() for g in result.gates or () if not g.passed)
        log.warning("release refused: %s", failed, extra={"event": "release_refused"})
    return result.rounds_completed


def _committed_ledger(work: Path) -> bytes:
    """The committed entries (up to the last newline) a previous start wrote, or b''."""
    try:
        data = entries_path(work).read_bytes()
    except FileNotFoundError:
        return b""
    return data[: data.rfind(b"\n") + 1]


def _check_replayed_ledger(before: bytes, work: Path) -> None:
    """The replayed run must have written, byte for byte, every entry the interrupted one had."""
    if not entries_path(work).read_bytes().startswith(before):
        raise FederationError(
            "the resumed run's ledger differs from the one written before the restart",
            hint="the journal or the code changed under the run; keep both and report this as a bug",
        )


def _write_run(
    kit: CoordinatorKit, cfg: FederationConfig, result: FederationResult, work: Path, s: float, audit: Audit
) -> None:
    path = str(kit.path / "federation.toml")
    summary = build_summary(cfg, path, result, None, described_site_data(result), s, None)
    summary["deployment"] = {"coordinator": kit.coordinator, "database": _backend(kit.database)}
    write_run(kit.path / RUN_DIR, summary, result, work, force=True, audit=audit)


def _backend(url: str | None) -> str:
    return "sqlite (in the kit)" if url is None else url.split(":", 1)[0].split("+", 1)[0]


class _RoundRecorder:
    """After each round: its record, the privacy events and the round number into the store; metrics."""

    def __init__(self, store: StateStore, metrics: ServiceMetrics) -> None:
        self._store, self._metrics = store, metrics

    def __call__(self, record: RoundRecord) -> None:
        self._store.put_round(RoundRow(record.round, json.dumps(record.to_json(), allow_nan=False)))
        for site, event in record.privacy_events.items():
            self._store.put_privacy_event(site, record.round, json.dumps(event, sort_keys=True))
        self._store.set_meta("round", str(record.round))
        self._metrics.observe_round(record)
        log.info(
            "round finished",
            extra={"event": "round_finished", "round": record.round, "aggregated": record.aggregated,
                   "seconds": round(record.seconds, 3)},
        )  # fmt: skip


def _linger(store: StateStore, board: Board, sites: list[str], linger_s: float) -> None:
    """Keep answering until every site has asked for work since the run finished (and so learned that
    it did), or `linger_s` passes."""
    finished_at = store.meta("finished_at") or ""
    deadline = time.monotonic() + linger_s
    while time.monotonic() < deadline:
        version = board.version
        if all((store.meta(f"told_finished/{site}") or "") >= finished_at for site in sites):
            return
        board.wait(version, min(0.5, deadline - time.monotonic()))
