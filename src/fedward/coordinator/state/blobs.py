"""`BlobStore`: parameter bytes on disk, named by their SHA-256, and the resumable uploads that fill it.

Models and updates are too large for database rows, so the coordinator's journal refers to them by hash
and the bytes live here: `DIR/blobs/<sha256>`. A blob appears in one atomic rename after its bytes are
fsynced, so a reader never sees half a blob, and storing the same bytes twice is a no-op.

Sites upload in chunks. An upload is keyed by (site, hash): `DIR/uploads/<site>/<sha256>.part` holds the
bytes received so far and `<sha256>.size` the size the site announced. The offset a site resumes from
is the size of the partial file, so a coordinator killed mid-chunk loses at most the torn tail, which the
site sends again from the offset it is told. When the last byte arrives the bytes are checked against
the hash and renamed into `blobs/` only if it matches; otherwise they are discarded. The hash is kept
running in memory as the chunks arrive, tied to the part file's inode, size and mtime, so
completing an upload does not read the file again; when that running hash does not cover exactly the
bytes in the file (a restart, a torn tail, another writer) the whole file is hashed, streaming, instead.
Memory use is one chunk, whatever the blob's size. Site names and hashes are checked before they touch a
path.

Every start and chunk sets the `.size` file's modification time to the caller's clock (`now`): that is
the upload's last activity, which survives a restart, so the service can list a site's partial uploads
(`partial_uploads`) for its quota and remove those idle for too long (`expire`) or whose site has no
task left to answer (`discard_upload`). Which uploads may be opened at all is the service's decision
(fedward.coordinator.service.uploads); this store only keeps the files.

A stored blob is its name's bytes only while the disk keeps them: `read` hashes what it reads and
raises `BlobCorruptError`, naming the blob and its file, when a bit flipped (disk error, another
writer), so a changed update is never aggregated; `put` of the right bytes repairs such a blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedward.core.durable import fsync_dir

__all__ = ["BlobCorruptError", "BlobStore", "PartialUpload", "UploadError", "UploadStatus"]

_SHA256 = re.compile(r"[0-9a-f]{64}")  # fullmatch: `$` would let a trailing newline through
_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_READ_BLOCK = 1 << 20
_LOCK_STRIPES = 64
_MAX_RUNNING = 4096  # running hashes kept (a few hundred bytes each); the oldest goes first


@dataclass
class _Running:
    """The SHA-256 of a part file's bytes, while the file is as `stamp` says (inode, size, mtime)."""

    stamp: tuple[int, int, int]
    digest: Any  # hashlib's sha256 object


def _stamp(fd: int) -> tuple[int, int, int]:
    held = os.fstat(fd)
    return held.st_ino, held.st_size, held.st_mtime_ns


class UploadError(ValueError):
    """An upload request, or a blob or site name, cannot be accepted. `offset`, when known, is how many
    bytes the coordinator holds: the site resumes from there."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class BlobCorruptError(ValueError):
    """A stored blob's bytes no longer hash to its name."""

    def __init__(self, sha: str, path: Path, found: str) -> None:
        super().__init__(f"stored blob {sha} ({path}) is corrupt: its bytes hash to {found}")
        self.sha256, self.path, self.found = sha, path, found


@dataclass(frozen=True)
class UploadStatus:
    sha256: str
    size: int  # announced by the site when it started the upload
    offset: int  # bytes held: the next chunk starts here
    complete: bool  # the blob is stored and its hash verified


@dataclass(frozen=True)
class PartialUpload:
    """An upload begun and not complete: whose, which blob, its announced size, the bytes held, and its
    last activity (seconds since the epoch, by the clock the service passes in)."""

    site: str
    sha256: str
    size: int
    offset: int
    active: float


def _check_sha(sha: str) -> str:
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise UploadError(f"not a SHA-256 hex digest: {sha!r:.80}")
    return sha


def _check_site(site: str) -> str:
    if not isinstance(site, str) or not _SITE.fullmatch(site):
        raise UploadError(f"not a site name: {site!r:.80}")
    return site


