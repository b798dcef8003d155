"""The release registry: signed releases with a status, a lineage and a signed history of every action.

Layout of `REGISTRY/`:

- `registry.json` + `registry.sig`: the registry's keys and rule, canonical JSON signed by the admin key
  (Ed25519, RFC 8032): `{"format": 1, "admin_key": PEM, "approver_keys": [PEM...], "require_approval"}`.
  The admin key is the federation's coordinator key: it signed the releases and signs every action but
  `approve`; only an approver key may approve, and an approver key can do nothing else.
- `history.jsonl`: the signed, hash-chained actions (fedward.release.history): register, approve,
  promote, rollback, quarantine.
- `<version>/<release>/`: the signed release as the run wrote it (`RUN/releases/final/` is copied byte
  for byte into `<version>/final/`), so `fedward release verify` checks it as before.

Statuses: `candidate` (registered), `approved`, `promoted`, `rolled_back`, `quarantined`. Promotions form a
stack; the `current` release is its top. `promote` pushes (refused for a release that failed a gate, a
quarantined one, or, with `require_approval`, one no approver approved); `rollback` pops the current one
(it becomes `rolled_back`) so the previous promoted release is current again; `quarantine` marks a
release so it can never be promoted again and takes it off the stack. Every state is replayed from the
history, with the same rules, each time the registry is read, so a history that breaks them, or whose
chain or signatures fail, is refused.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedward.core.canonical import CanonicalError, canonical_bytes, parse_canonical
from fedward.crypto import SignatureError, SigningKey, key_id, public_key_from_pem, public_key_pem, verify
from fedward.release.history import HISTORY_FILE, Action, append_action, read_history
from fedward.release.record import ReleaseError, ReleaseRecord, check_version
from fedward.release.verify import verify_release

__all__ = [
    "CONFIG_FILE",
    "CONFIG_SIGNATURE_FILE",
    "Registry",
    "RegistryEntry",
    "act",
    "init_registry",
    "lineage_of",
    "open_registry",
    "register",
]

CONFIG_FILE = "registry.json"
CONFIG_SIGNATURE_FILE = "registry.sig"
_LOCK_FILE = ".lock"


@dataclass
class RegistryEntry:
    """One registered release: its status, lineage (from its `register` line) and folder."""

    version: str
    status: str
    lineage: Mapping[str, Any]
    folder: Path
    approved_by: list[str] = field(default_factory=list)


@dataclass
class Registry:
    """A verified registry: its keys and rule, its history and the state replayed from it."""

    root: Path
    admin_key: bytes
    approver_keys: tuple[bytes, ...]
    require_approval: bool
    history: list[Action]
    entries: dict[str, RegistryEntry]
    promoted: list[str]  # the promotion stack; the last is current
    key_pinned: bool = False

    @property
    def current(self) -> RegistryEntry | None:
        return self.entries[self.promoted[-1]] if self.promoted else None

    def keys(self) -> dict[str, bytes]:
        return {key_id(k): k for k in (self.admin_key, *self.approver_keys)}


def init_registry(
    root: Path, admin: SigningKey, approvers: Sequence[bytes], *, require_approval: bool
) -> Path:
    """Create an empty registry at `root` (refused where one exists)."""
    if (root / CONFIG_FILE).exists():
        raise ReleaseError("a registry already exists here", where=root)
    if require_approval and not approvers:
        raise ReleaseError("require_approval needs at least one approver key", where=root)
    if admin.public in approvers:
        raise ReleaseError("the admin key cannot also be an approver key (separation of duties)", where=root)
    body = canonical_bytes(
        {
            "format": 1,
            "admin_key": public_key_pem(admin.public).decode("ascii"),
            "approver_keys": [public_key_pem(k).decode("ascii") for k in approvers],
            "require_approval": require_approval,
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG_FILE).write_bytes(body)
    (root / CONFIG_SIGNATURE_FILE).write_text(admin.sign(body).hex() + "\n", encoding="ascii")
    (root / HISTORY_FILE).touch()
    return root


def open_registry(root: Path, pinned_admin: bytes | None = None) -> Registry:
    """Read and verify a registry: its signed config, history (chain, signatures, rules) and every
    registered release (signature by the admin key, model hash as its lineage states)."""
    if not (root / CONFIG_FILE).exists():
        raise ReleaseError(
            "not a release registry (no registry.json)",
            where=root,
            hint="create one with: fedward release init",
        )
    admin, approvers, require = _read_config(root, pinned_admin)
    registry = Registry(root, admin, approvers, require, [], {}, [], key_pinned=pinned_admin is not None)
    registry.history = read_history(root / HISTORY_FILE, registry.keys())
    for action in registry.history:
        _apply(registry, action, where=f"{root / HISTORY_FILE}:{action.seq + 1}")
    for entry in registry.entries.values():
        record = verify_release(entry.folder, admin)
        if record.model_sha256 != entry.lineage.get("model_sha256"):
            raise ReleaseError(
                "the model is not the one registered (model_sha256 differs)", where=entry.folder
            )
    return registry


def lineage_of(
    record: ReleaseRecord, *, parent: str | None, gates: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """The lineage a `register` line records: the release record's own fields plus the registry parent."""
    return {
        "parent": parent,
        "release": record.version,
        "run_id": record.run_id,
        "round": record.round,
        "model_sha256": record.model_sha256,
        "init_model_sha256": record.init_model_sha256,
        "model_code_sha256": record.model_code_sha256,
        "sites": sorted(record.site_metrics),
        "gates": None if gates is None else [dict(g) for g in gates],
        "coordinator_key_id": record.coordinator_key_id,
    }


