"""CheckpointWitness: a site that remembers checkpoints catches a coordinator showing two histories (a
fork), across restarts when persisted; power checks show that signature checks alone, or a witness that
forgets, accept the fork."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from ledger_harness import KEY, LEDGER_ID, OTHER_KEY, Clock, digest, play_round, start_run

from fedward.ledger import (
    Checkpoint,
    CheckpointError,
    CheckpointWitness,
    ForkError,
    LedgerError,
    LedgerWriter,
    ProofError,
    SignedCheckpoint,
    leaf_hash,
    root_hash,
    sign_checkpoint,
    verify_checkpoint,
)


class SignatureOnlyWitness:
    """Defence off: checks each checkpoint's signature and nothing about how they relate."""

    def observe(
        self, signed: SignedCheckpoint, public_key: bytes, consistency_proof: Sequence[bytes] = ()
    ) -> None:
        verify_checkpoint(signed, public_key)


def _two_rounds(directory: Path) -> Iterator[LedgerWriter]:
    with LedgerWriter(directory, KEY, LEDGER_ID, Clock()) as writer:
        start_run(writer)
        for rnd in (1, 2):
            play_round(writer, rnd)
        yield writer


@pytest.fixture
def honest(tmp_path: Path) -> Iterator[LedgerWriter]:
    yield from _two_rounds(tmp_path / "honest")


@pytest.fixture
def forked(tmp_path: Path) -> Iterator[LedgerWriter]:
    """The same key, ledger id and first 2 rounds as `honest`: each test then writes another round 3
    (say, a site's update that was accepted, now recorded as rejected)."""
    yield from _two_rounds(tmp_path / "forked")


def test_honest_growth_is_accepted_and_entries_checked(honest: LedgerWriter) -> None:
    witness = CheckpointWitness(LEDGER_ID)
    with pytest.raises(LedgerError, match="no checkpoint seen"):
        witness.check_inclusion(honest.line(0), 0, [])
    previous = honest.checkpoint()
    witness.observe(previous, KEY.public)
    for rnd in (3, 4, 5):
        play_round(honest, rnd)
        current = honest.checkpoint()
        witness.observe(current, KEY.public, honest.consistency_proof(previous.checkpoint.tree_size))
        previous = current
    witness.observe(previous, KEY.public)  # the same checkpoint again: same size, same root
    assert witness.latest == previous and len(witness.seen) == 4
    index = honest.size - 1  # the round-5 aggregate with its model hash
    entry = witness.check_inclusion(honest.line(index), index, honest.inclusion_proof_at(index, honest.size))
    assert entry.kind == "aggregate_computed" and entry.fields["model_hash"] == digest("model-5")
    altered = honest.line(index).replace(digest("model-5").encode(), digest("model-x").encode())
    with pytest.raises(ProofError):
        witness.check_inclusion(altered, index, honest.inclusion_proof_at(index, honest.size))
    with pytest.raises(ProofError):
        witness.check_inclusion(honest.line(index), index - 1, honest.inclusion_proof_at(index, honest.size))


def test_fork_is_detected_and_signatures_alone_accept_it(honest: LedgerWriter, forked: LedgerWriter) -> None:
    play_round(honest, 3)
    forked.append("round_opened", round=3, sites=["hospital-a"], model_hash=digest("model-2"))
    forked.append("update_rejected", round=3, site="hospital-a", reason="invalid", manifest_hash=None)
    seen_a = honest.checkpoint()  # what the site was shown first
    play_round(forked, 4)
    seen_b = forked.checkpoint()  # later: another history, validly signed, and larger
    proof = forked.consistency_proof(seen_a.checkpoint.tree_size)  # the best the coordinator can offer

    witness = CheckpointWitness(LEDGER_ID)
    witness.observe(seen_a, KEY.public)
    with pytest.raises(ForkError, match="two histories") as caught:
        witness.observe(seen_b, KEY.public, proof)
    assert caught.value.earlier == seen_a and caught.value.later == seen_b  # evidence, both signed
    verify_checkpoint(caught.value.earlier, KEY.public)
    verify_checkpoint(caught.value.later, KEY.public)
    assert witness.latest == seen_a  # the forked checkpoint was not adopted

    naive = SignatureOnlyWitness()  # power check
    naive.observe(seen_a, KEY.public)
    naive.observe(seen_b, KEY.public, proof)


