"""The signed run manifest, `DIR/run-manifest.json`: the SHA-256 and size of every file of a run directory,
signed by the coordinator's Ed25519 key (RFC 8032) when the directory is written.

The ledger and the releases carry their own signatures; `summary.json`, `metrics.jsonl`, `report.html`
and `model/` carried none, so anyone could edit them unseen. The manifest lists every regular file under
the run directory (itself excepted) as `{"path": {"sha256": hex, "size": bytes}}`; what is signed is a
fixed context string followed by the manifest's canonical JSON (`fedward.core.canonical`), so the
signature can never be taken for a checkpoint's or a release's, which the same key signs. The file is
`{"key_id": ..., "manifest": {...}, "signature": hex}` in canonical JSON.

`verify_manifest` fails closed, naming the file: a bad signature or another key, a listed file missing,
changed (hash or size), or a file present that the manifest does not list.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.crypto import SignatureError, SigningKey, key_id, verify
from fedward.errors import UserError

__all__ = [
    "MANIFEST_CONTEXT",
    "MANIFEST_FILE",
    "ManifestError",
    "RunManifest",
    "verify_manifest",
    "write_manifest",
]

MANIFEST_FILE = "run-manifest.json"
MANIFEST_CONTEXT = b"fedward run manifest v1\n"
MAX_MANIFEST_BYTES = 16 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_CHUNK = 1 << 20


class ManifestError(UserError):
    """The run manifest is missing, malformed, not signed by the coordinator, or a file differs from it."""


@dataclass(frozen=True)
class RunManifest:
    """The verified manifest: the files it lists (relative POSIX path -> (sha256 hex, size))."""

    files: Mapping[str, tuple[str, int]]
    key_id: str


def _digest(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _files(root: Path) -> list[str]:
    """Every file under `root` as a relative POSIX path, sorted; the manifest itself left out."""
    out = []
    for path in root.rglob("*"):
        if path.is_symlink() or path.is_dir():
            continue
        rel = path.relative_to(root).as_posix()
        if rel != MANIFEST_FILE:
            out.append(rel)
    return sorted(out)


def _message(manifest: Mapping[str, Any]) -> bytes:
    return MANIFEST_CONTEXT + canonical_bytes(manifest)


def write_manifest(root: Path, key: SigningKey) -> Path:
    """Hash every file under `root`, sign the manifest with `key` and write `root/run-manifest.json`.
    Call it last, when nothing else will be written into `root`."""
    listed = {}
    for rel in _files(root):
        sha, size = _digest(root / rel)
        listed[rel] = {"sha256": sha, "size": size}
    manifest = {"files": listed, "version": 1}
    document = {
        "key_id": key_id(key.public),
        "manifest": manifest,
        "signature": key.sign(_message(manifest)).hex(),
    }
    path = root / MANIFEST_FILE
    path.write_bytes(canonical_bytes(document) + b"\n")
    return path


def _parse(path: Path) -> tuple[dict[str, Any], str, bytes]:
    """The manifest, its key id and signature, strictly parsed; ManifestError naming `path` otherwise."""
    if not path.is_file():
        raise ManifestError(
            "the run directory has no signed manifest",
            where=path,
            hint="runs written by this version of fedward have one; an older run can be checked with "
            "`fedward ledger verify` only",
        )
    with path.open("rb") as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    try:
        doc = parse_canonical(data.rstrip(b"\n"), max_bytes=MAX_MANIFEST_BYTES)
    except CanonicalError as exc:
        raise ManifestError(f"not canonical JSON: {exc}", where=path) from None
    if not isinstance(doc, dict) or set(doc) != {"key_id", "manifest", "signature"}:
        raise ManifestError(
            "the manifest file has exactly the fields key_id, manifest, signature", where=path
        )
    manifest, kid, signature = doc["manifest"], doc["key_id"], doc["signature"]
    if not isinstance(signature, str) or _HEX128.fullmatch(signature) is None:
        raise ManifestError("the signature must be 128 lowercase hex digits", where=path)
    if not isinstance(kid, str) or not isinstance(manifest, dict) or set(manifest) != {"files", "version"}:
        raise ManifestError("the manifest must hold files and version, and a key_id string", where=path)
    if manifest["version"] != 1 or not isinstance(manifest["files"], dict):
        raise ManifestError(f"unknown manifest version {manifest['version']!r}", where=path)
    return manifest, kid, bytes.fromhex(signature)


def _check_entry(path: Path, rel: Any, value: Any) -> tuple[str, int]:
    parts = PurePosixPath(rel).parts if isinstance(rel, str) else ()
    if not parts or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        raise ManifestError(f"the manifest lists a path outside the run directory: {rel!r}", where=path)
    ok = isinstance(value, dict) and set(value) == {"sha256", "size"}
    sha, size = (value.get("sha256"), value.get("size")) if ok else (None, None)
    if not isinstance(sha, str) or _HEX64.fullmatch(sha) is None or isinstance(size, bool):
        raise ManifestError(f"the manifest entry of {rel} must be {{sha256, size}}", where=path)
    if not isinstance(size, int) or size < 0:
        raise ManifestError(f"the manifest entry of {rel} has a bad size {size!r}", where=path)
    return sha, size


def verify_manifest(root: Path, public_key: bytes) -> RunManifest:
    """Check `root/run-manifest.json`: signed by `public_key` (raw Ed25519), and every file it lists is
    present with its hash and size, and no other file is present. The first failure raises
    `ManifestError` naming the file."""
    path = root / MANIFEST_FILE
    manifest, kid, signature = _parse(path)
    expected = key_id(public_key)
    if kid != expected:
        raise ManifestError(
            f"the manifest names key {kid}, not the coordinator key {expected}",
            where=path,
            hint="verify with the coordinator public key of this run (--key)",
        )
    try:
        verify(public_key, _message(manifest), signature)
    except SignatureError:
        raise ManifestError(
            "the manifest's signature does not verify (forged or altered)", where=path
        ) from None
    files = {rel: _check_entry(path, rel, value) for rel, value in manifest["files"].items()}
    for rel, (sha, size) in files.items():
        target = root / rel
        if target.is_symlink() or not target.is_file():
            raise ManifestError("a file the signed manifest lists is missing", where=target)
        actual_sha, actual_size = _digest(target)
        if (actual_sha, actual_size) != (sha, size):
            raise ManifestError(
                f"changed since the run was signed: SHA-256 {actual_sha[:16]}, {actual_size} bytes; the "
                f"manifest says {sha[:16]}, {size} bytes",
                where=target,
                hint="do not use this file; the run's copy was altered after it was written",
            )
    extra = [rel for rel in _files(root) if rel not in files]
    if extra:
        raise ManifestError(
            f"not in the signed manifest (added after the run was written); {len(extra)} such file(s)",
            where=root / extra[0],
            hint="remove files that are not the run's, or keep them outside the run directory",
        )
    return RunManifest(files, kid)
