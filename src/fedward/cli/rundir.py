"""`fedward run verify RUN`: check a whole run directory, every file of it.

The signed `run-manifest.json` (`fedward.release.verify_manifest`) must be the coordinator's and every
file it lists present and unchanged, with no file added; then the ledger, the releases and the two
together (`fedward.release.verify_trail`, as `fedward ledger verify`), and, with `--checkpoint`, that the
ledger extends a checkpoint a site witnessed. Exit 0 only when all pass; otherwise exit 2 naming the file.
Without `--key` the run's own `keys/coordinator.pub` is used: integrity, not identity.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fedward.cli.ledger import CHECKPOINT_OPTION, KEY_OPTION, check_witnessed, coordinator_key, summarize
from fedward.cli.progress import results
from fedward.errors import UserError
from fedward.release import MANIFEST_FILE, verify_manifest, verify_trail

__all__ = ["app", "verify"]

app = typer.Typer(help="Verify a whole run directory.", no_args_is_help=True)


@app.command("verify")
def verify(
    run: Path = typer.Argument(..., help="run directory (the --out folder of a run, or a kit's run/)"),
    key: Path | None = KEY_OPTION,
    checkpoint: Path | None = CHECKPOINT_OPTION,
) -> None:
    """Check the signed manifest and every file it lists, then the ledger and releases; exit 2 naming
    the first file that fails."""
    if not run.is_dir():
        raise UserError("run directory not found", where=run, hint="give the --out folder of a run")
    public, trust = coordinator_key(run, key)
    manifest = verify_manifest(run, public)
    trail = verify_trail(run, public)
    lines = [
        f"{MANIFEST_FILE} verified: {len(manifest.files)} files signed by key {manifest.key_id}, "
        "all present and unchanged, none added",
        summarize(trail.report, trust),
        f"releases consistent with the ledger: {', '.join(r.version for r in trail.releases) or 'none'}",
    ]
    if checkpoint is not None:
        lines.append(check_witnessed(trail, public, checkpoint))
    lines.append(f"run verified: {run}")
    for line in lines:
        results.print(line, highlight=False, markup=False)
