"""`fedward ledger verify|show RUN`: check a run's tamper-evident ledger, or read it.

`verify` checks every entry, every signed checkpoint and the Merkle roots that bind them (RFC 9162
section 2.1; `fedward.ledger.verify_ledger`) and names the first bad line. Without `--key` it verifies
with the run's own `keys/coordinator.pub`, which proves the files were not changed since the holder of
that key signed them, not who that was: pin the coordinator's key, obtained out of band, with `--key`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fedward.cli.keys import read_public_key
from fedward.cli.progress import console, results
from fedward.crypto import key_id
from fedward.errors import UserError
from fedward.ledger import LedgerError, LedgerReport, checkpoints_path, describe_ledger, verify_ledger

__all__ = ["app", "show", "summarize", "verify"]

RUN_KEY = Path("keys") / "coordinator.pub"

app = typer.Typer(help="Verify or read a run's tamper-evident ledger.", no_args_is_help=True)


def _run_dir(run: Path) -> Path:
    if not run.is_dir():
        raise UserError("run directory not found", where=run, hint="give the --out folder of a run")
    return run


def summarize(report: LedgerReport, trust: str) -> str:
    """The one-line account of a verified ledger; `trust` says which key it was verified with."""
    parts = [
        f"{report.entries} entries",
        f"{report.checkpoints} checkpoints",
        f"{report.rounds} rounds",
        f"root {report.root_hash}",
        "finished" if report.finished else "NOT finished (no run_finished entry under the last checkpoint)",
    ]
    if report.uncommitted:
        parts.append(f"{report.uncommitted} entries after the last checkpoint (not yet signed)")
    if report.torn_bytes:
        parts.append(f"{report.torn_bytes} bytes of a torn last line ignored")
    return f"ledger verified: {', '.join(parts)}; {trust}"


@app.command("verify")
def verify(
    run: Path = typer.Argument(..., help="run directory (holds ledger/ and keys/)"),
    key: Path | None = typer.Option(None, "--key", help="the coordinator's public key (PEM), to pin it"),
) -> None:
    """Check every entry and signed checkpoint; exit 2 naming the first bad line."""
    _run_dir(run)
    if key is not None:
        public = read_public_key(key, "coordinator public key")
        trust = f"key pinned ({key}, key id {key_id(public)})"
    else:
        public = read_public_key(
            run / RUN_KEY, "coordinator public key", hint="pin the coordinator's key with --key PUB"
        )
        trust = f"verified with {run / RUN_KEY}: proves integrity, not identity; pin with --key"
    report = verify_ledger(run, public)
    if report.checkpoints == 0:
        raise LedgerError(
            "the ledger has no signed checkpoint, so none of it is proven",
            where=checkpoints_path(run),
            hint="a run writes its first checkpoint when it starts; this ledger was emptied or never ran",
        )
    results.print(summarize(report, trust), highlight=False, markup=False)


@app.command("show")
def show(run: Path = typer.Argument(..., help="run directory (holds ledger/)")) -> None:
    """Print the ledger's entries as readable rounds (display only: `ledger verify` is the check)."""
    for line in describe_ledger(_run_dir(run)):
        results.print(line, highlight=False, markup=False)
    console.print(
        f"not verified here; check it with: fedward ledger verify {run}", highlight=False, markup=False
    )