def register(
    root: Path,
    version: str,
    release: Path,
    key: SigningKey,
    *,
    time: str,
    parent: str | None = None,
    gates: Sequence[Mapping[str, Any]] | None = None,
) -> RegistryEntry:
    """Copy the signed release folder `release` byte for byte into `REGISTRY/<version>/` as a candidate.
    `parent` defaults to the current release. The release must verify with the registry's admin key."""
    try:
        check_version(version)
    except ValueError as exc:
        raise ReleaseError(str(exc), where=root) from None
    with _locked(root):
        registry = open_registry(root)
        _check_admin(registry, key, "register")
        record = verify_release(release, registry.admin_key)
        if parent is None and registry.current is not None:
            parent = registry.current.version
        lineage = lineage_of(record, parent=parent, gates=gates)
        probe = Action(
            len(registry.history), time, "register", version, None, lineage, key_id(key.public), ""
        )
        _apply(registry, probe, where=root / version)
        _copy_release(release, root / version)
        append_action(
            root / HISTORY_FILE,
            previous=registry.history[-1] if registry.history else None,
            time=time,
            action="register",
            version=version,
            key=key,
            lineage=lineage,
        )
        return registry.entries[version]


def act(
    root: Path, action: str, version: str | None, key: SigningKey, *, time: str, reason: str | None = None
) -> Registry:
    """Take `action` (approve, promote, rollback, quarantine) on `version` (rollback: the current one
    when None) signed with `key`; refused (ReleaseError) when the key or the rules forbid it."""
    with _locked(root):
        registry = open_registry(root)
        if action == "rollback" and version is None:
            if registry.current is None:
                raise ReleaseError("nothing to roll back: no release is promoted", where=root)
            version = registry.current.version
        if version is None:
            raise ReleaseError(f"{action} needs a version", where=root)
        if action == "approve":
            if key.public not in registry.approver_keys:
                raise ReleaseError(
                    f"key {key_id(key.public)} is not an approver key of this registry: approval refused",
                    where=root / CONFIG_FILE,
                    hint="approve with a key listed in registry.json's approver_keys",
                )
        else:
            _check_admin(registry, key, action)
        probe = Action(len(registry.history), time, action, version, reason, None, key_id(key.public), "")
        _apply(registry, probe, where=root / HISTORY_FILE)
        append_action(
            root / HISTORY_FILE,
            previous=registry.history[-1] if registry.history else None,
            time=time,
            action=action,
            version=version,
            key=key,
            reason=reason,
        )
        return open_registry(root)


def _check_admin(registry: Registry, key: SigningKey, action: str) -> None:
    if key.public != registry.admin_key:
        raise ReleaseError(
            f"key {key_id(key.public)} is not this registry's admin (coordinator) key "
            f"{key_id(registry.admin_key)}: {action} refused",
            where=registry.root / CONFIG_FILE,
            hint=f"{action} with the coordinator's key",
        )


