"""`fedward release verify PATH`: check a signed release folder (`fedward.release.verify_release`).

A release verifies when its Ed25519 signature (RFC 8032) covers release.json, release.json is well formed
and names its signing key and folder, and model.safetensors (and, when the release carries them,
inference.json and model.onnx) has the hash the record states. Without
`--key` the signature is checked against the folder's own coordinator.pub, which proves integrity, not
identity; the summary's trust note says which case applied.

Given a release registry (a folder with registry.json), `verify` checks the whole registry instead: its
signed config, the signed and hash-chained status history replayed with its rules, and every registered
release (fedward.cli.registry holds the registry's other commands).
"""

from __future__ import annotations

from pathlib import Path

import typer

from fedward.cli.keys import read_public_key
from fedward.cli.progress import results
from fedward.cli.registry import add_commands, describe
from fedward.errors import UserError
from fedward.release import RECORD_FILE, ReleaseRecord, verify_release
from fedward.release.registry import CONFIG_FILE, open_registry

__all__ = ["app", "summarize", "verify"]

app = typer.Typer(help="Verify signed model releases and manage the release registry.", no_args_is_help=True)
add_commands(app)


def _release_folder(path: Path) -> Path:
    """A run directory is a common slip: point at its final release instead of failing on a missing file."""
    if not (path / RECORD_FILE).exists() and (path / "releases").is_dir():
        raise UserError(
            "this is a run directory, not a release folder",
            where=path,
            hint=f"give a release folder, e.g. {path / 'releases' / 'final'}",
        )
    if not path.exists() and path.parent.name == "releases" and (path.parent.parent / "ledger").is_dir():
        raise UserError(
            "release folder not found",
            where=path,
            hint=f"if the final model failed its [release] gates none was written: fedward ledger show "
            f"{path.parent.parent} says why",
        )
    return path


def summarize(record: ReleaseRecord) -> list[str]:
    """Two lines: what the release is, and what its verification proves (the trust note)."""
    checkpoint = record.ledger_checkpoint
    ledger = (
        "no ledger checkpoint"
        if checkpoint is None
        else f"ledger checkpoint of {checkpoint['tree_size']} entries, root {checkpoint['root_hash']}"
    )
    return [
        f"release {record.version} verified: round {record.round} of run {record.run_id}, "
        f"model sha256 {record.model_sha256}, {len(record.accepted_packages)} accepted update packages, "
        f"{ledger}"
        + ("; inference.json and model.onnx signed with it" if record.inference_sha256 is not None else ""),
        record.trust_note(),
    ]


@app.command("verify")
def verify(
    path: Path = typer.Argument(..., help="release folder, e.g. RUN/releases/final, or a release registry"),
    key: Path | None = typer.Option(None, "--key", help="the coordinator's public key (PEM), to pin it"),
) -> None:
    """Check the signature, the record and the model hash; exit 2 naming the problem."""
    public = None if key is None else read_public_key(key, "coordinator public key")
    if (path / CONFIG_FILE).exists():
        for line in describe(open_registry(path, public)):
            results.print(line, highlight=False, markup=False)
        return
    record = verify_release(_release_folder(path), public)
    for line in summarize(record):
        results.print(line, highlight=False, markup=False)
