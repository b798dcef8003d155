"""A run directory's audit trail checked as one: the ledger, every release in it, and the two against each
other, so that cutting the tail off the ledger is a failure, not a "NOT finished" note.

The ledger files alone cannot tell a ledger whose newest checkpoints and entries were removed from one
whose run crashed (`fedward.ledger.verify`). A run directory can: it is written only when the run
finished, and it holds signed releases that name a ledger checkpoint. `verify_trail` therefore fails
(naming the file) when, beyond `verify_ledger`'s own checks,

- the ledger has no signed checkpoint at all;
- a release (each folder of `DIR/releases/`, verified with the ledger's coordinator key) is of another
  run, names no checkpoint, or names one the ledger's signed entries do not hold (more entries than the
  last checkpoint covers: cut back) or do not agree with (another Merkle root: rewritten);
- the ledger is not finished (no `run_finished` under its last checkpoint) while the directory says the
  run finished: `summary.json` or a release is there;
- a release has no `release_signed` entry with its version, round and model hash under the last
  checkpoint, or the ledger refused it (`release_refused`: the final model failed its `[release]` gates,
  so no release may exist for it). A refused run has no release folder at all; its ledger, finished
  with `release_refused` and `run_finished`, verifies as any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fedward.ledger.errors import LedgerError
from fedward.ledger.merkle import root_hash
from fedward.ledger.store import checkpoints_path
from fedward.ledger.verify import LedgerReport, VerifiedLedger, read_verified_ledger
from fedward.release.record import RECORD_FILE, ReleaseRecord
from fedward.release.verify import verify_release

__all__ = ["RELEASES_DIR", "SUMMARY_FILE", "Trail", "verify_trail"]

RELEASES_DIR = "releases"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class Trail:
    """A verified run directory's ledger and its releases (in folder order)."""

    ledger: VerifiedLedger
    releases: list[ReleaseRecord]

    @property
    def report(self) -> LedgerReport:
        return self.ledger.report


def verify_trail(run: Path, public_key: bytes) -> Trail:
    """Verify the ledger under `run`, its releases with the same coordinator key, and the two together
    (see the module docstring); raise `LedgerError` or `ReleaseError` naming the first bad file."""
    verified = read_verified_ledger(run, public_key)
    report = verified.report
    if report.checkpoints == 0:
        raise LedgerError(
            "the ledger has no signed checkpoint, so none of it is proven",
            where=checkpoints_path(run),
            hint="a run writes its first checkpoint when it starts; this ledger was emptied or never ran",
        )
    releases = _releases(run, public_key)
    for folder, record in releases:
        _check_release_checkpoint(folder, record, verified)
    _check_finished(run, report, [folder for folder, _ in releases])
    for folder, record in releases:
        _check_release_entry(folder, record, verified)
    return Trail(verified, [record for _, record in releases])


def _releases(run: Path, public_key: bytes) -> list[tuple[Path, ReleaseRecord]]:
    folder = run / RELEASES_DIR
    if not folder.is_dir():
        return []
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):  # a staging folder of a release being written
            continue
        out.append((entry, verify_release(entry, public_key)))
    return out


def _check_release_checkpoint(folder: Path, record: ReleaseRecord, verified: VerifiedLedger) -> None:
    where, report = folder / RECORD_FILE, verified.report
    if record.run_id != report.ledger_id:
        raise LedgerError(
            f"release {record.version} is of run {record.run_id!r}, the ledger of {report.ledger_id!r}",
            where=where,
        )
    named = record.ledger_checkpoint
    if named is None:
        raise LedgerError(f"release {record.version} names no ledger checkpoint", where=where)
    size, root = named["tree_size"], named["root_hash"]
    if size > report.committed:
        raise LedgerError(
            f"release {record.version} names the ledger checkpoint of {size} entries, but the ledger's "
            f"signed entries end at {report.committed}: the ledger was cut back",
            where=where,
            hint="the ledger files lost their tail after the release was signed; do not trust this ledger",
        )
    if root_hash(verified.leaf_hashes[:size]).hex() != root:
        raise LedgerError(
            f"release {record.version} names root {root[:16]} for the first {size} entries; the ledger's "
            "entries give another: the ledger was rewritten",
            where=where,
        )


def _check_finished(run: Path, report: LedgerReport, releases: list[Path]) -> None:
    if report.finished:
        return
    evidence = [run / SUMMARY_FILE] if (run / SUMMARY_FILE).exists() else []
    evidence += releases
    if evidence:
        raise LedgerError(
            f"the ledger is not finished (no run_finished entry under its last checkpoint), but the run "
            f"directory is a finished run's ({', '.join(p.name for p in evidence)}): the ledger's tail was "
            "cut off",
            where=checkpoints_path(run),
            hint="a run directory is written only after run_finished was signed; do not trust this ledger",
        )


def _check_release_entry(folder: Path, record: ReleaseRecord, verified: VerifiedLedger) -> None:
    committed = verified.entries[: verified.report.committed]
    signed = [e for e in committed if e.kind == "release_signed" and e.fields["version"] == record.version]
    refused = [e for e in committed if e.kind == "release_refused" and e.fields["version"] == record.version]
    if refused:  # the run's own gates refused this model: a release folder for it was written by someone else
        failed = ", ".join(str(g["name"]) for g in refused[-1].fields["gates"] if not g["passed"])
        raise LedgerError(
            f"the ledger's entry {refused[-1].seq} refused release {record.version} (failed release "
            f"gates: {failed}), yet a release folder for it exists",
            where=folder / RECORD_FILE,
            hint="the final model failed its [release] gates and must not be used; remove this folder",
        )
    if not signed:
        raise LedgerError(
            f"the ledger's signed entries have no release_signed entry for release {record.version}",
            where=folder / RECORD_FILE,
        )
    entry = signed[-1]
    if entry.fields["model_hash"] != record.model_sha256 or entry.fields["round"] != record.round:
        raise LedgerError(
            f"release {record.version} (round {record.round}, model {record.model_sha256[:16]}) is not "
            f"the one the ledger's entry {entry.seq} records (round {entry.fields['round']}, model "
            f"{str(entry.fields['model_hash'])[:16]})",
            where=folder / RECORD_FILE,
        )
