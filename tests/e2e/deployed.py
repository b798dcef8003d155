"""A deployed federation on loopback for the end-to-end tests: provisioned kits, and the coordinator and
site services as real processes (`fedward coordinator serve`, `fedward site run`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from federations import run_cli, tabular_federation

__all__ = ["Deployment", "deployment_table", "free_port", "provisioned"]

FEDWARD = [sys.executable, "-c", "from fedward.cli.app import main; main()"]
# the sites retry a missing coordinator within 1 s, not up to 30 s (see the script)
SITE_FEDWARD = [sys.executable, str(Path(__file__).with_name("fast_retry_fedward.py"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deployment_table(port: int, *, poll: float = 2.0, linger: float = 15.0, extra: str = "") -> str:
    return (
        f'[deployment]\ncoordinator = "https://127.0.0.1:{port}"\n'
        f"poll_seconds = {poll}\nlinger_seconds = {linger}\n{extra}"
    )


def provisioned(
    tmp: Path, *, rounds: int = 3, extra: str = "", sites: int = 3, deployment_extra: str = ""
) -> tuple[Path, Path, int]:
    """A tabular federation file with a [deployment] table, and its kits; (config, kits, port)."""
    port = free_port()
    table = deployment_table(port, extra=deployment_extra)
    cfg = tabular_federation(tmp / "federation", rounds=rounds, sites=sites, extra=extra + table)
    kits = tmp / "kits"
    assert run_cli(["provision", str(cfg), "--out", str(kits)]) == 0
    return cfg, kits, port


@dataclass
class Deployment:
    kits: Path
    sites: list[str]
    logs: Path
    coordinator: subprocess.Popen[bytes] | None = None
    site_procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: int = 0
    files: list[object] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every process
    # these federation files give no site a policy file: a deployed site then runs only when told to
    # accept any task explicitly (deny by default; tests/e2e/test_site_policy_cli.py)
    site_args: list[str] = field(default_factory=lambda: ["--accept-any-task"])

    def start_coordinator(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        log = (self.logs / f"coordinator-{self.starts}.log").open("wb")
        self.files.append(log)
        self.coordinator = subprocess.Popen(
            [*FEDWARD, "coordinator", "serve", str(self.kits / "coordinator")],
            stdout=log,
            stderr=log,
            env=_env(self.env),
        )
        return self.coordinator

    def wait_listening(self, timeout: float = 120) -> None:
        """Wait until the coordinator started last logs that it listens; fail with the logs if it exits
        first or stays silent."""
        if not self.wait_for_event("listening", timeout):
            raise AssertionError(f"the coordinator exited before it listened:\n{self.log_text()}")

    def wait_for_event(self, event: str, timeout: float = 120) -> bool:
        """Wait until the coordinator started last logs `event` (its JSON log's "event" field): True, or
        False if it exits without; fail with the logs if neither happens within `timeout`."""
        assert self.coordinator is not None
        log, needle = self.logs / f"coordinator-{self.starts}.log", f'"event":"{event}"'
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.coordinator.poll() is not None  # read before the log: its last lines are in
            if needle in log.read_text(errors="replace"):
                return True
            if exited:
                return False
            time.sleep(0.05)
        raise AssertionError(f"the coordinator logged no {event} within {timeout:.0f} s:\n{self.log_text()}")

    def start_sites(self) -> None:
        """Start every site once the coordinator listens (a site that finds none only backs off)."""
        self.wait_listening()
        for site in self.sites:
            log = (self.logs / f"{site}.log").open("ab")
            self.files.append(log)
            self.site_procs[site] = subprocess.Popen(
                [*SITE_FEDWARD, "site", "run", str(self.kits / site), *self.site_args],
                stdout=log,
                stderr=log,
                env=_env(self.env),
            )

    def kill_coordinator(self) -> None:
        assert self.coordinator is not None
        self.coordinator.send_signal(signal.SIGKILL)
        self.coordinator.wait(timeout=30)

    def wait(self, timeout: float = 240) -> tuple[int, dict[str, int]]:
        assert self.coordinator is not None
        deadline = time.monotonic() + timeout
        rc = self.coordinator.wait(timeout=timeout)
        sites = {s: p.wait(timeout=max(1.0, deadline - time.monotonic())) for s, p in self.site_procs.items()}
        return rc, sites

    def status(self) -> dict[str, object]:
        out = subprocess.run(
            [*FEDWARD, "coordinator", "status", str(self.kits / "coordinator"), "--json"],
            capture_output=True,
            env=_env(self.env),
            check=True,
            timeout=60,
        )
        status: dict[str, object] = json.loads(out.stdout)
        return status

    def log_text(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.logs.iterdir())
        )

    def stop(self) -> None:
        for proc in [self.coordinator, *self.site_procs.values()]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        for fh in self.files:
            fh.close()  # type: ignore[attr-defined]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env
