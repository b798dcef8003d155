"""Writing a run directory all at once, or not at all.

Everything is written into a hidden staging folder beside the target and renamed into place at the end,
so an interrupted or failed run never leaves a half-written directory behind. Layout:

    DIR/summary.json            run summary (see docs/architecture.md for the keys)
    DIR/metrics.jsonl           one JSON line per round
    DIR/model/global.safetensors  the final global model
    DIR/report.html             self-contained report
    DIR/ledger/, DIR/releases/, DIR/keys/   the audit trail, written during the run into a work folder
                                            (`RunOutputs.extra_dirs`) and moved in with the rest
    DIR/run-manifest.json       every other file's SHA-256 and size, signed by the coordinator's key
                                (`RunOutputs.seal`, called last; `fedward run verify` checks it)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedward.errors import UserError

__all__ = ["RunOutputs", "check_out_dir", "write_run_dir"]


@dataclass(frozen=True)
class RunOutputs:
    summary: Mapping[str, Any]
    rounds: Sequence[Mapping[str, Any]]
    model_bytes: bytes
    extra_files: Mapping[str, bytes] = field(default_factory=dict)  # relative path -> content
    extra_dirs: Mapping[str, Path] = field(default_factory=dict)  # relative path -> folder to move in
    seal: Callable[[Path], object] | None = None  # signs the finished staging folder (run-manifest.json)


def check_out_dir(out: Path, *, force: bool) -> None:
    """Refuse to overwrite a non-empty directory unless `force`; call before doing any work."""
    if out.exists() and not out.is_dir():
        raise UserError("exists and is not a directory", where=out, hint="choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(
            "output directory is not empty", where=out, hint="choose a new --out, or pass --force"
        )


def write_run_dir(
    out: Path, outputs: RunOutputs, render: Callable[[RunOutputs], str], *, force: bool
) -> None:
    check_out_dir(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        _write(staging, outputs, render)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, trash / out.name)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write(root: Path, outputs: RunOutputs, render: Callable[[RunOutputs], str]) -> None:
    (root / "model").mkdir()
    (root / "model" / "global.safetensors").write_bytes(outputs.model_bytes)
    (root / "summary.json").write_text(json.dumps(outputs.summary, indent=2, allow_nan=False) + "\n")
    with (root / "metrics.jsonl").open("w") as fh:
        for row in outputs.rounds:
            fh.write(json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n")
    for rel, folder in outputs.extra_dirs.items():
        shutil.move(folder, root / rel)
    for rel, content in outputs.extra_files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (root / "report.html").write_text(render(outputs), encoding="utf-8")
    if outputs.seal is not None:  # last: the manifest covers every file written above
        outputs.seal(root)
