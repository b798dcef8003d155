"""Verifying signed releases: one release folder (`verify_release`) or a whole run's chain (`verify_chain`).

A release verifies when all four files are present, release.sig is a valid Ed25519 signature (RFC 8032)
over the exact bytes of release.json, release.json is canonical and well formed, names the signing key
and its own folder, and model.safetensors has the SHA-256 the record states and parses as safetensors.
When the record names the inference files' hashes (`inference_sha256`, `onnx_sha256`), inference.json
and model.onnx must be present with those hashes; present without a hash in the record, they are
unsigned and refused.
Anything else raises `ReleaseError` naming the problem and the file (fail closed).

Trust: with no pinned key, the signature is checked against the release's own coordinator.pub. That
proves the files are intact and were signed together, but not who signed them: anyone can write a
release with their own key beside it. To prove the coordinator's identity, pin its key (`--key`, the
`public_key` argument), obtained out of band; `ReleaseRecord.trust_note()` says which case applied.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from fedward.core.arrays import arrays_from_bytes
from fedward.crypto import SIGNATURE_BYTES, SignatureError, key_id, public_key_from_pem, verify
from fedward.release.record import (
    KEY_FILE,
    MAX_RECORD_BYTES,
    MODEL_FILE,
    OPTIONAL_FILES,
    RECORD_FILE,
    RELEASE_FILES,
    SIGNATURE_FILE,
    ReleaseError,
    ReleaseRecord,
)

__all__ = ["verify_chain", "verify_release"]


def verify_release(path: Path, public_key: bytes | None = None) -> ReleaseRecord:
    """Check one release folder; return its record, or raise `ReleaseError` naming the problem and file.

    Without `public_key` this proves integrity only (the key comes from the folder); pin the key for
    the coordinator's identity.
    """
    _check_files(path)
    signer = _signing_key(path, public_key)
    body = _read_bounded(path / RECORD_FILE)
    _check_signature(path, signer, body)
    record = _parse_record(path, body)
    _check_names(path, record, signer)
    model = (path / MODEL_FILE).read_bytes()
    _check_model_hash(path, record, model)
    _check_model_format(path, model)
    _check_inference_files(path, record)
    return replace(record, key_pinned=public_key is not None)


def verify_chain(releases_dir: Path, public_key: bytes | None = None) -> list[ReleaseRecord]:
    """Verify every release in `releases_dir` and their links; return the records in round order.

    Each parent must exist, belong to the same run, and come at an earlier round (or the same round
    with the same model, as a "final" release of the last round's model does); the links must not loop.
    """
    if not releases_dir.is_dir():
        raise ReleaseError("releases folder not found", where=releases_dir)
    records: dict[str, ReleaseRecord] = {}
    for entry in sorted(releases_dir.iterdir()):
        if entry.name.startswith("."):  # staging folders of releases being written
            continue
        if not entry.is_dir():
            raise ReleaseError("not a release folder", where=entry)
        records[entry.name] = verify_release(entry, public_key)
    if not records:
        raise ReleaseError("no releases found", where=releases_dir)
    for record in records.values():
        _check_parent(releases_dir, record, records)
    _check_no_loops(releases_dir, records)
    return sorted(records.values(), key=lambda r: (r.round, r.version))


# --- the checks of one release, in order; each raises ReleaseError naming the file


def _check_files(path: Path) -> None:
    if not path.is_dir():
        raise ReleaseError("release folder not found", where=path)
    for name in RELEASE_FILES:
        if not (path / name).is_file():
            raise ReleaseError(f"release is missing {name}", where=path / name)


def _signing_key(path: Path, pinned: bytes | None) -> bytes:
    """The key to verify with: the pinned key, which must be the folder's key, or else the folder's key."""
    try:
        folder_key = public_key_from_pem(_read_bounded(path / KEY_FILE))
    except SignatureError as exc:
        raise ReleaseError(f"{KEY_FILE} is not an Ed25519 public key: {exc}", where=path / KEY_FILE) from None
    if pinned is not None:
        _check_pinned_key(path, folder_key, pinned)
        return pinned
    return folder_key


def _check_pinned_key(path: Path, folder_key: bytes, pinned: bytes) -> None:
    if folder_key != pinned:
        raise ReleaseError(
            f"release was signed by key {key_id(folder_key)}, not by the pinned key {key_id(pinned)}",
            where=path / KEY_FILE,
            hint="the release was re-signed or comes from another coordinator; do not use it",
        )


def _check_signature(path: Path, signer: bytes, body: bytes) -> None:
    where = path / SIGNATURE_FILE
    text = _read_bounded(where).strip()
    try:
        signature = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ReleaseError("release.sig is not hex", where=where) from None
    if len(signature) != SIGNATURE_BYTES:
        raise ReleaseError(f"release.sig holds {len(signature)} bytes, not {SIGNATURE_BYTES}", where=where)
    try:
        verify(signer, body, signature)
    except SignatureError:
        raise ReleaseError(
            f"signature does not verify with key {key_id(signer)}: release.json or release.sig was changed",
            where=where,
        ) from None


def _parse_record(path: Path, body: bytes) -> ReleaseRecord:
    try:
        return ReleaseRecord.from_bytes(body)
    except (ValueError, RecursionError) as exc:  # CanonicalError is a ValueError
        raise ReleaseError(f"release.json is malformed: {exc}", where=path / RECORD_FILE) from None


def _check_names(path: Path, record: ReleaseRecord, signer: bytes) -> None:
    where = path / RECORD_FILE
    if record.coordinator_key_id != key_id(signer):
        raise ReleaseError(
            f"coordinator_key_id {record.coordinator_key_id} is not the signing key {key_id(signer)}",
            where=where,
        )
    folder = path.resolve().name
    if record.version != folder:
        raise ReleaseError(f"version {record.version!r} does not match its folder {folder!r}", where=where)


def _check_model_hash(path: Path, record: ReleaseRecord, model: bytes) -> None:
    actual = hashlib.sha256(model).hexdigest()
    if actual != record.model_sha256:
        raise ReleaseError(
            f"model_sha256 mismatch: the file's SHA-256 is {actual}, release.json says {record.model_sha256}",
            where=path / MODEL_FILE,
            hint="the model file was changed after it was released; do not use it",
        )


def _check_model_format(path: Path, model: bytes) -> None:
    try:
        arrays_from_bytes(model, copy=False)
    except (ValueError, RecursionError) as exc:  # RecursionError: a deeply nested JSON header
        raise ReleaseError(
            f"model is not a float32 safetensors file: {exc}", where=path / MODEL_FILE
        ) from None


def _check_inference_files(path: Path, record: ReleaseRecord) -> None:
    """inference.json and model.onnx: each with the hash the signed record names, or absent with none."""
    for field_name, name in OPTIONAL_FILES:
        expected = getattr(record, field_name)
        where = path / name
        if expected is None:
            if where.exists():
                raise ReleaseError(
                    f"{name} is not covered by the signature: release.json names no {field_name}",
                    where=where,
                    hint="the file was added after the release was signed; do not use it",
                )
            continue
        if where.is_symlink() or not where.is_file():
            raise ReleaseError(f"release is missing {name}, which release.json names", where=where)
        actual = _sha256_file(where)
        if actual != expected:
            raise ReleaseError(
                f"{field_name} mismatch: the file's SHA-256 is {actual}, release.json says {expected}",
                where=where,
                hint="the file was changed after it was released; do not use it",
            )


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _read_bounded(path: Path) -> bytes:
    """Read a small release file, refusing one larger than any record, key or signature can be."""
    with path.open("rb") as fh:
        data = fh.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise ReleaseError(f"{path.name} is larger than {MAX_RECORD_BYTES} bytes", where=path)
    return data


# --- the links between releases


def _check_parent(releases_dir: Path, record: ReleaseRecord, records: dict[str, ReleaseRecord]) -> None:
    if record.parent is None:
        return
    where = releases_dir / record.version / RECORD_FILE
    parent = records.get(record.parent)
    if parent is None:
        raise ReleaseError(f"parent release {record.parent!r} is missing", where=where)
    if parent.run_id != record.run_id:
        raise ReleaseError(f"parent {parent.version!r} is from run {parent.run_id!r}", where=where)
    same_model = parent.model_sha256 == record.model_sha256
    if record.round < parent.round or (record.round == parent.round and not same_model):
        raise ReleaseError(
            f"round {record.round} does not come after parent {parent.version!r} (round {parent.round})",
            where=where,
        )


def _check_no_loops(releases_dir: Path, records: dict[str, ReleaseRecord]) -> None:
    for start in records.values():
        seen = {start.version}
        parent = start.parent
        while parent is not None:
            if parent in seen:
                raise ReleaseError(
                    f"release parents loop back to {parent!r}", where=releases_dir / start.version
                )
            seen.add(parent)
            parent = records[parent].parent if parent in records else None
