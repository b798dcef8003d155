"""`fedward ledger verify|show RUN`: check a run's tamper-evident ledger, or read it.

`verify` checks every entry, every signed checkpoint and the Merkle roots that bind them (RFC 9162
section 2.1; `fedward.ledger.verify_ledger`) and names the first bad line; then the run's releases
against the ledger and that a finished run's ledger is finished (`fedward.release.verify_trail`: a ledger
cut back fails); with `--checkpoint FILE`, that the ledger extends a checkpoint a site witnessed.
Without `--key` it verifies with the run's own `keys/coordinator.pub`, which proves the files were not
changed since the holder of that key signed them, not who that was: pin the coordinator's key, obtained
out of band, with `--key`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fedward.cli.keys import read_public_key
from fedward.cli.progress import console, results
from fedward.crypto import key_id
from fedward.errors import UserError
from fedward.ledger import LedgerReport, describe_ledger
from fedward.ledger.verify import check_extends, read_checkpoint_file
from fedward.release import Trail, verify_trail

__all__ = [
    "CHECKPOINT_OPTION",
    "KEY_OPTION",
    "app",
    "check_witnessed",
    "coordinator_key",
    "show",
    "summarize",
    "verify",
]

RUN_KEY = Path("keys") / "coordinator.pub"

app = typer.Typer(help="Verify or read a run's tamper-evident ledger.", no_args_is_help=True)

# the options `ledger verify` and `run verify` share
KEY_OPTION = typer.Option(None, "--key", help="the coordinator's public key (PEM), to pin it")
CHECKPOINT_OPTION = typer.Option(
    None,
    "--checkpoint",
    help="a signed checkpoint a site witnessed (a kit's witness/RUN_ID.json) the ledger must extend",
)


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


def coordinator_key(run: Path, key: Path | None) -> tuple[bytes, str]:
    """The coordinator public key to verify with (pinned `key`, or the run's own) and the trust note."""
    if key is not None:
        public = read_public_key(key, "coordinator public key")
        return public, f"key pinned ({key}, key id {key_id(public)})"
    public = read_public_key(
        run / RUN_KEY, "coordinator public key", hint="pin the coordinator's key with --key PUB"
    )
    return public, f"verified with {run / RUN_KEY}: proves integrity, not identity; pin with --key"


def check_witnessed(trail: Trail, public: bytes, checkpoint: Path) -> str:
    """Check that the ledger extends the witnessed checkpoint in file `checkpoint`; one line on success."""
    witnessed = check_extends(trail.ledger, read_checkpoint_file(checkpoint), public, where=checkpoint)
    return (
        f"the ledger extends the witnessed checkpoint of {witnessed.tree_size} entries ({checkpoint}, "
        f"{witnessed.time}) to {trail.report.committed} (RFC 9162 consistency proof)"
    )


@app.command("verify")
def verify(
    run: Path = typer.Argument(..., help="run directory (holds ledger/ and keys/)"),
    key: Path | None = KEY_OPTION,
    checkpoint: Path | None = CHECKPOINT_OPTION,
) -> None:
    """Check every entry and signed checkpoint, the run's releases against them, and that a finished
    run's ledger is finished; exit 2 naming the first bad line or file."""
    _run_dir(run)
    public, trust = coordinator_key(run, key)
    trail = verify_trail(run, public)
    lines = [summarize(trail.report, trust)]
    if trail.releases:
        names = ", ".join(r.version for r in trail.releases)
        lines.append(f"releases consistent with the ledger: {names}")
    committed = trail.ledger.entries[: trail.report.committed]
    for entry in (e for e in committed if e.kind == "release_refused"):
        failed = ", ".join(str(g["name"]) for g in entry.fields["gates"] if not g["passed"])
        lines.append(
            f"release {entry.fields['version']} refused by its [release] gates ({failed}): none written"
        )
    if checkpoint is not None:
        lines.append(check_witnessed(trail, public, checkpoint))
    for line in lines:
        results.print(line, highlight=False, markup=False)


@app.command("show")
def show(run: Path = typer.Argument(..., help="run directory (holds ledger/)")) -> None:
    """Print the ledger's entries as readable rounds (display only: `ledger verify` is the check)."""
    for line in describe_ledger(_run_dir(run)):
        results.print(line, highlight=False, markup=False)
    console.print(
        f"not verified here; check it with: fedward ledger verify {run}", highlight=False, markup=False
    )
