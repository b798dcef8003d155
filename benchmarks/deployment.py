"""Benchmark: the deployed federation (`fedward coordinator serve` / `fedward site run`): upload throughput,
extra time per round over the simulation, and the coordinator's peak memory.

Everything runs on loopback from kits written by `fedward.deployment.provision`, with real processes
(mutual TLS, signed requests, the SQLite journal and the on-disk blob store). 1 MB = 10^6 bytes here.

1. Upload throughput. A coordinator process serves and waits for its sites; this process takes a site's
   kit and uploads random blobs (100 MB; each a new one, since uploads are content-addressed) through
   `CoordinatorClient.upload` in the default 5 MiB chunks: it hashes the blob, announces it and PUTs the
   chunks; the coordinator checks each request's signature, appends and fsyncs each chunk, and hashes
   the whole file when the last one lands. MB/s = bytes / 10^6 / seconds of `upload`, after one warm-up
   upload (TLS handshake). Goal: median >= 300 MB/s (best and median reported).
   Breakdown: the coordinator's own time on the upload requests (its /metrics: from a request's headers
   to its answer); the same uploads against the same FastAPI app in a lab process (`--lab-server`:
   uvicorn with the coordinator's TLS context; plain HTTP; plain HTTP with fsync a no-op) and in this
   process through ASGI with no socket (starlette's TestClient); that in-process upload with each step on
   its path timed in place (signing, the gate's body read and signature check, the blob store's writes,
   fsyncs and final hash; the rest is starlette, FastAPI, httpx and copies); and single steps timed alone
   on the same bytes.
2. Extra time per round. One federation file (4 sites, the breast-cancer set's first 15 features, an
   `mlp`, 10 rounds) run by `fedward simulate --no-baselines` and deployed (a coordinator and 4 site
   processes, the sites started once the coordinator answers). Per-round seconds come from each run's
   metrics.jsonl (`RoundRecord.seconds`: the round loop's wall time from the first task sent to the
   evaluation's last reply). Goal: mean per round from
   round 2 on, deployed minus simulated, <= 50 ms (round 1 also pays for the processes' first torch
   calls and TLS handshakes; the mean over all rounds is reported too). Sites long-poll (`GET
   /v1/tasks/next?wait=poll_seconds` returns as soon as a task exists) and the round loop wakes on each
   stored reply (`Board`), so no polling interval lies inside a round; the full run repeats the deployed
   run with poll_seconds 2 and 20 to show it. The final models must be bit-identical (SHA-256 of
   model/global.safetensors). Breakdown, read during the deployed run: the requests per round and the
   coordinator's ms per request by route (its /metrics), and the CPU ms per round of the coordinator and
   of the sites (/proc/PID/stat).
3. Coordinator peak memory. FedAvg, 20 sites, an `mlp` of 9,982,352 parameters (15 inputs, hidden 3150
   and 3150: 39.9 MB of float32), 2 rounds. The coordinator is the real `fedward coordinator serve`
   process (its round loop over `ServiceTransport`, lazily read replies and the streaming `WeightedMean`,
   the audit's package checks, uvicorn receiving the chunks). The 20 sites are the real site code
   (`run_site_kit`: `Site`, signed packages, `CoordinatorClient`) in threads of one driver process
   (`--drive-sites`; 20 processes with torch would not fit on 2 cores), at most 2 of them training at a
   time; their downloads and uploads overlap freely, as real sites' would. Idle: the coordinator's
   resident set once it listens and waits for the sites' descriptions; then its peak is reset
   (/proc/PID/clear_refs) and read at its exit (VmHWM). Goal: (peak - idle) <= 3 x the model's bytes.
   Diagnostic variants of the same run (`MEMORY_VARIANTS`, full run only): the sites upload one at a
   time; the coordinator with one malloc arena (MALLOC_ARENA_MAX=1); without the CLI's malloc tuning;
   with tracemalloc (the peak of live Python and numpy allocations above idle, without the allocator's
   retention).

`--quick`: a 10 MB upload, 2 rounds, a 978,882-parameter model with 4 sites and 1 round.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from unittest import mock

import httpx

from common import console, goal, goals_table, machine_info, parser_for, print_table, write_result
from fedward.config import load_config
from fedward.crypto import load_signing_key
from fedward.deployment import provision
from fedward.deployment.kits import load_coordinator_kit, load_kit_config, load_site_kit
from fedward.tabular.datasets import dirichlet_split, load_dataset, write_site_csvs
from fedward.transport.client import DEFAULT_CHUNK_BYTES, Backoff, CoordinatorClient, client_ssl_context

NAME = "deployment"
MB = 1e6
UPLOAD_GOAL_MB_S = 300.0
ROUND_GOAL_MS = 50.0
MEMORY_GOAL_RATIO = 3.0
FEATURES = 15
ROUND_SITES = 4
ROUND_HIDDEN = (64,)
MEMORY_SITES, MEMORY_HIDDEN = 20, (3150, 3150)
QUICK_MEMORY_SITES, QUICK_MEMORY_HIDDEN = 4, (1000, 960)
SITE_WORKERS = 2  # sites of the memory driver that train at once
LAB_MODES = ("tls", "plain", "plain_no_fsync")
QUICK_LAB_MODES = ("tls", "plain_no_fsync")
FEDWARD = [sys.executable, "-c", "from fedward.cli.app import main; main()"]
HERE = Path(__file__).resolve()
# runs `fedward coordinator serve KIT`, then writes its peak and current resident set on exit
PEAK_WRAPPER = """
import atexit, json, resource, signal, sys
out, kit, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
traced = {}
if "untuned" in flags:  # without the CLI's malloc tuning (fedward.core.allocator)
    import fedward.core.allocator as allocator
    allocator.tune_for_large_messages = lambda *args, **kwargs: False
