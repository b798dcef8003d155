"""`fedward release init | register | list | approve | promote | rollback | quarantine`: the release
registry (fedward.release.registry).

Every action is a signed line of `REGISTRY/history.jsonl`: `approve` with an approver key named in the
registry's registry.json, the others with the admin key (the coordinator's key, which signed the
releases). A wrong key, a release that failed a gate, a missing required approval or a quarantined
release is refused with exit 2 and a message naming the registry file and version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fedward.cli.keys import read_public_key, read_signing_key
from fedward.cli.progress import results
from fedward.errors import UserError
from fedward.ledger import utc_clock
from fedward.ledger.errors import LedgerError
from fedward.ledger.verify import read_verified_ledger
from fedward.release import verify_release
from fedward.release.registry import Registry, act, init_registry, open_registry, register

__all__ = ["add_commands", "describe"]

_KEY_HELP = "the signing key (PEM): an approver key for approve, the coordinator's key for the others"


def _pinned(key: Path | None) -> bytes | None:
    return None if key is None else read_public_key(key, "admin (coordinator) public key")


def describe(registry: Registry) -> list[str]:
    """One line per registered release, oldest first, then which is current and what verification proves."""
    current = registry.current
    lines = []
    for entry in registry.entries.values():
        lineage = entry.lineage
        gates = lineage.get("gates")
        gate_text = (
            "ungated"
            if not gates
            else ("gates passed" if all(g["passed"] for g in gates) else "FAILED a gate")
        )
        mark = "* " if current is not None and entry.version == current.version else "  "
        lines.append(
            f"{mark}{entry.version}: {entry.status}; parent {lineage.get('parent') or '-'}, "
            f"run {lineage['run_id']} round {lineage['round']}, "
            f"sites {', '.join(lineage['sites']) or '-'}, {gate_text}, "
            f"model sha256 {lineage['model_sha256']}"
        )
    lines.append(
        f"current: {current.version if current else 'none'} ({len(registry.history)} signed actions verified)"
    )
    if not registry.key_pinned:
        lines.append(
            "admin key taken from the registry's own registry.json: integrity, not identity "
            "(pin it with --key)"
        )
    return lines


def _gates_from_run(release: Path, version: str, admin: bytes) -> list[dict[str, Any]] | None:
    """The gate results the run's ledger signed with this release (`release_signed`), when the release sits in
    a run directory `RUN/releases/<version>`; None when there is no ledger or no gates were set."""
    run = release.resolve().parent.parent
    if release.resolve().parent.name != "releases" or not (run / "ledger").is_dir():
        return None
    try:
        ledger = read_verified_ledger(run, admin)
    except LedgerError as exc:
        raise UserError(
            f"the run's ledger does not verify with the registry's admin key: {exc}", where=run
        ) from None
    for entry in ledger.entries[: ledger.report.committed]:
        if entry.kind == "release_signed" and entry.fields["version"] == version:
            gates = entry.fields.get("gates")
            return None if gates is None else list(gates)
    return None


def add_commands(app: typer.Typer) -> None:
    """Attach the registry commands to `fedward release`."""

    @app.command("init")
    def init(
        registry: Path = typer.Argument(..., help="the registry folder to create"),
        key: Path = typer.Option(
            ..., "--key", help="the coordinator's private key: the registry's admin key"
        ),
        approver: list[Path] = typer.Option(
            [], "--approver", help="an approver's public key (PEM); repeatable"
        ),
        require_approval: bool = typer.Option(
            False, "--require-approval", help="promote only approved releases"
        ),
    ) -> None:
        """Create an empty registry signed by the admin (coordinator) key."""
        admin = read_signing_key(key, "admin (coordinator) key")
        approvers = [read_public_key(p, "approver public key") for p in approver]
        init_registry(registry, admin, approvers, require_approval=require_approval)
        results.print(f"registry created at {registry}", highlight=False, markup=False)

    @app.command("register")
    def register_(
        registry: Path = typer.Argument(..., help="the registry folder"),
        release: Path = typer.Argument(..., help="a signed release folder, e.g. RUN/releases/final"),
        version: str = typer.Option(..., "--version", help="the registry version, e.g. v3"),
        key: Path = typer.Option(
            ..., "--key", help="the coordinator's private key (the registry's admin key)"
        ),
        parent: str | None = typer.Option(
            None, "--parent", help="the parent version (default: the current one)"
        ),
    ) -> None:
        """Add a signed release as a candidate, with its lineage and its run's signed gate results."""
        signer = read_signing_key(key, "admin (coordinator) key")
        admin = open_registry(registry).admin_key
        record = verify_release(release, admin)  # before anything of it is read; register checks it again
        gates = _gates_from_run(release, record.version, admin)
        entry = register(registry, version, release, signer, time=utc_clock(), parent=parent, gates=gates)
        results.print(f"{entry.version} registered as a candidate", highlight=False, markup=False)

    @app.command("list")
    def list_(
        registry: Path = typer.Argument(..., help="the registry folder"),
        key: Path | None = typer.Option(None, "--key", help="the admin (coordinator) public key, to pin it"),
    ) -> None:
        """Verify the registry and list its releases with status and lineage (`*` marks the current one)."""
        for line in describe(open_registry(registry, _pinned(key))):
            results.print(line, highlight=False, markup=False)

    def _action(action: str, registry: Path, version: str | None, key: Path, reason: str | None) -> None:
        signer = read_signing_key(key, "approver key" if action == "approve" else "admin (coordinator) key")
        state = act(registry, action, version, signer, time=utc_clock(), reason=reason)
        current = state.current.version if state.current else "none"
        last = state.history[-1]
        results.print(
            f"{last.version}: {action} recorded; current release: {current}", highlight=False, markup=False
        )

    @app.command("approve")
    def approve(
        registry: Path = typer.Argument(...),
        version: str = typer.Argument(...),
        key: Path = typer.Option(..., "--key", help=_KEY_HELP),
        reason: str | None = typer.Option(None, "--reason", help="the evidence or note to record"),
    ) -> None:
        """Approve a candidate (an approver key only)."""
        _action("approve", registry, version, key, reason)

    @app.command("promote")
    def promote(
        registry: Path = typer.Argument(...),
        version: str = typer.Argument(...),
        key: Path = typer.Option(..., "--key", help=_KEY_HELP),
        reason: str | None = typer.Option(None, "--reason"),
    ) -> None:
        """Make a release current (refused: failed gate, missing required approval, quarantined)."""
        _action("promote", registry, version, key, reason)

    @app.command("rollback")
    def rollback(
        registry: Path = typer.Argument(...),
        key: Path = typer.Option(..., "--key", help=_KEY_HELP),
        reason: str | None = typer.Option(None, "--reason"),
    ) -> None:
        """Mark the current release rolled_back; the previous promoted release is current again."""
        _action("rollback", registry, None, key, reason)

    @app.command("quarantine")
    def quarantine(
        registry: Path = typer.Argument(...),
        version: str = typer.Argument(...),
        key: Path = typer.Option(..., "--key", help=_KEY_HELP),
        reason: str | None = typer.Option(None, "--reason", help="why (recorded in the signed history)"),
    ) -> None:
        """Mark a release so it can never be promoted again (and take it out of the promotion stack)."""
        _action("quarantine", registry, version, key, reason)