def _apply(registry: Registry, action: Action, where: Path | str) -> None:
    """Apply one action to the replayed state, enforcing the registry's rules."""
    admin = key_id(registry.admin_key)
    approvers = {key_id(k) for k in registry.approver_keys}
    if action.action == "approve" and action.key_id not in approvers:
        raise ReleaseError("approve is not signed by an approver key", where=where)
    if action.action != "approve" and action.key_id != admin:
        raise ReleaseError(f"{action.action} is not signed by the admin key", where=where)
    version = action.version
    if action.action == "register":
        if version in registry.entries:
            raise ReleaseError(f"version {version!r} is already registered", where=where)
        lineage = action.lineage or {}
        parent = lineage.get("parent")
        if parent is not None and parent not in registry.entries:
            raise ReleaseError(f"parent {parent!r} is not registered", where=where)
        folder = registry.root / version / str(lineage.get("release"))
        registry.entries[version] = RegistryEntry(version, "candidate", lineage, folder)
        return
    entry = registry.entries.get(version)
    if entry is None:
        raise ReleaseError(f"version {version!r} is not registered", where=where)
    if action.action == "approve":
        if entry.status not in ("candidate", "approved"):
            raise ReleaseError(f"{version} is {entry.status}: only a candidate can be approved", where=where)
        entry.status = "approved"
        entry.approved_by.append(action.key_id)
    elif action.action == "promote":
        _check_promotable(registry, entry, where)
        entry.status = "promoted"
        registry.promoted.append(version)
    elif action.action == "rollback":
        if not registry.promoted or registry.promoted[-1] != version:
            raise ReleaseError(
                f"{version} is not the current release: only the current one rolls back", where=where
            )
        if len(registry.promoted) < 2:
            raise ReleaseError(f"{version} has no previous promoted release to roll back to", where=where)
        registry.promoted.pop()
        entry.status = "rolled_back"
    elif action.action == "quarantine":
        if entry.status == "quarantined":
            raise ReleaseError(f"{version} is already quarantined", where=where)
        entry.status = "quarantined"
        registry.promoted = [v for v in registry.promoted if v != version]


def _check_promotable(registry: Registry, entry: RegistryEntry, where: Path | str) -> None:
    version = entry.version
    if entry.status == "quarantined":
        raise ReleaseError(f"{version} is quarantined: a quarantined release is never promoted", where=where)
    if entry.status == "promoted":
        raise ReleaseError(f"{version} is already promoted", where=where)
    failed = [g["name"] for g in entry.lineage.get("gates") or [] if not g.get("passed")]
    if failed:
        raise ReleaseError(f"{version} failed release gates {failed}: promotion refused", where=where)
    if registry.require_approval and not entry.approved_by:
        raise ReleaseError(
            f"{version} has no approval and this registry requires one: promotion refused",
            where=where,
            hint=f"an approver runs: fedward release approve {registry.root} {version} --key APPROVER.key",
        )


def _read_config(root: Path, pinned: bytes | None) -> tuple[bytes, tuple[bytes, ...], bool]:
    where = root / CONFIG_FILE
    body = where.read_bytes()
    try:
        value = parse_canonical(body)
        if not isinstance(value, dict) or set(value) != {
            "format",
            "admin_key",
            "approver_keys",
            "require_approval",
        }:
            raise ValueError(
                "registry.json must have exactly format, admin_key, approver_keys, require_approval"
            )
        if value["format"] != 1 or not isinstance(value["require_approval"], bool):
            raise ValueError("format must be 1 and require_approval true or false")
        admin = public_key_from_pem(str(value["admin_key"]).encode("ascii"))
        approvers = tuple(public_key_from_pem(str(k).encode("ascii")) for k in value["approver_keys"])
    except (CanonicalError, SignatureError, ValueError, TypeError) as exc:
        raise ReleaseError(f"invalid registry.json: {exc}", where=where) from None
    if pinned is not None and pinned != admin:
        raise ReleaseError(
            f"the registry's admin key {key_id(admin)} is not the pinned key {key_id(pinned)}", where=where
        )
    try:
        signature = bytes.fromhex((root / CONFIG_SIGNATURE_FILE).read_text(encoding="ascii").strip())
        verify(admin, body, signature)
    except (OSError, ValueError, SignatureError):
        raise ReleaseError(
            "registry.json's signature (registry.sig) is missing or invalid", where=where
        ) from None
    return admin, approvers, value["require_approval"]


def _copy_release(source: Path, target: Path) -> None:
    """Copy the release folder into `target/<its name>/` atomically (staging folder, then rename)."""
    if target.exists():
        raise ReleaseError("a folder for this version already exists", where=target)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        inner = staging / source.resolve().name
        inner.mkdir()
        for item in sorted(source.iterdir()):
            if not item.is_file():
                raise ReleaseError("a release folder holds only files", where=item)
            shutil.copyfile(item, inner / item.name)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One writer at a time (an exclusive flock on REGISTRY/.lock)."""
    if not (root / CONFIG_FILE).exists():
        raise ReleaseError(
            "not a release registry (no registry.json)",
            where=root,
            hint="create one with: fedward release init",
        )
    with (root / _LOCK_FILE).open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
