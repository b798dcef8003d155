"""Verifying a run's chain of releases: every release verifies, parents exist in the same run, rounds
move forward, links do not loop. Power checks switch off the link check and show the break passes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from release_harness import KEY, OTHER_KEY, model_bytes, publish, resign

from fedward.release import MODEL_FILE, ReleaseError, verify_chain
from fedward.release import verify as verify_module


def _chain(releases: Path) -> None:
    publish(releases, "r0001", round=1, model=model_bytes(1.0))
    publish(releases, "r0002", round=2, parent="r0001", model=model_bytes(2.0))
    publish(releases, "final", round=2, parent="r0002", model=model_bytes(2.0))


def test_a_good_chain_verifies_in_round_order(tmp_path: Path) -> None:
    _chain(tmp_path)
    (tmp_path / ".staging-r0003-abc").mkdir()  # a release being written is not part of the chain
    records = verify_chain(tmp_path, KEY.public)
    assert [r.version for r in records] == ["r0001", "final", "r0002"]  # by round, then name
    assert all(r.key_pinned for r in records)
    assert [r.version for r in verify_chain(tmp_path)] == ["r0001", "final", "r0002"]


def test_a_missing_parent_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _chain(tmp_path)
    shutil.rmtree(tmp_path / "r0001")
    with pytest.raises(ReleaseError, match="parent release 'r0001' is missing") as info:
        verify_chain(tmp_path, KEY.public)
    assert info.value.where == str(tmp_path / "r0002" / "release.json")
    monkeypatch.setattr(verify_module, "_check_parent", lambda *args: None)
    assert len(verify_chain(tmp_path, KEY.public)) == 2  # power check


def test_rounds_must_move_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(tmp_path, "r0002", round=2)
    publish(tmp_path, "r0003", round=2, parent="r0002", model=model_bytes(5.0))  # same round, new model
    with pytest.raises(ReleaseError, match="round 2 does not come after parent 'r0002'"):
        verify_chain(tmp_path)
    monkeypatch.setattr(verify_module, "_check_parent", lambda *args: None)
    assert len(verify_chain(tmp_path)) == 2  # power check


def test_an_earlier_round_after_its_parent_is_refused(tmp_path: Path) -> None:
    publish(tmp_path, "r0005", round=5)
    publish(tmp_path, "r0004", round=4, parent="r0005")
    with pytest.raises(ReleaseError, match="round 4 does not come after"):
        verify_chain(tmp_path)


def test_a_parent_from_another_run_is_refused(tmp_path: Path) -> None:
    publish(tmp_path, "r0001", round=1, run_id="run-other")
    publish(tmp_path, "r0002", round=2, parent="r0001")
    with pytest.raises(ReleaseError, match="from run 'run-other'"):
        verify_chain(tmp_path)


def test_parents_that_loop_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(tmp_path, "a", round=1)
    publish(tmp_path, "b", round=1, parent="a")
    resign(tmp_path / "a", KEY, lambda r: r.update(parent="b"))
    with pytest.raises(ReleaseError, match="loop"):
        verify_chain(tmp_path, KEY.public)
    monkeypatch.setattr(verify_module, "_check_no_loops", lambda *args: None)
    assert len(verify_chain(tmp_path, KEY.public)) == 2  # power check


def test_one_bad_release_fails_the_chain(tmp_path: Path) -> None:
    _chain(tmp_path)
    (tmp_path / "r0002" / MODEL_FILE).write_bytes(model_bytes(9.0))
    with pytest.raises(ReleaseError, match="model_sha256 mismatch"):
        verify_chain(tmp_path)


def test_a_release_from_another_key_fails_a_pinned_chain(tmp_path: Path) -> None:
    publish(tmp_path, "r0001", round=1)
    publish(tmp_path, "r0002", round=2, parent="r0001", key=OTHER_KEY)
    assert len(verify_chain(tmp_path)) == 2  # unpinned: each release is only self-consistent
    with pytest.raises(ReleaseError, match="pinned"):
        verify_chain(tmp_path, KEY.public)


def test_empty_missing_or_cluttered_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="releases folder not found"):
        verify_chain(tmp_path / "nowhere")
    tmp_path.mkdir(exist_ok=True)
    with pytest.raises(ReleaseError, match="no releases"):
        verify_chain(tmp_path)
    publish(tmp_path, "r0001")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(ReleaseError, match="not a release folder"):
        verify_chain(tmp_path)