if "tracemalloc" in flags:  # live Python and numpy allocations; SIGUSR1 marks the idle point
    import tracemalloc
    tracemalloc.start()
    def idle(signum, frame):
        traced["idle"] = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
    signal.signal(signal.SIGUSR1, idle)
def report():
    with open("/proc/self/status") as f:
        status = dict(l.split(":", 1) for l in f if ":" in l)
    kb = lambda k: int(status[k].split()[0]) * 1024 if k in status else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if "tracemalloc" in flags:
        traced["peak"] = tracemalloc.get_traced_memory()[1]
    doc = {"vm_hwm": kb("VmHWM"), "vm_rss": kb("VmRSS"), "ru_maxrss": peak, "traced": traced}
    with open(out, "w") as f:
        json.dump(doc, f)
atexit.register(report)
from fedward.cli.app import main
main(["coordinator", "serve", kit])
"""
# the coordinator as deployed, and diagnostic variants that show where its memory goes
# (flags of PEAK_WRAPPER, the coordinator's extra environment, flags of the sites' driver)
MEMORY_VARIANTS: dict[str, tuple[list[str], dict[str, str], list[str]]] = {
    "deployed": ([], {}, []),
    "serial_uploads": ([], {}, ["--serial-uploads"]),
    "one_malloc_arena": ([], {"MALLOC_ARENA_MAX": "1"}, []),
    "without_malloc_tuning": (["untuned"], {}, []),
    "tracemalloc": (["tracemalloc"], {}, []),
}


# ------------------------------------------------------------------------------------ federations


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_federation(
    folder: Path,
    *,
    sites: int,
    rounds: int,
    hidden: Sequence[int],
    port: int,
    poll: float = 20.0,
    alpha: float = 1.0,
    batch_size: int = 16,
    deployment_extra: str = "",
) -> Path:
    """A tabular federation file on the breast-cancer set's first 15 features, with [deployment]."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, names = load_dataset("breast-cancer")
    x, names = x[:, :FEATURES], names[:FEATURES]
    lines = [
        f'[federation]\ntask = "tabular"\nrounds = {rounds}\nseed = 7\nname = "bench"\n',
        '[data]\nlabel = "target"\n',
        f'[model]\nname = "mlp"\nhidden = {list(hidden)}\n',
        f'[strategy]\nname = "fedavg"\nbatch_size = {batch_size}\nlr = 0.05\n',
        f'[deployment]\ncoordinator = "https://127.0.0.1:{port}"\npoll_seconds = {poll}\n'
        f"linger_seconds = 10\n{deployment_extra}",
    ]
    for split in dirichlet_split(y, sites, alpha, seed=0):
        train, test = write_site_csvs(folder, x, y, names, split, "target")
        lines.append(f'[[sites]]\nname = "{split.name}"\ntrain = "{train.name}"\ntest = "{test.name}"\n')
    cfg = folder / "federation.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def provision_kits(cfg: Path, kits: Path) -> list[str]:
    """Write the kits of `cfg` into `kits`; the site names."""
    config = load_config(cfg)
    provision(config, cfg, kits, datetime.now(UTC).replace(microsecond=0))
    return [s.name for s in config.sites]


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    if threads > 0:
        env["OMP_NUM_THREADS"] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Processes:
    """The child processes this benchmark starts, each logging to a file; `stop` kills those still running."""

    def __init__(self, logs: Path, threads: int) -> None:
        self.logs, self.env = logs, child_env(threads)
        logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._files: list[IO[bytes]] = []

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        self._files.append(log)
        proc = subprocess.Popen(list(argv), stdout=log, stderr=log, env=self.env)
        self.procs[name] = proc
        return proc

    def coordinator(self, kits: Path, name: str = "coordinator") -> subprocess.Popen[bytes]:
        return self.start(name, [*FEDWARD, "coordinator", "serve", str(kits / "coordinator")])

    def wait(self, name: str, timeout: float) -> int:
        code = self.procs[name].wait(timeout=timeout)
        if code != 0:
            raise RuntimeError(f"{name} exited {code}:\n{self.tail(name)}")
        return code

    def tail(self, name: str, chars: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        for fh in self._files:
            fh.close()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def site_client(kit: Path, **kwargs: Any) -> CoordinatorClient:
    """A `CoordinatorClient` with a site kit's key and TLS files, as `fedward site run` builds it."""
    site = load_site_kit(kit)
    cfg = load_kit_config(site)
    tls = client_ssl_context(kit / "ca.pem", kit / "client.pem", kit / "client.key")
    key = load_signing_key(kit / "site.key")
    return CoordinatorClient(site.coordinator, site.name, cfg.federation.name, key, tls, **kwargs)


def wait_until_up(
    procs: Processes, name: str, kit: Path, url: str | None = None, timeout: float = 120
) -> None:
    """Wait until the server process `name` answers GET /v1/health (at `url`, else the kit's coordinator)
    to a client with the site kit's TLS files; its log in the error if it never does."""
    proc = procs.procs[name]
    with site_client(kit, backoff=Backoff(initial_s=0.05, max_s=0.2), give_up_after_s=1.0) as probe:
        if url is not None:
            probe.base_url = url
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} before answering:\n{procs.tail(name)}"
                )
            try:
                probe.health()
                return
            except Exception:  # not up yet (the probe gives up after 1 s)
                time.sleep(0.1)
    raise RuntimeError(f"{name}: no answer within {timeout:.0f} s:\n{procs.tail(name)}")


