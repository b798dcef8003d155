"""verify_ledger against tampering with a 10-round ledger (a checkpoint after every round).

Each attack is detected and the error names the first bad line; each has a power check: the same tampered
ledger passes a verifier with that defence switched off (signatures without roots, roots without
signatures, or no sequence numbers), so the test would fail if the defence did nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_harness import KEY, LEDGER_ID, OTHER_KEY, build_ledger

from fedward.core.canonical import canonical_bytes, parse_canonical
from fedward.ledger import (
    Checkpoint,
    LedgerError,
    MerkleAccumulator,
    checkpoints_path,
    entries_path,
    leaf_hash,
    parse_signed_checkpoint,
    read_entries,
    sign_checkpoint,
    verify_checkpoint,
    verify_ledger,
)
from fedward.ledger.store import read_lines


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pristine")
    build_ledger(directory)
    return directory


@pytest.fixture
def run_dir(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "run")
    return tmp_path / "run"


def entry_lines(directory: Path) -> list[bytes]:
    return read_lines(entries_path(directory)).lines


def write_entries(directory: Path, lines: list[bytes]) -> None:
    entries_path(directory).write_bytes(b"".join(line + b"\n" for line in lines))


def renumbered(lines: list[bytes]) -> list[bytes]:
    """What a careful attacker does after deleting/inserting/moving: rewrite every seq to match."""
    return [canonical_bytes({**json.loads(line), "seq": i}) for i, line in enumerate(lines)]


def signatures_only(directory: Path, *, lenient: bool = False) -> None:
    """Defence off: each line is canonical JSON (or, `lenient`, skipped if not, as many JSONL readers do)
    and each checkpoint is signed; no seq, no roots."""
    for line in entry_lines(directory):
        try:
            parse_canonical(line)
        except ValueError:
            if not lenient:
                raise
    for line in read_lines(checkpoints_path(directory)).lines:
        verify_checkpoint(parse_signed_checkpoint(line), KEY.public)


def without_roots(directory: Path) -> None:
    """Defence off: strict entries with seq checks and signed checkpoints, but roots never compared."""
    read_entries(directory)
    signatures_only(directory)


def without_signatures(directory: Path) -> None:
    """Defence off: strict entries and every checkpoint's root recomputed, but no signature checked."""
    leaves = [leaf_hash(line) for line in entry_lines(directory)]
    read_entries(directory)
    for line in read_lines(checkpoints_path(directory)).lines:
        cp = parse_signed_checkpoint(line).checkpoint
        acc = MerkleAccumulator()
        for leaf in leaves[: cp.tree_size]:
            acc.append(leaf)
        assert acc.root() == cp.root and cp.tree_size <= len(leaves)


def bad_line(directory: Path) -> int | None:
    with pytest.raises(LedgerError) as caught:
        verify_ledger(directory, KEY.public)
    return caught.value.line


def test_pristine_ledger_verifies(pristine: Path) -> None:
    report = verify_ledger(pristine, KEY.public)
    assert (report.entries, report.checkpoints, report.rounds) == (67, 12, 10)
    assert (report.committed, report.uncommitted, report.finished, report.torn_bytes) == (67, 0, True, 0)
    assert report.ledger_id == LEDGER_ID


def _similar(byte: int) -> int:
    """A replacement that keeps the byte's class where possible (digit, hex, letter), so that many changed
    ledgers stay well-formed and only the Merkle roots can catch them."""
    for alphabet in (b"0123456789", b"abcdef", b"abcdefghijklmnopqrstuvwxyz"):
        if byte in alphabet:
            return alphabet[(alphabet.index(byte) + 1) % len(alphabet)]
    return byte ^ 0x01


def _sample(data: bytes, full_lines: set[int], stride: int) -> list[int]:
    """Every byte (newline included) of the chosen lines, the last byte, and every `stride`-th byte."""
    positions, start = set(range(0, len(data), stride)) | {len(data) - 1}, 0
    for number, line in enumerate(data.split(b"\n")[:-1]):
        if number in full_lines:
            positions |= set(range(start, start + len(line) + 1))
        start += len(line) + 1
    return sorted(positions)


