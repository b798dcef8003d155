"""LedgerWriter: appends, checkpoints and proofs agree with the Merkle module; resume, locking, torn tails
at every byte, and the rules that keep a ledger verifiable (run_started first, nothing after run_finished)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ledger_harness import KEY, LEDGER_ID, OTHER_KEY, Clock, digest, play_round, start_run

from fedward.ledger import (
    EntryError,
    LedgerError,
    LedgerWriter,
    checkpoints_path,
    entries_path,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
    verify_ledger,
)
from fedward.ledger.store import read_lines


def open_writer(directory: Path, ledger_id: str = LEDGER_ID) -> LedgerWriter:
    return LedgerWriter(directory, KEY, ledger_id, Clock())


def test_new_ledger_layout_and_proofs(tmp_path: Path) -> None:
    with open_writer(tmp_path / "run") as writer:
        assert writer.size == 0 and writer.latest_checkpoint is None
        start_run(writer)
        first = writer.checkpoint()
        play_round(writer, 1)
        assert (
            writer.append("site_revoked", site="hospital-c", reason="left", time="2025-02-01T00:00:00Z") == 10
        )
        second = writer.checkpoint()
        lines = read_lines(entries_path(tmp_path / "run")).lines
        assert [writer.line(i) for i in range(writer.size)] == lines and writer.size == 11
        leaves = [leaf_hash(line) for line in lines]
        assert writer.root == root_hash(leaves) == second.checkpoint.root
        assert (first.checkpoint.tree_size, second.checkpoint.tree_size) == (4, 11)
        for index in range(11):
            verify_inclusion(
                leaves[index], index, 11, writer.inclusion_proof_at(index, 11), second.checkpoint.root
            )
        for index in range(4):
            proof = writer.inclusion_proof_at(index, 4)
            verify_inclusion(leaves[index], index, 4, proof, first.checkpoint.root)
        proof = writer.consistency_proof(4)
        verify_consistency(4, 11, first.checkpoint.root, second.checkpoint.root, proof)
        verify_consistency(2, 4, root_hash(leaves[:2]), first.checkpoint.root, writer.consistency_proof(2, 4))
        assert b'"time":"2025-02-01T00:00:00Z"' in writer.line(10)
    assert sorted(os.listdir(tmp_path / "run")) == ["ledger"]
    assert sorted(os.listdir(tmp_path / "run" / "ledger")) == ["checkpoints.jsonl", "entries.jsonl"]
    report = verify_ledger(tmp_path / "run", KEY.public)
    assert (report.entries, report.checkpoints, report.uncommitted, report.rounds) == (11, 2, 0, 1)


def test_entry_rules_and_nothing_written_on_refusal(tmp_path: Path) -> None:
    with open_writer(tmp_path) as writer:
        with pytest.raises(EntryError, match="first entry"):
            writer.append("site_admitted", site="a", key_id=None)
        start_run(writer)
        before = entries_path(tmp_path).read_bytes()
        with pytest.raises(EntryError, match="first entry"):
            start_run(writer)
        with pytest.raises(EntryError, match="model_hash"):
            writer.append("round_opened", round=1, sites=["a"], model_hash="not-a-hash")
        with pytest.raises(EntryError, match="unknown entry kind"):
            writer.append("round_closed", round=1)
        assert entries_path(tmp_path).read_bytes() == before and writer.size == 4
        writer.append("run_finished", rounds_completed=0, final_model_hash=None, reason="no sites")
        with pytest.raises(LedgerError, match="run is finished"):
            writer.append("site_revoked", site="a", reason="late")
        writer.checkpoint()
    assert verify_ledger(tmp_path, KEY.public).finished


def test_resume_keeps_uncommitted_entries_and_commits_them(tmp_path: Path) -> None:
    with open_writer(tmp_path) as writer:
        start_run(writer)
        writer.checkpoint()
        play_round(writer, 1)  # not checkpointed: a crash here leaves 6 uncommitted entries
    assert verify_ledger(tmp_path, KEY.public).uncommitted == 6
    with open_writer(tmp_path) as writer:
        assert writer.size == 10 and writer.latest_checkpoint is not None
        assert writer.latest_checkpoint.checkpoint.tree_size == 4
        play_round(writer, 2)
        writer.checkpoint()
    report = verify_ledger(tmp_path, KEY.public)
    assert (report.entries, report.uncommitted, report.rounds) == (16, 0, 2)


def test_resume_refuses_a_tampered_ledger_another_ledger_id_and_a_second_writer(tmp_path: Path) -> None:
    with open_writer(tmp_path) as writer:
        start_run(writer)
        writer.checkpoint()
        with pytest.raises(LedgerError, match="another writer"):
            open_writer(tmp_path)
    with pytest.raises(LedgerError, match="belongs to"):
        open_writer(tmp_path, "run-other")
    with pytest.raises(LedgerError, match="names key"):
        LedgerWriter(tmp_path, OTHER_KEY, LEDGER_ID, Clock())
    path = entries_path(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"hospital-b", b"hospital-x"))
    with pytest.raises(LedgerError, match="was changed"):
        open_writer(tmp_path)
    open_writer(tmp_path / "fresh").close()  # the refusals above released their locks and files


def test_torn_tail_at_every_byte_is_accepted_then_cut_on_resume(tmp_path: Path) -> None:
    """Every point at which a kill can interrupt the single write of an entry or checkpoint line."""
    with open_writer(tmp_path) as writer:
        start_run(writer)
        writer.checkpoint()
        writer.append("round_opened", round=1, sites=["a"], model_hash=digest("m"))
        entry_line, ckpt_line = writer.line(4) + b"\n", writer.checkpoint().line + b"\n"
    entries, ckpts = entries_path(tmp_path), checkpoints_path(tmp_path)
    entries_head = entries.read_bytes()[: -len(entry_line)]
    ckpts_head = ckpts.read_bytes()[: -len(ckpt_line)]
    # killed while writing the entry (its checkpoint not begun), then while writing the checkpoint
    for entries_part, ckpts_part in [(entry_line[:cut], b"") for cut in range(len(entry_line) + 1)] + [
        (entry_line, ckpt_line[:cut]) for cut in range(len(ckpt_line) + 1)
    ]:
        entries.write_bytes(entries_head + entries_part)
        ckpts.write_bytes(ckpts_head + ckpts_part)
        report = verify_ledger(tmp_path, KEY.public)
        torn = len(entries_part) % len(entry_line) + len(ckpts_part) % len(ckpt_line)
        assert report.torn_bytes == torn
        assert report.entries == 4 + (entries_part == entry_line)
        assert report.checkpoints == 1 + (ckpts_part == ckpt_line)
    entries.write_bytes(entries_head + entry_line[:7])
    ckpts.write_bytes(ckpts_head + ckpt_line[:7])
    with open_writer(tmp_path) as writer:
        assert writer.size == 4
        assert entries.read_bytes() == entries_head and ckpts.read_bytes() == ckpts_head
        writer.append("round_opened", round=1, sites=["a"], model_hash=digest("m"))
        writer.checkpoint()
    assert verify_ledger(tmp_path, KEY.public).torn_bytes == 0


def test_interrupted_creation_is_cleaned_up(tmp_path: Path) -> None:
    tmp = tmp_path / ".ledger.tmp"
    tmp.mkdir()
    (tmp / "entries.jsonl").write_bytes(b"")
    with open_writer(tmp_path) as writer:
        start_run(writer)
    assert not tmp.exists() and verify_ledger(tmp_path, KEY.public).entries == 4


def test_missing_file_is_an_error_not_recreated(tmp_path: Path) -> None:
    open_writer(tmp_path).close()
    entries_path(tmp_path).unlink()
    with pytest.raises(LedgerError, match="no ledger file"):
        open_writer(tmp_path)
    assert not entries_path(tmp_path).exists()


def test_closed_writer_refuses(tmp_path: Path) -> None:
    writer = open_writer(tmp_path)
    writer.close()
    writer.close()
    with pytest.raises(LedgerError, match="closed"):
        start_run(writer)
    with pytest.raises(LedgerError, match="closed"):
        writer.checkpoint()


def test_proof_arguments_out_of_range(tmp_path: Path) -> None:
    with open_writer(tmp_path) as writer:
        start_run(writer)
        with pytest.raises(ValueError):
            writer.inclusion_proof_at(4, 4)
        with pytest.raises(ValueError):
            writer.inclusion_proof_at(0, 5)
        with pytest.raises(ValueError):
            writer.consistency_proof(2, 5)
