"""The blob store: content-addressed blobs and the resumable, per-site uploads that fill it.

Blobs are named by their SHA-256 and stored once; an upload resumes from the offset the coordinator
holds, across a restart too; a wrong offset is answered with the right one; oversize uploads, bytes that
do not hash to the announced name, and names that try to leave the store's folder are refused; and
completing a large upload keeps memory to about one chunk.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedward.coordinator.state import BlobStore, UploadError, UploadStatus, blobs

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "store", max_bytes=100 * MiB)


def test_put_names_a_blob_by_its_hash_and_is_idempotent(store: BlobStore) -> None:
    name = store.put(b"parameters")
    assert name == sha(b"parameters")
    assert store.put(b"parameters") == name
    assert store.has(name) and store.read(name) == b"parameters" and store.size(name) == 10
    assert store.path(name).read_bytes() == b"parameters"
    assert not any((store.directory / "tmp").iterdir())  # no temporary file left behind


def test_an_absent_blob_is_a_key_error(store: BlobStore) -> None:
    absent = sha(b"never stored")
    assert not store.has(absent)
    with pytest.raises(KeyError):
        store.path(absent)
    with pytest.raises(KeyError):
        store.read(absent)


def test_an_upload_in_chunks_stores_the_blob(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    name = sha(data)
    assert store.start_upload("alpha", name, len(data)) == UploadStatus(name, len(data), 0, False)
    status = store.write_chunk("alpha", name, 0, data[:4000])
    assert status == UploadStatus(name, len(data), 4000, False)
    assert store.upload_status("alpha", name) == status
    assert store.write_chunk("alpha", name, 4000, data[4000:]) == UploadStatus(
        name, len(data), len(data), True
    )
    assert store.read(name) == data
    assert not list((store.directory / "uploads" / "alpha").iterdir())  # nothing partial left


def test_an_upload_resumes_from_its_offset_after_a_restart(store: BlobStore) -> None:
    data = b"0123456789" * 100
    name = sha(data)
    store.start_upload("alpha", name, len(data))
    store.write_chunk("alpha", name, 0, data[:300])
    restarted = BlobStore(store.directory, max_bytes=store.max_bytes)
    assert restarted.upload_status("alpha", name) == UploadStatus(name, len(data), 300, False)
    assert restarted.start_upload("alpha", name, len(data)).offset == 300
    assert restarted.write_chunk("alpha", name, 300, data[300:]).complete
    assert restarted.read(name) == data


def test_a_torn_last_chunk_only_moves_the_offset_back(store: BlobStore) -> None:
    data = b"abcdefgh" * 64
    name = sha(data)
    store.start_upload("alpha", name, len(data))
    store.write_chunk("alpha", name, 0, data[:200])
    with (store.directory / "uploads" / "alpha" / f"{name}.part").open("ab") as part:
        part.write(data[200:230])  # the coordinator was killed 30 bytes into the next chunk
    restarted = BlobStore(store.directory, max_bytes=store.max_bytes)
    assert restarted.start_upload("alpha", name, len(data)).offset == 230
    assert restarted.write_chunk("alpha", name, 230, data[230:]).complete


def test_a_wrong_offset_is_refused_with_the_offset_to_resume_from(store: BlobStore) -> None:
    data = b"z" * 1000
    name = sha(data)
    store.start_upload("alpha", name, len(data))
    store.write_chunk("alpha", name, 0, data[:100])
    for wrong in (0, 50, 200):
        with pytest.raises(UploadError, match="100 bytes are held") as raised:
            store.write_chunk("alpha", name, wrong, data[wrong : wrong + 100])
        assert raised.value.offset == 100
    assert store.upload_status("alpha", name) == UploadStatus(name, 1000, 100, False)


def test_a_chunk_past_the_announced_size_is_refused(store: BlobStore) -> None:
    name = sha(b"x" * 10)
    store.start_upload("alpha", name, 10)
    with pytest.raises(UploadError, match="past the announced size") as raised:
        store.write_chunk("alpha", name, 0, b"x" * 11)
    assert raised.value.offset == 0


def test_an_oversize_upload_is_refused_before_any_byte(store: BlobStore) -> None:
    with pytest.raises(UploadError, match="over the limit"):
        store.start_upload("alpha", sha(b"big"), store.max_bytes + 1)
    assert not (store.directory / "uploads" / "alpha").exists()


def test_restarting_an_upload_with_another_size_is_refused(store: BlobStore) -> None:
    name = sha(b"y" * 100)
    store.start_upload("alpha", name, 100)
    with pytest.raises(UploadError, match="started with size 100"):
        store.start_upload("alpha", name, 101)


def test_bytes_that_do_not_hash_to_the_name_are_discarded(store: BlobStore) -> None:
    claimed = sha(b"the real update")
    store.start_upload("alpha", claimed, 15)
    with pytest.raises(UploadError, match="do not hash") as raised:
        store.write_chunk("alpha", claimed, 0, b"a forged update")
    assert raised.value.offset == 0
    assert not store.has(claimed)
    assert store.upload_status("alpha", claimed) is None
    assert store.start_upload("alpha", claimed, 15).offset == 0  # the site can start over


def test_an_upload_of_a_stored_blob_is_complete_at_once(store: BlobStore) -> None:
    name = store.put(b"already here")
    assert store.start_upload("beta", name, 12) == UploadStatus(name, 12, 12, True)
    with pytest.raises(UploadError, match="stored with 12 bytes"):
        store.start_upload("beta", name, 13)


def test_the_last_chunk_sent_again_after_its_answer_was_lost_is_complete(store: BlobStore) -> None:
    data = b"q" * 64
    name = sha(data)
    store.start_upload("alpha", name, 64)
    store.write_chunk("alpha", name, 0, data[:32])
    assert store.write_chunk("alpha", name, 32, data[32:]).complete
    assert store.write_chunk("alpha", name, 32, data[32:]) == UploadStatus(name, 64, 64, True)


def test_uploads_are_kept_per_site(store: BlobStore) -> None:
    data = b"shared" * 10
    name = sha(data)
    store.start_upload("alpha", name, len(data))
    store.write_chunk("alpha", name, 0, data[:10])
    assert store.upload_status("beta", name) is None
    with pytest.raises(UploadError, match="start it first"):
        store.write_chunk("beta", name, 10, data[10:])


@pytest.mark.parametrize(
    "site", ["../alpha", "a/b", "", ".hidden", "x" * 65, "al pha", "alpha\x00", "alpha\n"]
)
def test_site_names_that_could_leave_the_folder_are_refused(store: BlobStore, site: str) -> None:
    with pytest.raises(UploadError, match="not a site name"):
        store.start_upload(site, sha(b"x"), 1)


@pytest.mark.parametrize(
    "name", ["../" + "a" * 61, "A" * 64, "a" * 63, "g" * 64, "a" * 64 + "/", "a" * 64 + "\n", ""]
)
def test_names_that_are_not_sha256_hex_are_refused(store: BlobStore, name: str) -> None:
    with pytest.raises(UploadError, match="not a SHA-256"):
        store.start_upload("alpha", name, 1)
    with pytest.raises(UploadError, match="not a SHA-256"):
        store.has(name)


def _chunks(count: int) -> Iterator[bytes]:
    for i in range(count):
        yield hashlib.sha256(str(i).encode()).digest() * (MiB // 32)


# The upload runs in a fresh interpreter that imports only the blob store, so the traced peak is the
# upload's own: in a fresh-clone CI run the same measurement inside the test process read 10.3 MiB
# (twice), never reproduced outside that run, while the upload needs under 4.
_MEASURE = """
import hashlib, sys, tracemalloc
from pathlib import Path
from fedward.coordinator.state import BlobStore, blobs
MiB = 1 << 20
directory, restart_before_last, whole_file = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1"
if whole_file:  # the power check: hashing the file in one read
    blobs._file_sha256 = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()