def test_every_sampled_byte_change_in_entries_is_detected(run_dir: Path) -> None:
    """Dense sample: every byte (newline included) of the first entry of each of the 9 kinds present, and
    every 7th byte elsewhere: about 3,000 of the ~11,600 positions (all of them took 20 s), each replaced
    by a similar byte (digit by digit, hex by hex, letter by letter, else one bit flipped)."""
    path = entries_path(run_dir)
    original = path.read_bytes()
    first_of_kind: dict[str, int] = {}
    for number, line in enumerate(entry_lines(run_dir)):
        first_of_kind.setdefault(json.loads(line)["kind"], number)
    positions = _sample(original, set(first_of_kind.values()), stride=7)
    assert len(first_of_kind) == 9 and len(positions) > 2_500
    only_roots: list[bytes] = []
    for position in positions:
        tampered = bytearray(original)
        tampered[position] = _similar(tampered[position])
        path.write_bytes(tampered)
        with pytest.raises(LedgerError) as caught:
            verify_ledger(run_dir, KEY.public)
        if "was changed" in str(caught.value):  # every other check passed; only a root differed
            only_roots.append(bytes(tampered))
    assert len(only_roots) > 1_000
    for tampered in only_roots[:: len(only_roots) // 20]:  # power check on a spread of them
        path.write_bytes(tampered)
        without_roots(run_dir)


def test_every_sampled_byte_change_in_checkpoints_is_detected(run_dir: Path) -> None:
    """Every byte of the first and last checkpoints, every 8th byte elsewhere; the final newline is the one
    exception: without it the last checkpoint reads as torn by a crash, so its entries become uncommitted
    (a rollback only a site's witness can notice; see test_ledger_witness)."""
    path = checkpoints_path(run_dir)
    original = path.read_bytes()
    for position in _sample(original, {0, 11}, stride=8):
        tampered = bytearray(original)
        tampered[position] = _similar(tampered[position])
        path.write_bytes(tampered)
        if position == len(original) - 1:
            report = verify_ledger(run_dir, KEY.public)
            assert (report.checkpoints, report.uncommitted, report.finished) == (11, 1, False)
            continue
        with pytest.raises(LedgerError):
            verify_ledger(run_dir, KEY.public)


Tamper = Callable[[list[bytes]], list[bytes]]
EXTRA = canonical_bytes(
    {
        "kind": "site_revoked",
        "reason": "nobody",
        "seq": 20,
        "site": "hospital-c",
        "time": "2025-01-31T00:00:21Z",
    }
)


@pytest.mark.parametrize(
    ("tamper", "line"),
    [
        pytest.param(lambda ls: ls[:20] + ls[21:], 21, id="delete"),
        pytest.param(lambda ls: [*ls[:20], EXTRA, *ls[20:]], 22, id="insert"),
        pytest.param(lambda ls: [*ls[:20], ls[21], ls[20], *ls[22:]], 21, id="reorder"),
        pytest.param(lambda ls: [*ls[:20], ls[20][:40], *ls[20:]], 21, id="torn-line-in-middle"),
        pytest.param(lambda ls: [*ls[:20], b"", *ls[20:]], 21, id="blank-line"),
    ],
)
def test_deleted_inserted_reordered_entries_name_the_line(run_dir: Path, tamper: Tamper, line: int) -> None:
    write_entries(run_dir, tamper(entry_lines(run_dir)))
    assert bad_line(run_dir) == line
    signatures_only(run_dir, lenient=True)  # power check: no seq check, unreadable lines skipped


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda ls: ls[:20] + ls[21:], id="delete"),
        pytest.param(lambda ls: [*ls[:20], EXTRA, *ls[20:]], id="insert"),
        pytest.param(lambda ls: [*ls[:20], ls[21], ls[20], *ls[22:]], id="reorder"),
    ],
)
def test_renumbered_edits_are_caught_by_the_roots(run_dir: Path, tamper: Tamper) -> None:
    """Rewriting every seq defeats the sequence check; the checkpoint covering line 21 no longer matches
    (lines 17..22 are round 3, the 4th checkpoint covers 4 + 3 x 6 = 22 entries)."""
    write_entries(run_dir, renumbered(tamper(entry_lines(run_dir))))
    with pytest.raises(LedgerError, match=r"among lines 17\.\.22") as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.line == 17 and "entries.jsonl:17" in str(caught.value.where)
    without_roots(run_dir)  # power check


def test_truncated_log_is_detected(run_dir: Path) -> None:
    lines = entry_lines(run_dir)
    write_entries(run_dir, lines[:40])
    with pytest.raises(LedgerError, match="truncated") as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.line == 41
    signatures_only(run_dir)  # power check
    entries_path(run_dir).write_bytes(b"".join(line + b"\n" for line in lines)[:-1])  # last newline cut
    with pytest.raises(LedgerError, match="truncated"):
        verify_ledger(run_dir, KEY.public)