# ------------------------------------------------------------------------------------ 1. uploads


def upload_seconds(client: CoordinatorClient, size: int, runs: int, warmup: int = 1) -> list[float]:
    """Seconds of `client.upload` for `runs` new random blobs of `size` bytes, after `warmup` uploads."""
    blob = bytearray(os.urandom(size))
    times = []
    for i in range(warmup + runs):
        blob[:16] = secrets.token_bytes(16)  # a new blob each time: the coordinator keeps every hash
        data = bytes(blob)
        start = time.perf_counter()
        ref = client.upload(data)
        if i >= warmup:
            times.append(time.perf_counter() - start)
        if ref.size != size:
            raise RuntimeError(f"uploaded {ref.size} bytes, not {size}")
    return times


def throughput(size: int, seconds: Sequence[float]) -> dict[str, Any]:
    rates = [size / MB / s for s in seconds]
    return {
        "runs": len(rates),
        "mb_per_s_best": max(rates),
        "mb_per_s_median": statistics.median(rates),
        "mb_per_s": rates,
        "seconds": list(seconds),
    }


def upload_benchmark(
    work: Path, size: int, runs: int, threads: int, lab_modes: Sequence[str] = LAB_MODES
) -> dict[str, Any]:
    # the blobs uploaded answer no real task: the site's open describe task must allow them
    extra = f"upload_overhead_mib = {max(16, 2 * size // (1 << 20))}\n"
    cfg = write_federation(
        work / "data", sites=1, rounds=1, hidden=(8,), port=free_port(), deployment_extra=extra
    )
    kits = work / "kits"
    site = provision_kits(cfg, kits)[0]
    result: dict[str, Any] = {"bytes": size, "chunk_bytes": DEFAULT_CHUNK_BYTES, "mb": "10^6 bytes"}
    with Processes(work / "logs", threads) as procs:
        procs.coordinator(kits)
        wait_until_up(procs, "coordinator", kits / site)
        try:
            with site_client(kits / site) as client:
                upload_seconds(client, size, runs=0, warmup=1)  # the TLS handshake, the first pages
                before = upload_route_seconds(client)
                result["deployed"] = throughput(size, upload_seconds(client, size, runs, warmup=0))
                handled = (upload_route_seconds(client) - before) / runs
        except Exception as exc:
            raise RuntimeError(f"upload benchmark failed: {exc}\n{procs.tail('coordinator')}") from exc
    result["deployed"]["coordinator_ms_per_upload"] = handled * 1000
    shutil.rmtree(kits / "coordinator" / "state")  # the uploaded blobs
    result["lab"] = lab_uploads(work, kits, site, size, runs, threads, lab_modes)
    result["asgi_in_process"] = throughput(size, asgi_upload_seconds(work / "asgi", kits, site, size, runs))
    result["steps"] = upload_steps(work / "steps", kits, site, size)
    result["asgi_profile_ms"] = asgi_profile(work / "profile", kits, site, size)
    for done in ("asgi", "steps", "profile"):
        shutil.rmtree(work / done, ignore_errors=True)
    return result