def test_same_size_other_root_and_older_checkpoints(honest: LedgerWriter, forked: LedgerWriter) -> None:
    play_round(honest, 3)
    forked.append("round_opened", round=3, sites=["hospital-b"], model_hash=digest("model-2"))
    for _ in range(5):
        forked.append("site_revoked", site="hospital-c", reason="rewritten history")
    assert honest.size == forked.size
    seen_a, seen_b = honest.checkpoint(), forked.checkpoint()
    witness = CheckpointWitness(LEDGER_ID)
    witness.observe(seen_a, KEY.public)
    with pytest.raises(ForkError):
        witness.observe(seen_b, KEY.public)
    # an older checkpoint is fine with a proof that it is a prefix of the latest; a forked older one is not
    older = sign_older(honest, 10)
    witness.observe(older, KEY.public, honest.consistency_proof(10))
    with pytest.raises(ForkError):
        witness.observe(sign_older(forked, 17), KEY.public, forked.consistency_proof(17))


def sign_older(writer: LedgerWriter, size: int) -> SignedCheckpoint:
    """A checkpoint of the writer's first `size` entries (as it would have signed earlier)."""
    root = root_hash([leaf_hash(writer.line(i)) for i in range(size)])
    return sign_checkpoint(Checkpoint(LEDGER_ID, size, root.hex(), "2025-01-31T00:00:00Z"), KEY)


def test_persisted_witness_remembers_across_restart(
    tmp_path: Path, honest: LedgerWriter, forked: LedgerWriter
) -> None:
    play_round(honest, 3)
    forked.append("round_opened", round=3, sites=["hospital-a"], model_hash=digest("model-2"))
    play_round(forked, 4)
    state = tmp_path / "site-a" / "witness.json"
    state.parent.mkdir()
    seen_a = honest.checkpoint()
    CheckpointWitness(LEDGER_ID, path=state).observe(seen_a, KEY.public)
    seen_b = forked.checkpoint()
    restarted = CheckpointWitness(LEDGER_ID, path=state)
    assert restarted.latest == seen_a
    with pytest.raises(ForkError):
        restarted.observe(seen_b, KEY.public, forked.consistency_proof(seen_a.checkpoint.tree_size))
    forgetful = CheckpointWitness(LEDGER_ID)  # power check: a site that forgot what it saw
    forgetful.observe(seen_b, KEY.public)


def test_witness_refuses_bad_signatures_other_keys_ledgers_and_state(
    tmp_path: Path, honest: LedgerWriter
) -> None:
    signed = honest.checkpoint()
    witness = CheckpointWitness(LEDGER_ID, path=tmp_path / "w.json")
    with pytest.raises(CheckpointError):
        witness.observe(signed, OTHER_KEY.public)
    witness.observe(signed, KEY.public)
    other = LedgerWriter(tmp_path / "other", OTHER_KEY, LEDGER_ID, Clock())
    start_run(other)
    with pytest.raises(CheckpointError, match="pinned"):
        witness.observe(other.checkpoint(), OTHER_KEY.public)
    with pytest.raises(LedgerError, match="not 'run-other'"):
        CheckpointWitness("run-other").observe(signed, KEY.public)
    with pytest.raises(LedgerError, match="witness state is for ledger"):
        CheckpointWitness("run-other", path=tmp_path / "w.json")
    (tmp_path / "w.json").write_bytes(
        (tmp_path / "w.json").read_bytes().replace(b'"tree_size":16', b'"tree_size":15')
    )
    with pytest.raises(LedgerError, match="does not verify"):
        CheckpointWitness(LEDGER_ID, path=tmp_path / "w.json")
    (tmp_path / "w.json").write_bytes(b"{not json")
    with pytest.raises(LedgerError, match="canonical JSON"):
        CheckpointWitness(LEDGER_ID, path=tmp_path / "w.json")