def _resign_all(directory: Path, key_for: Callable[[int], object]) -> None:
    """Re-sign every checkpoint (e.g. with a forger's key) over the roots of the entries as they are now."""
    leaves = [leaf_hash(line) for line in entry_lines(directory)]
    out = []
    for number, line in enumerate(read_lines(checkpoints_path(directory)).lines):
        cp = parse_signed_checkpoint(line).checkpoint
        acc = MerkleAccumulator()
        for leaf in leaves[: cp.tree_size]:
            acc.append(leaf)
        fresh = Checkpoint(cp.ledger, cp.tree_size, acc.root().hex(), cp.time)
        out.append(sign_checkpoint(fresh, key_for(number)).line + b"\n")  # type: ignore[arg-type]
    checkpoints_path(directory).write_bytes(b"".join(out))


def test_history_rewritten_and_resigned_with_another_key_is_detected(run_dir: Path) -> None:
    lines = entry_lines(run_dir)
    lines[30] = lines[30].replace(b"stale round", b"late round!")
    write_entries(run_dir, lines)
    _resign_all(run_dir, lambda n: OTHER_KEY if n >= 5 else KEY)
    with pytest.raises(LedgerError, match="names key") as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.line == 6 and "checkpoints.jsonl:6" in str(caught.value.where)
    without_signatures(run_dir)  # power check: every root matches the rewritten history


def test_altered_checkpoint_size_and_root_are_detected(run_dir: Path) -> None:
    """Shrink checkpoint 8 to cover only 40 entries, with the true root of those 40: only its signature
    betrays the change (the roots-only verifier accepts it)."""
    path = checkpoints_path(run_dir)
    lines = read_lines(path).lines
    signed = json.loads(lines[7])
    acc = MerkleAccumulator()
    for line in entry_lines(run_dir)[:40]:
        acc.append(leaf_hash(line))
    signed["checkpoint"].update(tree_size=40, root_hash=acc.root().hex())
    lines[7] = canonical_bytes(signed)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    with pytest.raises(LedgerError, match="does not verify") as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.line == 8
    without_signatures(run_dir)  # power check


def test_checkpoint_inconsistent_with_an_earlier_one(run_dir: Path) -> None:
    """A validly signed checkpoint that shrinks (here: two swapped) or gives a second root for one size."""
    path = checkpoints_path(run_dir)
    lines = read_lines(path).lines
    path.write_bytes(b"".join(line + b"\n" for line in [*lines[:3], lines[4], lines[3], *lines[5:]]))
    with pytest.raises(LedgerError, match="inconsistent checkpoint") as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.line == 5
    signatures_only(run_dir)  # power check
    other = parse_signed_checkpoint(lines[3]).checkpoint
    twin = sign_checkpoint(Checkpoint(LEDGER_ID, other.tree_size, "ab" * 32, other.time), KEY)
    path.write_bytes(b"".join(line + b"\n" for line in [*lines[:4], twin.line, *lines[4:]]))
    with pytest.raises(LedgerError, match="another root") as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.line == 5


def test_entries_after_run_finished_are_refused(run_dir: Path) -> None:
    lines = entry_lines(run_dir)
    late = canonical_bytes({**json.loads(EXTRA), "seq": len(lines)})
    write_entries(run_dir, [*lines, late])
    with pytest.raises(LedgerError, match="follows run_finished") as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.line == 68
    signatures_only(run_dir)  # power check


def test_uncommitted_tail_is_reported_not_refused(run_dir: Path) -> None:
    lines = entry_lines(run_dir)[:-1]  # drop run_finished and its checkpoint: a crash after round 10
    write_entries(run_dir, [*lines, EXTRA.replace(b'"seq":20', f'"seq":{len(lines)}'.encode())])
    ckpts = read_lines(checkpoints_path(run_dir)).lines[:-1]
    checkpoints_path(run_dir).write_bytes(b"".join(line + b"\n" for line in ckpts) + b'{"checkp')
    report = verify_ledger(run_dir, KEY.public)
    assert (report.entries, report.committed, report.uncommitted) == (67, 66, 1)
    assert report.torn_bytes == 8 and not report.finished


def test_missing_ledger_wrong_key_and_error_rendering(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(LedgerError, match="no ledger file") as caught:
        verify_ledger(tmp_path / "nothing-here", KEY.public)
    assert caught.value.hint and "ledger/" in caught.value.hint
    with pytest.raises(LedgerError, match="names key") as caught:
        verify_ledger(run_dir, OTHER_KEY.public)
    assert caught.value.line == 1 and caught.value.hint
    write_entries(run_dir, entry_lines(run_dir)[:20] + entry_lines(run_dir)[21:])
    with pytest.raises(LedgerError) as caught:
        verify_ledger(run_dir, KEY.public)
    assert caught.value.render().startswith(f"{entries_path(run_dir)}:21: entry has seq 21")