def upload_route_seconds(client: CoordinatorClient) -> float:
    """Seconds the coordinator's request gate has spent on upload requests so far (from /metrics: from
    the request's headers to its answer, so the time the body takes to arrive is in it)."""
    text = client._http.get(f"{client.base_url}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("fedward_request_seconds_sum{") and 'route="/v1/uploads' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def lab_uploads(
    work: Path, kits: Path, site: str, size: int, runs: int, threads: int, modes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The same uploads against the coordinator's app in a lab server: TLS, plain HTTP, no fsync."""
    out: dict[str, dict[str, Any]] = {}
    for mode in modes:
        port, name = free_port(), f"lab-{mode}"
        url = f"{'https' if mode == 'tls' else 'http'}://127.0.0.1:{port}"
        with Processes(work / "logs", threads) as procs:
            argv = [sys.executable, str(HERE), "--lab-server", str(kits / "coordinator"), str(port), mode]
            procs.start(name, [*argv, "--lab-state", str(work / name)])
            wait_until_up(procs, name, kits / site, url)
            try:
                with site_client(kits / site) as client:
                    client.base_url = url
                    out[mode] = throughput(size, upload_seconds(client, size, runs))
            except Exception as exc:
                raise RuntimeError(f"{name}: {exc}\n{procs.tail(name)}") from exc
        shutil.rmtree(work / name, ignore_errors=True)  # the uploaded blobs
    return out


def lab_app(kit_dir: Path, state: Path) -> Any:
    """The coordinator's FastAPI app over a fresh journal and blob store, admitting the kit's roster."""
    from fedward.coordinator.service.app import ServiceContext, create_app
    from fedward.coordinator.service.board import Board
    from fedward.coordinator.service.metrics import ServiceMetrics
    from fedward.coordinator.state import BlobStore, TaskRecord, open_state_store, sql_url_for
    from fedward.core.messages import Task, TaskKind
    from fedward.deployment.roster_watch import RosterWatch
    from fedward.transport.wire import task_to_message

    kit = load_coordinator_kit(kit_dir)
    cfg = load_kit_config(kit)
    assert cfg.deployment is not None
    state.mkdir(parents=True, exist_ok=True)
    store = open_state_store(sql_url_for(state / "lab.db"))
    ctx = ServiceContext(
        store=store,
        blobs=BlobStore(state, max_bytes=1 << 32),
        board=Board(),
        metrics=ServiceMetrics(),
        federation=cfg.federation.name,
        site_key=RosterWatch(kit.roster_file, kit.admin_public, store).site_key,
        poll_seconds=cfg.deployment.poll_seconds,
        max_chunk_bytes=int(max(cfg.deployment.chunk_mib * 2, 16) * (1 << 20)),
        upload_overhead_bytes=1 << 32,  # the lab measures uploads, not the bound
        bind_certificates=False,  # served by plain uvicorn or in process: no client certificate in scope
    )
    for site in cfg.sites:  # an upload is opened only while the site has an open task: give it one
        message = task_to_message(Task("lab", 1, site.name, TaskKind.FIT, b"", {}))
        body = message.model_dump_json()
        digest = hashlib.sha256(body.encode()).hexdigest()
        store.put_task(TaskRecord(message.task_id, site.name, 1, "fit", body, digest))
    return create_app(ctx)


def serve_lab(kit_dir: Path, port: int, mode: str, state: Path) -> int:
    """`--lab-server`: serve the coordinator's app on 127.0.0.1:port like `serve` does (TLS), or over plain
    HTTP, or plain HTTP with every fsync a no-op; until killed."""
    import uvicorn

    from fedward.coordinator.service.server import server_ssl_context
    from fedward.core.allocator import tune_for_large_messages

    tune_for_large_messages()
    if mode == "plain_no_fsync":
        os.fsync = lambda fd: None
    kit = load_coordinator_kit(kit_dir)
    app = lab_app(kit_dir, state)
    tls: dict[str, Any] = {}
    if mode == "tls":
        context = server_ssl_context(kit.ca_file, kit.certificate_file, kit.key_file, kit.crl_file)
        tls = {"ssl_context_factory": lambda _config, _default: context}
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off",
        timeout_keep_alive=30, **tls,
    )  # fmt: skip
    uvicorn.Server(config).run()
    return 0


def asgi_upload_seconds(state: Path, kits: Path, site: str, size: int, runs: int) -> list[float]:
    """Uploads straight into the app through ASGI in this process: no socket, no TLS, no uvicorn."""
    with _test_client(lab_app(kits / "coordinator", state)) as http, site_client(kits / site, http=http) as c:
        c.base_url = "https://testserver"
        return upload_seconds(c, size, runs)


@contextlib.contextmanager
def _test_client(app: Any) -> Iterator[Any]:
    with warnings.catch_warnings():  # starlette asks for httpx2; its TestClient works the same with httpx
        warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
        from starlette.testclient import TestClient
    with TestClient(app, base_url="https://testserver") as http:
        yield http


def asgi_profile(state: Path, kits: Path, site: str, size: int) -> dict[str, float]:
    """One in-process ASGI upload with the steps on its path timed in place (ms): client and app run one
    after the other here, so the steps add up, and `other` is starlette, FastAPI, httpx and the copies."""
    from fedward.coordinator.service import gate
    from fedward.coordinator.state import BlobStore
    from fedward.transport import client as client_module

    spent: dict[str, float] = dict.fromkeys(
        ("sign", "read_body", "verify", "write_chunk", "fsync", "finish"), 0.0
    )

    def timed(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        return wrapper

    read_body = gate._read_body

    async def timed_read_body(*args: Any) -> bytes:
        start = time.perf_counter()
        try:
            return await read_body(*args)
        finally:
            spent["read_body"] += time.perf_counter() - start

    patches = [
        mock.patch.object(client_module, "sign_request", timed("sign", client_module.sign_request)),
        mock.patch.object(gate, "verify_request", timed("verify", gate.verify_request)),
        mock.patch.object(gate, "_read_body", timed_read_body),
        mock.patch.object(BlobStore, "write_chunk", timed("write_chunk", BlobStore.write_chunk)),
        mock.patch.object(BlobStore, "_finish", timed("finish", BlobStore._finish)),
        mock.patch("os.fsync", timed("fsync", os.fsync)),
    ]
    blob = os.urandom(size)
    with _test_client(lab_app(kits / "coordinator", state)) as http, site_client(kits / site, http=http) as c:
        c.base_url = "https://testserver"
        c.upload(blob[: 1 << 20])  # warm-up
        for p in patches:
            p.start()
        try:
            start = time.perf_counter()
            c.upload(blob)
            total = time.perf_counter() - start
        finally:
            for p in reversed(patches):
                p.stop()
    start = time.perf_counter()
    hashlib.sha256(blob).hexdigest()
    client_hash = time.perf_counter() - start
    ms = {
        "total": total,
        "client_sha256_of_blob": client_hash,
        "client_sign_requests": spent["sign"],
        "gate_read_body": spent["read_body"],
        "gate_verify_signature": spent["verify"],
        "blob_store_write": spent["write_chunk"] - spent["fsync"] - spent["finish"],
        "blob_store_fsync": spent["fsync"],
        "blob_store_final_sha256_and_rename": spent["finish"],
    }
    ms["other"] = total - sum(v for k, v in ms.items() if k != "total")
    return {k: v * 1000 for k, v in ms.items()}


def upload_steps(state: Path, kits: Path, site: str, size: int) -> dict[str, dict[str, float]]:
    """Each step of an upload timed alone on `size` bytes: ms and the MB/s it alone would allow."""
    from fedward.coordinator.state import BlobStore
    from fedward.transport.signing import sign_request, verify_request

    data = os.urandom(size)
    key = load_signing_key(kits / site / "site.key")
    chunks = [data[i : i + DEFAULT_CHUNK_BYTES] for i in range(0, size, DEFAULT_CHUNK_BYTES)]
    sha = hashlib.sha256(data).hexdigest()
    target = f"/v1/uploads/{sha}?offset=0"
    now = int(time.time())
    signed = [sign_request(key, site, "bench", "PUT", target, c, now) for c in chunks]

    def sign() -> None:
        for c in chunks:
            sign_request(key, site, "bench", "PUT", target, c, now)

    def verify() -> None:
        for c, headers in zip(chunks, signed, strict=True):
            verify_request(headers, "PUT", target, c, "bench", lambda _s: key.public, now)

    def store(fsync: bool) -> Callable[[], None]:
        def run() -> None:
            blobs = BlobStore(state / secrets.token_hex(4), max_bytes=1 << 32)
            with mock.patch("os.fsync") if not fsync else contextlib.nullcontext():
                blobs.start_upload(site, sha, size)
                offset = 0
                for c in chunks:
                    blobs.write_chunk(site, sha, offset, c)
                    offset += len(c)

        return run

    def file_hash() -> None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)

    path = state / "whole.bin"
    state.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    steps: dict[str, Callable[[], object]] = {
        "client_sha256_of_blob": lambda: hashlib.sha256(data).hexdigest(),
        "client_sign_requests": sign,
        "coordinator_verify_requests": verify,
        "blob_store_chunks_fsync": store(True),
        "blob_store_chunks_no_fsync": store(False),
        "coordinator_sha256_of_file": file_hash,
        "one_copy_of_blob": lambda: [bytearray(c) for c in chunks],
    }
    out = {}
    for name, fn in steps.items():
        best = min(_timed(fn) for _ in range(3))
        out[name] = {"ms": best * 1000, "mb_per_s_alone": size / MB / best}
    return out


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------ 2. rounds


def metrics_rounds(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def model_sha256(run: Path) -> str:
    return hashlib.sha256((run / "model" / "global.safetensors").read_bytes()).hexdigest()


def round_times(run: Path) -> dict[str, Any]:
    """Per-round ms from a run's metrics.jsonl: every round, the mean over all of them, and the mean and
    median from the second round on (the first also warms up torch and, deployed, the connections)."""
    rows = metrics_rounds(run)
    fields = ("seconds", "train_seconds", "eval_seconds", "overhead_seconds")
    later = rows[1:] or rows
    return {
        "rounds": len(rows),
        "aggregated": all(r["aggregated"] for r in rows),
        "ms": {f: [r[f] * 1000 for r in rows] for f in fields},
        "mean_ms": {f: statistics.fmean(r[f] * 1000 for r in rows) for f in fields},
        "mean_ms_after_first": {f: statistics.fmean(r[f] * 1000 for r in later) for f in fields},
        "median_ms_after_first": statistics.median(r["seconds"] * 1000 for r in later),
        "model_sha256": model_sha256(run),
    }


def simulate_run(work: Path, rounds: int, threads: int) -> dict[str, Any]:
    cfg = write_federation(
        work / "data", sites=ROUND_SITES, rounds=rounds, hidden=ROUND_HIDDEN, port=free_port()
    )
    out = work / "run"
    with Processes(work / "logs", threads) as procs:
        start = time.perf_counter()
        procs.start("simulate", [*FEDWARD, "simulate", str(cfg), "--out", str(out), "--no-baselines"])
        procs.wait("simulate", timeout=900)
        wall = time.perf_counter() - start
    return {"wall_seconds": wall, **round_times(out)}


def deployed_run(work: Path, rounds: int, poll: float, threads: int) -> dict[str, Any]:
    port = free_port()
    cfg = write_federation(
        work / "data", sites=ROUND_SITES, rounds=rounds, hidden=ROUND_HIDDEN, port=port, poll=poll
    )
    kits = work / "kits"
    sites = provision_kits(cfg, kits)
    with Processes(work / "logs", threads) as procs:
        start = time.perf_counter()
        procs.coordinator(kits)
        # sites that find no coordinator back off exponentially (up to 30 s): start them once it answers
        wait_until_up(procs, "coordinator", kits / sites[0])
        for site in sites:
            procs.start(site, [*FEDWARD, "site", "run", str(kits / site), "--accept-any-task"])
        scraper = MetricsScraper(kits / sites[0], procs)
        scraper.start()
        try:
            procs.wait("coordinator", timeout=900)
            for site in sites:
                procs.wait(site, timeout=120)
        finally:
            scraper.stop()
        wall = time.perf_counter() - start
    times = round_times(kits / "coordinator" / "run")
    return {"poll_seconds": poll, "wall_seconds": wall, **times, "requests": scraper.summary()}


class MetricsScraper(threading.Thread):
    """Every `every_s` seconds: the coordinator's /metrics (read with a site's TLS files) and the CPU time
    of the coordinator and site processes, for what a round costs each and which requests it makes."""

    def __init__(self, kit: Path, procs: Processes, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every_s, self.procs, self.text = every_s, procs, ""
        self.url = f"{load_site_kit(kit).coordinator}/metrics"
        self._tls = client_ssl_context(kit / "ca.pem", kit / "client.pem", kit / "client.key")
        self._done = threading.Event()
        self.cpu: list[tuple[float, float, float]] = []  # (rounds completed, coordinator s, sites s)

    def run(self) -> None:
        with httpx.Client(verify=self._tls, timeout=5.0) as http:
            while not self._done.wait(self.every_s):
                try:
                    text = http.get(self.url).text
                except httpx.HTTPError:
                    continue  # not up yet, or gone
                self.text = text
                try:
                    coordinator = cpu_seconds(self.procs.procs["coordinator"].pid)
                    sites = sum(cpu_seconds(p.pid) for n, p in self.procs.procs.items() if n != "coordinator")
                except OSError:
                    continue
                self.cpu.append((_rounds_completed(text), coordinator, sites))

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        """Per route: requests per finished round and mean ms per request as the coordinator's request
        gate sees them (the describe exchange is counted in, so the figures are approximate); and CPU
        ms per round of the coordinator and of the sites together, from the first finished round on."""
        values: dict[tuple[str, str], float] = {}
        for line in self.text.splitlines():
            for kind in ("sum", "count"):
                prefix = f'fedward_request_seconds_{kind}{{route="'
                if line.startswith(prefix):
                    route = line[len(prefix) :].split('"', 1)[0]
                    values[(route, kind)] = float(line.rsplit(" ", 1)[1])
        rounds = _rounds_completed(self.text)
        routes = {
            r: {
                "requests_per_round": values[(r, "count")] / rounds if rounds else None,
                "ms_per_request": 1000 * values[(r, "sum")] / max(values[(r, "count")], 1),
            }
            for r in sorted({route for route, _ in values})
        }
        steady = [c for c in self.cpu if c[0] >= 1]
        cpu: dict[str, float | None] = {"coordinator_ms_per_round": None, "sites_ms_per_round": None}
        if len(steady) > 1 and steady[-1][0] > steady[0][0]:
            done = steady[-1][0] - steady[0][0]
            cpu["coordinator_ms_per_round"] = 1000 * (steady[-1][1] - steady[0][1]) / done
            cpu["sites_ms_per_round"] = 1000 * (steady[-1][2] - steady[0][2]) / done
        return {"rounds_seen": rounds, "routes": routes, "cpu": cpu}


def _rounds_completed(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith("fedward_rounds_completed_total "):
            return float(line.split()[1])
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rounds_benchmark(work: Path, rounds: int, polls: Sequence[float], threads: int) -> dict[str, Any]:
    simulated = simulate_run(work / "simulated", rounds, threads)
    deployed = [deployed_run(work / f"deployed-poll{p:g}", rounds, p, threads) for p in polls]
    for d in deployed:
        d["extra_ms_per_round"] = (
            d["mean_ms_after_first"]["seconds"] - simulated["mean_ms_after_first"]["seconds"]
        )
        d["extra_ms_per_round_incl_first"] = d["mean_ms"]["seconds"] - simulated["mean_ms"]["seconds"]
        d["extra_ms_median"] = d["median_ms_after_first"] - simulated["median_ms_after_first"]
    hashes = {simulated["model_sha256"], *(d["model_sha256"] for d in deployed)}
    return {
        "sites": ROUND_SITES,
        "features": FEATURES,
        "model": f"mlp {list(ROUND_HIDDEN)}",
        "rounds": rounds,
        "extra_ms_per_round": "mean ms per round from round 2 on, deployed minus simulated",
        "simulated": simulated,
        "deployed": deployed,
        "models_bit_identical": len(hashes) == 1,
        "polling_in_round_time": (
            "none: sites long-poll (GET /v1/tasks/next?wait=poll_seconds returns as soon as a task "
            "exists) and the round loop wakes on each stored reply (Board); the runs with different "
            "poll_seconds show it"
        ),
    }


# ------------------------------------------------------------------------------------ 3. memory


def parameters_of(hidden: Sequence[int], inputs: int = FEATURES, classes: int = 2) -> int:
    sizes = [inputs, *hidden, classes]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current resident set (Linux >= 4.0); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler(threading.Thread):
    """Samples a process's resident set every `every_s` seconds until it exits or `stop` is called."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()
        self._start = time.monotonic()

    def run(self) -> None:
        while not self._done.wait(self.every_s):
            try:
                rss = proc_status(self.pid)["VmRSS"]
            except (OSError, KeyError):
                return
            self.samples.append((time.monotonic() - self._start, rss))

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


def memory_benchmark(
    work: Path, sites_n: int, hidden: Sequence[int], rounds: int, threads: int, variants: Sequence[str]
) -> dict[str, Any]:
    # near-IID (alpha 100) so that each of 20 sites of the 569 rows gets a training and a test set
    cfg = write_federation(
        work / "data",
        sites=sites_n,
        rounds=rounds,
        hidden=hidden,
        port=free_port(),
        alpha=100.0,
        batch_size=8,
    )
    runs = {v: memory_run(work / v, cfg, threads, v) for v in variants}
    main = runs[variants[0]]
    return {
        "sites": sites_n,
        "model": f"mlp {list(hidden)} on {FEATURES} features",
        "parameters": parameters_of(hidden),
        "model_bytes": main["model_bytes"],
        "rounds": rounds,
        "site_workers": SITE_WORKERS,
        "idle_rss_bytes": main["idle_rss_bytes"],
        "peak_rss_bytes": main["peak_rss_bytes"],
        "ratio": main["ratio"],
        "goal_ratio": MEMORY_GOAL_RATIO,
        "runs": runs,
    }


def memory_run(work: Path, cfg: Path, threads: int, variant: str) -> dict[str, Any]:
    """One deployed run with the coordinator under watch: idle and peak resident set, and a timeline."""
    flags, env, driver_flags = MEMORY_VARIANTS[variant]
    kits = work / "kits"
    sites = provision_kits(cfg, kits)
    peak_file = work / "coordinator-peak.json"
    with Processes(work / "logs", threads) as procs:
        procs.env.update(env)
        wrapper = [sys.executable, "-c", PEAK_WRAPPER, str(peak_file), str(kits / "coordinator"), *flags]
        coordinator = procs.start("coordinator", wrapper)
        for key in env:
            del procs.env[key]  # for the coordinator only
        wait_until_up(procs, "coordinator", kits / sites[0])
        time.sleep(2.0)  # let it settle: the describe tasks are journaled, the round loop waits
        idle = proc_status(coordinator.pid)["VmRSS"]
        if "tracemalloc" in flags:
            coordinator.send_signal(signal.SIGUSR1)
            time.sleep(1.5)  # the round loop's thread handles it within its 1 s wait
        was_reset = reset_peak(coordinator.pid)
        sampler = RssSampler(coordinator.pid)
        sampler.start()
        start = time.perf_counter()
        driver = [sys.executable, str(HERE), "--drive-sites", *(str(kits / s) for s in sites)]
        procs.start("sites", [*driver, "--site-workers", str(SITE_WORKERS), *driver_flags])
        try:
            procs.wait("coordinator", timeout=1800)
            procs.wait("sites", timeout=120)
        finally:
            sampler.stop()
        wall = time.perf_counter() - start
    peak = json.loads(peak_file.read_text())
    run = kits / "coordinator" / "run"
    model_bytes = (run / "model" / "global.safetensors").stat().st_size
    high = peak["vm_hwm"] if was_reset else max(rss for _, rss in sampler.samples)
    out = {
        "variant": variant,
        "model_bytes": model_bytes,
        "rounds_aggregated": sum(r["aggregated"] for r in metrics_rounds(run)),
        "idle_rss_bytes": idle,
        "peak_rss_bytes": high,
        "ratio": (high - idle) / model_bytes,
        "peak_source": "VmHWM after clear_refs" if was_reset else "sampled VmRSS (clear_refs refused)",
        "ru_maxrss_bytes": peak["ru_maxrss"],
        "rss_at_exit_bytes": peak["vm_rss"],
        "wall_seconds": wall,
        "rss_timeline_mb": _timeline(sampler.samples),
    }
    traced = peak["traced"]
    if traced:
        out["tracemalloc"] = {**traced, "ratio": (traced["peak"] - traced["idle"]) / model_bytes}
    shutil.rmtree(kits / "coordinator" / "state", ignore_errors=True)  # 2 GB of blobs in the full run
    return out


def _timeline(samples: Sequence[tuple[float, int]], points: int = 60) -> list[list[float]]:
    """At most `points` [seconds, MB] pairs: the largest sample of each slice, so the peak stays."""
    if not samples:
        return []
    step = max(1, len(samples) // points)
    out = []
    for i in range(0, len(samples), step):
        t, rss = max(samples[i : i + step], key=lambda s: s[1])
        out.append([round(t, 2), round(rss / MB, 1)])
    return out


def drive_sites(kits: Sequence[Path], workers: int, serial_uploads: bool) -> int:
    """`--drive-sites`: run the sites of `kits` as `fedward site run` does, in threads of this process,
    with at most `workers` handling a task at once (and with `serial_uploads`, one uploading at a time).
    Returns 0 when every site finished."""
    import torch

    from fedward.core.allocator import tune_for_large_messages
    from fedward.deployment import site as site_module

    tune_for_large_messages()
    torch.set_num_threads(1)
    gate = threading.Semaphore(workers)
    site_class = site_module.Site

    class Gated:
        def __init__(self, handler: Any) -> None:
            self.handler = handler

        @property
        def name(self) -> str:
            return str(self.handler.name)

        def handle(self, task: Any) -> Any:
            with gate:
                return self.handler.handle(task)

    site_module.Site = lambda *args, **kwargs: Gated(site_class(*args, **kwargs))  # type: ignore[assignment,misc]
    if serial_uploads:
        one_at_a_time, upload = threading.Lock(), CoordinatorClient.upload

        def serial_upload(self: CoordinatorClient, data: bytes) -> Any:
            with one_at_a_time:
                return upload(self, data)

        CoordinatorClient.upload = serial_upload  # type: ignore[method-assign]
    failures: list[str] = []

    def run(kit: Path) -> None:
        try:
            site_module.run_site_kit(kit, accept_any_task=True)
        except Exception as exc:  # reported below
            failures.append(f"{kit.name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(k,), name=k.name) for k in kits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


# ------------------------------------------------------------------------------------ the run


def run(args: argparse.Namespace) -> int:
    quick = args.quick
    size = int((10 if quick else args.upload_mb) * MB)
    runs = args.upload_runs or (2 if quick else 5)
    rounds = args.rounds or (2 if quick else 10)
    polls = (2.0,) if quick else (2.0, 20.0)
    mem_sites, mem_hidden = (
        (QUICK_MEMORY_SITES, QUICK_MEMORY_HIDDEN) if quick else (MEMORY_SITES, MEMORY_HIDDEN)
    )
    variants = args.memory_variants or (["deployed"] if quick else list(MEMORY_VARIANTS))
    machine = machine_info()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedward-bench-deployment-") as tmp:
        work = Path(tmp)
        console.print(f"upload: {size / MB:g} MB x {runs} over mutual TLS, then the breakdown ...")
        lab_modes = QUICK_LAB_MODES if quick else LAB_MODES
        upload = upload_benchmark(work / "upload", size, runs, args.threads, lab_modes)
        console.print(
            f"rounds: {ROUND_SITES} sites x {rounds} rounds, simulated, then deployed (poll {polls}) ..."
        )
        rounds_result = rounds_benchmark(work / "rounds", rounds, polls, args.threads)
        console.print(f"memory: {mem_sites} sites, {parameters_of(mem_hidden):,} parameters, {variants} ...")
        memory = memory_benchmark(
            work / "memory", mem_sites, mem_hidden, 1 if quick else 2, args.threads, variants
        )
    median = upload["deployed"]["mb_per_s_median"]
    upload.update(goal_mb_per_s=UPLOAD_GOAL_MB_S, goal_met=median >= UPLOAD_GOAL_MB_S)
    extra = rounds_result["deployed"][0]["extra_ms_per_round"]
    rounds_result.update(goal_ms=ROUND_GOAL_MS, goal_met=extra <= ROUND_GOAL_MS)
    memory["goal_met"] = memory["ratio"] <= MEMORY_GOAL_RATIO
    goals = {
        "upload_throughput": goal(
            f"median MB/s of a {size / MB:g} MB upload over loopback mutual TLS (1 MB = 10^6 bytes)",
            median, UPLOAD_GOAL_MB_S, ">=", " MB/s",
        ),
        "extra_ms_per_round": goal(
            f"mean ms per round from round 2, deployed minus simulated ({ROUND_SITES} sites, {FEATURES} "
            f"features, {rounds} rounds, poll_seconds {polls[0]:g})",
            extra, ROUND_GOAL_MS, "<=", " ms",
        ),
        "models_bit_identical": goal(
            "final models of the simulated and deployed runs bit-identical (1 = yes)",
            float(rounds_result["models_bit_identical"]), 1, ">=",
        ),
        "coordinator_peak_memory": goal(
            f"coordinator (peak - idle RSS) / model bytes ({mem_sites} sites, {memory['parameters']:,} "
            "parameters, FedAvg)",
            memory["ratio"], MEMORY_GOAL_RATIO, "<=", "x",
        ),
    }  # fmt: skip
    print_results(upload, rounds_result, memory)
    goals_table("goals", goals)
    body = {"goals": goals, "upload": upload, "rounds": rounds_result, "memory": memory}
    write_result(args.out, NAME, args, machine, {**body, "seconds": time.perf_counter() - start})
    return 0


def print_results(upload: dict[str, Any], rounds: dict[str, Any], memory: dict[str, Any]) -> None:
    paths = {
        "deployed (mutual TLS)": upload["deployed"],
        "in-process ASGI (no socket)": upload["asgi_in_process"],
    }
    paths.update({f"lab server: {mode}": r for mode, r in upload["lab"].items()})
    print_table(
        f"upload of {upload['bytes'] / MB:g} MB (MB/s, 1 MB = 10^6 bytes)",
        ("path", "best", "median"),
        [(name, r["mb_per_s_best"], r["mb_per_s_median"]) for name, r in paths.items()],
    )
    steps = [(k, v["ms"], v["mb_per_s_alone"]) for k, v in upload["steps"].items()]
    steps += [(f"in-process upload: {k}", v, None) for k, v in upload["asgi_profile_ms"].items()]
    print_table("upload steps (ms)", ("step", "ms", "MB/s alone"), steps)
    sim = rounds["simulated"]
    rows = [
        (
            "simulated",
            None,
            sim["mean_ms"]["seconds"],
            sim["mean_ms_after_first"]["seconds"],
            None,
            sim["model_sha256"][:12],
        )
    ]
    rows += [
        (
            "deployed",
            d["poll_seconds"],
            d["mean_ms"]["seconds"],
            d["mean_ms_after_first"]["seconds"],
            d["extra_ms_per_round"],
            d["model_sha256"][:12],
        )
        for d in rounds["deployed"]
    ]
    print_table(
        "ms per round",
        ("run", "poll s", "mean", "mean from round 2", "extra from round 2", "model sha256"),
        rows,
    )
    routes = rounds["deployed"][0]["requests"]["routes"]
    print_table(
        "deployed: requests per round",
        ("route", "requests per round", "ms per request"),
        [(r, v["requests_per_round"], v["ms_per_request"]) for r, v in routes.items()],
    )
    print_table(
        f"coordinator memory (MB; model {memory['model_bytes'] / MB:.1f} MB, {memory['sites']} sites)",
        ("variant", "idle", "peak", "peak - idle", "ratio", "tracemalloc ratio"),
        [(v, r["idle_rss_bytes"] / MB, r["peak_rss_bytes"] / MB,
          (r["peak_rss_bytes"] - r["idle_rss_bytes"]) / MB, r["ratio"],
          r.get("tracemalloc", {}).get("ratio")) for v, r in memory["runs"].items()],
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, "deployment: upload throughput, extra time per round, coordinator memory")
    parser.add_argument("--upload-mb", type=float, default=100.0, help="upload size in MB (full run)")
    parser.add_argument("--upload-runs", type=int, default=None, help="measured uploads per path")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the simulated/deployed runs")
    parser.add_argument(
        "--memory-variants",
        nargs="+",
        choices=list(MEMORY_VARIANTS),
        default=None,
        help="coordinator memory runs; the first is checked against the goal (default: all; quick: deployed)",
    )
    internal = argparse.SUPPRESS
    parser.add_argument("--lab-server", nargs=3, metavar=("KIT", "PORT", "MODE"), help=internal)
    parser.add_argument("--lab-state", type=Path, help=internal)
    parser.add_argument("--drive-sites", nargs="+", type=Path, metavar="KIT", help=internal)
    parser.add_argument("--site-workers", type=int, default=SITE_WORKERS, help=internal)
    parser.add_argument("--serial-uploads", action="store_true", help=internal)
    args = parser.parse_args(argv)
    if args.lab_server:
        kit, port, mode = args.lab_server
        return serve_lab(Path(kit), int(port), mode, args.lab_state)
    if args.drive_sites:
        return drive_sites(args.drive_sites, args.site_workers, args.serial_uploads)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
