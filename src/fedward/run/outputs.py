"""Writing a finished run's directory, once for both ways to run: summary.json, metrics.jsonl, the final
model, report.html, the audit folders (keys, ledger, releases) moved in from the work folder, and the
signed run-manifest.json over all of them.

`report.rundir` makes the write atomic (a staging folder renamed into place); this module decides what a
run directory holds, so `fedward simulate --out` and a deployed coordinator's `KIT/run/` stay the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedward.coordinator import FederationResult
from fedward.coordinator.audit import Audit
from fedward.core.arrays import arrays_to_bytes
from fedward.report import RunOutputs, write_run_dir
from fedward.report.html import render_report
from fedward.run.audit import AUDIT_DIRS

__all__ = ["write_run"]


def write_run(
    out: Path,
    summary: Mapping[str, Any],
    result: FederationResult,
    work: Path,
    *,
    force: bool,
    audit: Audit | None = None,
) -> None:
    """Write `out` from the run's summary and result and the audit folders under `work` (moved, not
    copied); refuses a non-empty `out` unless `force` (`report.check_out_dir`). With the run's `audit`,
    the coordinator signs `run-manifest.json` over every file of the directory."""
    outputs = RunOutputs(
        summary,
        [r.to_json() for r in result.rounds],
        arrays_to_bytes(result.params),
        extra_dirs={name: work / name for name in AUDIT_DIRS},
        seal=None if audit is None else audit.sign_run_manifest,
    )
    write_run_dir(out, outputs, lambda o: render_report(o.summary, o.rounds), force=force)
