"""Writing a signed release: `DIR/releases/<version>/` with the model, its record, signature and key,
and, when given, the inference files (inference.json and model.onnx, their hashes in the signed record).

The coordinator signs the exact bytes of release.json (canonical JSON) with its Ed25519 key (RFC 8032).
Writing is atomic: the four files go into a hidden staging folder beside the releases, which is renamed
into place only when complete, so a reader sees a whole release or none. An existing version is never
overwritten: a release, once published, is immutable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fedward.core.arrays import arrays_from_bytes
from fedward.crypto import SigningKey, key_id, public_key_pem
from fedward.release.record import (
    INFERENCE_FILE,
    KEY_FILE,
    MODEL_FILE,
    ONNX_FILE,
    RECORD_FILE,
    SIGNATURE_FILE,
    ReleaseError,
    ReleaseRecord,
    check_version,
)

__all__ = ["STAGING_PREFIX", "write_release"]

STAGING_PREFIX = ".staging-"
_EXISTS = "release already exists; a published release is never overwritten"


def write_release(
    releases_dir: Path,
    version: str,
    model_bytes: bytes,
    *,
    run_id: str,
    round: int,
    parent: str | None,
    accepted_packages: Sequence[str],
    site_metrics: Mapping[str, Mapping[str, float]],
    privacy: Mapping[str, Any],
    ledger_checkpoint: Mapping[str, Any] | None,
    key: SigningKey,
    init_model_sha256: str | None = None,
    inference: tuple[bytes, bytes] | None = None,
    model_code_sha256: str | None = None,
) -> Path:
    """Sign and publish release `version`; return its folder. Refuses bad input and existing versions.
    `init_model_sha256`: the `[model] init` file the run started from, `model_code_sha256`: the `[model]
    code` file the sites ran (each recorded only when given). `inference`: the bytes of inference.json
    and model.onnx (fedward.release.inference), written beside the model with their SHA-256 in the
    signed record."""
    fields = {
        "version": version,
        "run_id": run_id,
        "round": round,
        "parent": parent,
        "accepted_packages": tuple(accepted_packages),
        "site_metrics": site_metrics,
        "privacy": privacy,
        "ledger_checkpoint": ledger_checkpoint,
        "init_model_sha256": init_model_sha256,
        "inference_sha256": None if inference is None else hashlib.sha256(inference[0]).hexdigest(),
        "onnx_sha256": None if inference is None else hashlib.sha256(inference[1]).hexdigest(),
        "model_code_sha256": model_code_sha256,
    }
    record = _new_record(releases_dir / version, model_bytes, key, fields)
    target = releases_dir / version
    if target.exists():
        raise ReleaseError(_EXISTS, where=target)
    if parent is not None and not (releases_dir / parent).is_dir():
        raise ReleaseError(f"parent release {parent!r} does not exist", where=releases_dir / parent)
    body = record.to_bytes()
    files = {
        MODEL_FILE: model_bytes,
        RECORD_FILE: body,
        SIGNATURE_FILE: key.sign(body).hex().encode("ascii") + b"\n",
        KEY_FILE: public_key_pem(key.public),
    }
    if inference is not None:
        files[INFERENCE_FILE], files[ONNX_FILE] = inference
    _publish(releases_dir, target, files)
    return target


def _new_record(where: Path, model_bytes: bytes, key: SigningKey, fields: dict[str, Any]) -> ReleaseRecord:
    """The validated record of a new release; an invalid field or model raises `ReleaseError`."""
    try:
        check_version(fields["version"])
        arrays_from_bytes(model_bytes, copy=False)
    except (ValueError, RecursionError) as exc:
        raise ReleaseError(f"cannot release: {exc}", where=where) from None
    try:
        return ReleaseRecord(
            **fields,
            model_sha256=hashlib.sha256(model_bytes).hexdigest(),
            coordinator_key_id=key_id(key.public),
        )
    except ValueError as exc:
        raise ReleaseError(f"invalid release record: {exc}", where=where) from None


def _publish(releases_dir: Path, target: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` into a staging folder and rename it to `target`; leave nothing behind on failure."""
    releases_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{target.name}-", dir=releases_dir))
    try:
        for name, data in files.items():
            _write_new(staging / name, data)
        _fsync_dir(staging)
        if target.exists():  # checked again: another writer may have published meanwhile
            raise ReleaseError(_EXISTS, where=target)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(releases_dir)


def _write_new(path: Path, data: bytes) -> None:
    with path.open("xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
