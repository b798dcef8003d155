"""Publishing signed releases: the round trip, the file layout, atomic writes, and refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from release_harness import KEY, model_bytes, publish

from fedward.core.canonical import parse_canonical
from fedward.crypto import key_id, public_key_from_pem, verify
from fedward.release import (
    KEY_FILE,
    MODEL_FILE,
    RECORD_FILE,
    RELEASE_FILES,
    SIGNATURE_FILE,
    ReleaseError,
    ReleaseRecord,
    verify_release,
)
from fedward.release import publish as publish_module


def test_round_trip(tmp_path: Path) -> None:
    folder = publish(tmp_path, "r0003", round=3)
    assert folder == tmp_path / "r0003"
    assert sorted(p.name for p in folder.iterdir()) == sorted(RELEASE_FILES)
    record = verify_release(folder, KEY.public)
    assert record.key_pinned and "pinned" in record.trust_note()
    assert (record.version, record.run_id, record.round, record.parent) == ("r0003", "run-7", 3, None)
    assert record.model_sha256 == hashlib.sha256(model_bytes()).hexdigest()
    assert record.accepted_packages == ("11" * 32, "22" * 32)
    assert record.site_metrics["hospital-a"] == {"accuracy": 0.75, "n": 40}
    assert record.privacy["epsilon"] == 1.25
    assert record.ledger_checkpoint == {"tree_size": 9, "root_hash": "ef" * 32}
    assert record.coordinator_key_id == key_id(KEY.public)
    unpinned = verify_release(folder)
    assert unpinned == record and not unpinned.key_pinned
    assert "not the coordinator's identity" in unpinned.trust_note() and "--key" in unpinned.trust_note()


def test_files_hold_what_the_format_says(tmp_path: Path) -> None:
    folder = publish(tmp_path, ledger_checkpoint=None)
    body = (folder / RECORD_FILE).read_bytes()
    value = parse_canonical(body)  # canonical JSON, strictly
    assert value["ledger_checkpoint"] is None and ReleaseRecord.from_bytes(body).to_bytes() == body
    assert (folder / MODEL_FILE).read_bytes() == model_bytes()
    verify(KEY.public, body, bytes.fromhex((folder / SIGNATURE_FILE).read_text(encoding="ascii")))
    assert public_key_from_pem((folder / KEY_FILE).read_bytes()) == KEY.public


def test_refuses_to_overwrite_an_existing_version(tmp_path: Path) -> None:
    folder = publish(tmp_path, "final", round=1)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ReleaseError, match="already exists") as info:
        publish(tmp_path, "final", round=1, model=model_bytes(2.0))
    assert info.value.where == str(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["final"]  # no staging folder left behind


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = publish_module._write_new
    calls = []

    def failing(path: Path, data: bytes) -> None:
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(publish_module, "_write_new", failing)
    with pytest.raises(OSError, match="disk full"):
        publish(tmp_path, "r0001")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("version", "overrides", "message"),
    [
        ("../escape", {}, "'version'"),
        (".hidden", {}, "'version'"),
        ("r0001", {"model": b"not a model"}, "cannot release"),
        ("r0001", {"accepted_packages": ["xyz"]}, "accepted_packages"),
        ("r0001", {"site_metrics": {"a": {"auc": float("nan")}}}, "site_metrics"),
        ("r0001", {"site_metrics": {"a": {"auc": True}}}, "site_metrics"),
        ("r0001", {"ledger_checkpoint": {"tree_size": 1}}, "ledger_checkpoint"),
        ("r0001", {"ledger_checkpoint": {"tree_size": -1, "root_hash": "00" * 32}}, "tree_size"),
        ("r0001", {"round": -1}, "'round'"),
        ("r0001", {"run_id": ""}, "run_id"),
        ("r0001", {"parent": "r0001"}, "itself"),
        ("r0001", {"privacy": {"epsilon": float("inf")}}, "canonically"),
        ("r0002", {"parent": "r0001"}, "parent release 'r0001' does not exist"),
    ],
)
def test_refuses_invalid_releases_and_writes_nothing(
    tmp_path: Path, version: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ReleaseError, match=message):
        publish(tmp_path, version, **overrides)
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