chunks = lambda: (hashlib.sha256(str(i).encode()).digest() * (MiB // 32) for i in range(64))
digest = hashlib.sha256()
for chunk in chunks():
    digest.update(chunk)
name = digest.hexdigest()
store = BlobStore(directory, max_bytes=100 * MiB)
store.start_upload("alpha", name, 64 * MiB)
tracemalloc.start()
offset = 0
for i, chunk in enumerate(chunks()):
    if restart_before_last and i == 63:
        store = BlobStore(directory, max_bytes=100 * MiB)
    status = store.write_chunk("alpha", name, offset, chunk)
    offset += len(chunk)
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
assert status.complete and store.size(name) == 64 * MiB
print(peak)
"""


def _peak_memory_of_a_64_mib_upload(
    directory: Path, restart_before_last: bool = False, whole_file: bool = False
) -> int:
    """Peak traced memory of a 64 MiB upload in 1 MiB chunks; `restart_before_last`: a fresh store (no
    running hash) takes the last chunk, so completing it hashes the file."""
    flags = [str(int(restart_before_last)), str(int(whole_file))]
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(directory), *flags], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.parametrize("restart_before_last", [False, True], ids=["running_hash", "file_hash"])
def test_completing_a_64_mib_upload_in_1_mib_chunks_keeps_memory_to_a_few_chunks(
    tmp_path: Path, restart_before_last: bool
) -> None:
    peak = _peak_memory_of_a_64_mib_upload(tmp_path / "store", restart_before_last)
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB while uploading 64 MiB"


def test_power_check_hashing_the_whole_file_at_once_would_be_caught(tmp_path: Path) -> None:
    assert (
        _peak_memory_of_a_64_mib_upload(tmp_path / "store", restart_before_last=True, whole_file=True)
        > 60 * MiB
    )


def _count_file_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    hashed: list[Path] = []
    file_sha256 = blobs._file_sha256

    def counted(path: Path) -> str:
        hashed.append(path)
        return file_sha256(path)

    monkeypatch.setattr(blobs, "_file_sha256", counted)
    return hashed


def test_an_upload_in_one_process_completes_without_reading_its_file_again(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = _count_file_hashes(monkeypatch)
    data = bytes(range(256)) * 40
    name = sha(data)
    store.start_upload("alpha", name, len(data))
    for offset in range(0, len(data), 1000):
        store.write_chunk("alpha", name, offset, data[offset : offset + 1000])
    assert store.read(name) == data
    assert hashed == []


def test_a_running_hash_over_other_bytes_than_the_file_holds_is_not_trusted(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = _count_file_hashes(monkeypatch)
    data = b"abcdefgh" * 64
    name = sha(data)
    store.start_upload("alpha", name, len(data))
    store.write_chunk("alpha", name, 0, data[:200])
    with (store.directory / "uploads" / "alpha" / f"{name}.part").open("ab") as part:
        part.write(b"X" * 30)  # bytes the running hash never saw, from outside this store
    assert store.start_upload("alpha", name, len(data)).offset == 230
    with pytest.raises(UploadError, match="do not hash") as refused:
        store.write_chunk("alpha", name, 230, data[230:])
    assert refused.value.offset == 0 and len(hashed) == 1  # the file was hashed, and the bytes refused
    assert not store.has(name)


def test_a_restarted_upload_starts_a_fresh_running_hash(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = _count_file_hashes(monkeypatch)
    data = b"0123456789" * 100
    name = sha(data)
    store.start_upload("alpha", name, len(data))
    with pytest.raises(UploadError):
        store.write_chunk("alpha", name, 0, b"y" * len(data))  # wrong bytes: discarded
    store.start_upload("alpha", name, len(data))
    store.write_chunk("alpha", name, 0, data[:500])
    assert store.write_chunk("alpha", name, 500, data[500:]).complete
    assert store.read(name) == data and hashed == []


def test_partial_uploads_are_listed_with_their_last_activity_and_expire(store: BlobStore) -> None:
    idle, busy = b"i" * 100, b"b" * 100
    store.start_upload("alpha", sha(idle), 100, now=1000.0)
    store.write_chunk("alpha", sha(idle), 0, idle[:10], now=1100.0)
    store.start_upload("beta", sha(busy), 100, now=1000.0)
    store.write_chunk("beta", sha(busy), 0, busy[:10], now=1900.0)  # a chunk is activity
    restarted = BlobStore(store.directory, max_bytes=store.max_bytes)  # activity survives a restart
    listed = [(p.site, p.offset, p.active) for p in restarted.partial_uploads()]
    assert listed == [("alpha", 10, 1100.0), ("beta", 10, 1900.0)]
    assert [p.site for p in restarted.expire(before=1500.0)] == ["alpha"]
    assert not (store.directory / "uploads" / "alpha" / f"{sha(idle)}.part").exists()
    assert restarted.upload_status("alpha", sha(idle)) is None
    assert restarted.start_upload("alpha", sha(idle), 100).offset == 0  # begun again from the start
    assert restarted.discard_upload("beta", sha(busy)) and not restarted.discard_upload("beta", sha(busy))
    assert [p.site for p in restarted.partial_uploads()] == ["alpha"]
    restarted.write_chunk("alpha", sha(idle), 0, idle)
    assert restarted.partial_uploads() == [] and restarted.read(sha(idle)) == idle


# --- bit flips in stored blobs (the attack catalogue)


def _flip_a_bit(path: Path, at: int = 7) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.chmod(0o600)
    path.write_bytes(bytes(data))


def test_a_stored_blob_whose_bytes_changed_is_refused_on_read_naming_it(store: BlobStore) -> None:
    name = store.put(b"an update of some parameters")
    _flip_a_bit(store.path(name))
    with pytest.raises(blobs.BlobCorruptError, match=f"stored blob {name} .* is corrupt") as caught:
        store.read(name)
    assert caught.value.sha256 == name and caught.value.path == store.path(name)


def test_power_check_without_the_hash_check_the_flipped_bytes_are_read(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = store.put(b"an update of some parameters")
    _flip_a_bit(store.path(name))
    monkeypatch.setattr(blobs, "_check_blob", lambda sha, path, data: None)
    flipped = store.read(name)
    assert flipped != b"an update of some parameters" and sha(flipped) != name


def test_putting_the_right_bytes_again_repairs_a_corrupt_blob(store: BlobStore) -> None:
    name = store.put(b"an update of some parameters")
    _flip_a_bit(store.path(name))
    assert store.put(b"an update of some parameters") == name
    assert store.read(name) == b"an update of some parameters"