def _check_blob(sha: str, path: Path, data: bytes) -> None:
    found = hashlib.sha256(data).hexdigest()
    if found != sha:
        raise BlobCorruptError(sha, path, found)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class BlobStore:
    """Content-addressed blobs under `directory`; uploads larger than `max_bytes` are refused."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._blobs = self.directory / "blobs"
        self._uploads = self.directory / "uploads"
        self._tmp = self.directory / "tmp"
        for folder in (self._blobs, self._uploads, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        # One lock per (site, hash) stripe: a retried chunk racing the original must not append twice.
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        # The hash of each open upload's bytes so far, so completing it need not read the file again.
        # Only ever a shortcut: whenever it may not cover exactly the file's bytes, the file is hashed.
        self._running: dict[tuple[str, str], _Running] = {}
        self._running_lock = threading.Lock()  # the stripe locks are per upload; this dict is shared

    # --- blobs ---------------------------------------------------------------------------------------
    def put(self, data: bytes) -> str:
        """Store `data`; its SHA-256 hex digest names it. Atomic and idempotent."""
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha) and _file_sha256(self._blobs / sha) == sha:
            return sha
        fd, temporary = tempfile.mkstemp(dir=self._tmp, prefix=sha[:16], suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self._blobs / sha)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        fsync_dir(self._blobs)
        return sha

    def has(self, sha: str) -> bool:
        return (self._blobs / _check_sha(sha)).is_file()

    def path(self, sha: str) -> Path:
        """Where the blob is on disk; KeyError if it is not stored."""
        path = self._blobs / _check_sha(sha)
        if not path.is_file():
            raise KeyError(f"no blob {sha}")
        return path

    def read(self, sha: str) -> bytes:
        """The blob's bytes, checked against its name; `BlobCorruptError` if they changed on disk."""
        path = self.path(sha)
        data = path.read_bytes()
        _check_blob(sha, path, data)
        return data

    def size(self, sha: str) -> int:
        return self.path(sha).stat().st_size

    # --- uploads -------------------------------------------------------------------------------------
    def start_upload(self, site: str, sha: str, size: int, now: float | None = None) -> UploadStatus:
        """Begin, or resume, `site`'s upload of the blob `sha` of `size` bytes (at time `now`)."""
        _check_site(site)
        _check_sha(sha)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise UploadError(f"bad upload size {size!r}")
        if size > self.max_bytes:
            raise UploadError(f"an upload of {size} bytes is over the limit of {self.max_bytes}")
        with self._lock(site, sha):
            if self.has(sha):
                return self._stored(sha, size)
            status = self._partial(site, sha)
            if status is not None and status.size != size:
                raise UploadError(
                    f"upload {sha[:12]} was started with size {status.size}, not {size}", offset=status.offset
                )
            if status is None:
                status = self._begin(site, sha, size)
            self._touch(site, sha, now)
            return self._finish(site, sha, status) if status.offset == status.size else status

    def write_chunk(
        self, site: str, sha: str, offset: int, data: bytes, now: float | None = None
    ) -> UploadStatus:
        """Append `data` at `offset`, which must be the number of bytes held. The chunk that completes
        the upload verifies the hash and stores the blob."""
        _check_site(site)
        _check_sha(sha)
        with self._lock(site, sha):
            status = self._partial(site, sha)
            if status is None:
                if self.has(sha):  # the last chunk again, after its answer was lost
                    return self._stored(sha, None)
                raise UploadError(f"no upload {sha[:12]} from site {site}: start it first")
            if offset != status.offset:
                raise UploadError(
                    f"chunk at offset {offset}, but {status.offset} bytes are held", offset=status.offset
                )
            if offset + len(data) > status.size:
                raise UploadError(
                    f"chunk of {len(data)} bytes at {offset} is past the announced size {status.size}",
                    offset=status.offset,
                )
            running = self._forget(site, sha)  # kept again only if this chunk is written whole
            with self._part(site, sha).open("ab") as f:
                before = _stamp(f.fileno())
                if running is None and before[1] == 0:
                    running = _Running(before, hashlib.sha256())
                elif running is not None and running.stamp != before:
                    running = None  # it may not cover exactly the bytes in this file: hash the file
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
                if running is not None:
                    running.digest.update(data)
                    running.stamp = _stamp(f.fileno())
            status = UploadStatus(sha, status.size, offset + len(data), complete=False)
            if status.offset == status.size:
                return self._finish(site, sha, status, running)
            if running is not None:
                self._remember(site, sha, running)
            self._touch(site, sha, now)
            return status

    def upload_status(self, site: str, sha: str) -> UploadStatus | None:
        """The upload's progress; complete if the blob is stored; None if there is no such upload."""
        _check_site(site)
        _check_sha(sha)
        with self._lock(site, sha):
            if self.has(sha):
                return self._stored(sha, None)
            return self._partial(site, sha)

    def partial_uploads(self, site: str | None = None) -> list[PartialUpload]:
        """The uploads begun and not complete, of `site` or of every site, least recently active first."""
        folders = [self._uploads / _check_site(site)] if site is not None else self._site_folders()
        found = []
        for folder in folders:
            for size_file in folder.glob("*.size") if folder.is_dir() else ():
                sha = size_file.name.removesuffix(".size")
                if not _SHA256.fullmatch(sha):
                    continue
                try:
                    active = size_file.stat().st_mtime
                except FileNotFoundError:
                    continue
                status = self._partial(folder.name, sha)
                if status is not None:
                    found.append(PartialUpload(folder.name, sha, status.size, status.offset, active))
        return sorted(found, key=lambda p: (p.active, p.site, p.sha256))

    def discard_upload(self, site: str, sha: str) -> bool:
        """Remove `site`'s partial upload of `sha` (its files); False if there was none."""
        _check_site(site)
        _check_sha(sha)
        with self._lock(site, sha):
            if self._partial(site, sha) is None:
                return False
            self._discard(site, sha)
            return True

    def expire(self, before: float) -> list[PartialUpload]:
        """Remove every partial upload last active before `before`; the ones removed."""
        removed = []
        for upload in self.partial_uploads():
            if upload.active < before:
                with self._lock(upload.site, upload.sha256):
                    current = self._active(upload.site, upload.sha256)
                    if current is None or current >= before:  # resumed meanwhile, or gone
                        continue
                    self._discard(upload.site, upload.sha256)
                removed.append(upload)
        return removed

    # --- the files behind an upload ------------------------------------------------------------------
    def _remember(self, site: str, sha: str, running: _Running) -> None:
        with self._running_lock:
            self._running[(site, sha)] = running
            while len(self._running) > _MAX_RUNNING:  # abandoned uploads: forget the oldest
                del self._running[next(iter(self._running))]

    def _forget(self, site: str, sha: str) -> _Running | None:
        with self._running_lock:
            return self._running.pop((site, sha), None)

    def _site_folders(self) -> list[Path]:
        return sorted(p for p in self._uploads.iterdir() if p.is_dir() and _SITE.fullmatch(p.name))

    def _touch(self, site: str, sha: str, now: float | None) -> None:
        """Record activity on the upload: the `.size` file's modification time becomes `now`."""
        at = time.time() if now is None else now
        with contextlib.suppress(FileNotFoundError):  # completed: the size file went with the partial
            os.utime(self._size_file(site, sha), (at, at))

    def _active(self, site: str, sha: str) -> float | None:
        try:
            return self._size_file(site, sha).stat().st_mtime
        except FileNotFoundError:
            return None

    def _lock(self, site: str, sha: str) -> threading.Lock:
        return self._locks[hash((site, sha)) % _LOCK_STRIPES]

    def _part(self, site: str, sha: str) -> Path:
        return self._uploads / site / f"{sha}.part"

    def _size_file(self, site: str, sha: str) -> Path:
        return self._uploads / site / f"{sha}.size"

    def _stored(self, sha: str, announced: int | None) -> UploadStatus:
        size = self.size(sha)
        if announced is not None and announced != size:
            raise UploadError(f"blob {sha[:12]} is stored with {size} bytes, not {announced}", offset=size)
        return UploadStatus(sha, size, size, complete=True)

    def _partial(self, site: str, sha: str) -> UploadStatus | None:
        try:
            size = int(self._size_file(site, sha).read_text())
            held = self._part(site, sha).stat().st_size
        except (FileNotFoundError, ValueError):
            return None  # never started, or killed before it was: a start begins it afresh
        if held > size:  # cannot happen through write_chunk; start over rather than trust it
            self._discard(site, sha)
            return None
        return UploadStatus(sha, size, held, complete=False)

    def _begin(self, site: str, sha: str, size: int) -> UploadStatus:
        """Create the partial: the announced size first (atomically), then the empty part file."""
        folder = self._uploads / site
        folder.mkdir(exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(str(size))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self._size_file(site, sha))
        self._part(site, sha).open("wb").close()
        fsync_dir(folder)
        return UploadStatus(sha, size, 0, complete=False)

    def _finish(
        self, site: str, sha: str, status: UploadStatus, running: _Running | None = None
    ) -> UploadStatus:
        """All bytes are in: store the blob if their hash is `sha`, else discard them. `running`, if
        given, is the hash of exactly the part file's bytes; without it the file is hashed."""
        part = self._part(site, sha)
        self._forget(site, sha)
        digest = running.digest.hexdigest() if running is not None else _file_sha256(part)
        if digest != sha:
            self._discard(site, sha)
            raise UploadError(
                f"the {status.size} bytes uploaded do not hash to {sha[:12]}; discarded", offset=0
            )
        os.replace(part, self._blobs / sha)
        fsync_dir(self._blobs)
        self._size_file(site, sha).unlink(missing_ok=True)
        return UploadStatus(sha, status.size, status.size, complete=True)

    def _discard(self, site: str, sha: str) -> None:
        self._forget(site, sha)
        self._part(site, sha).unlink(missing_ok=True)
        self._size_file(site, sha).unlink(missing_ok=True)
