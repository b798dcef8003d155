"""The release registry (fedward.release.registry): statuses, lineage, signed actions and their attacks.

Each refusal has a power check: the same action with the right key, or with the approval, succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release_harness import KEY, OTHER_KEY, model_bytes, publish

from fedward.crypto import SigningKey
from fedward.release import ReleaseError
from fedward.release import registry as registry_module
from fedward.release.history import HISTORY_FILE
from fedward.release.registry import act, init_registry, open_registry, register

APPROVER = SigningKey.from_seed(bytes(range(2, 34)))
T = "2026-01-01T00:00:00Z"


def _release(tmp_path: Path, name: str, scale: float) -> Path:
    """A run's signed `releases/final/`, one per run (`name`), with a distinct model."""
    return publish(tmp_path / name / "releases", "final", model=model_bytes(scale), run_id=name)


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    root = init_registry(tmp_path / "REGISTRY", KEY, [APPROVER.public], require_approval=True)
    for i, version in enumerate(("v1", "v2", "v3"), start=1):
        register(root, version, _release(tmp_path, f"run{i}", float(i)), KEY, time=T)
    return root


def _approve_and_promote(root: Path, version: str) -> None:
    act(root, "approve", version, APPROVER, time=T)
    act(root, "promote", version, KEY, time=T)


def test_register_records_lineage_and_parent(reg: Path) -> None:
    state = open_registry(reg, KEY.public)
    assert [e.status for e in state.entries.values()] == ["candidate"] * 3
    lineage = state.entries["v2"].lineage
    assert lineage["run_id"] == "run2" and lineage["release"] == "final"
    assert lineage["sites"] == ["hospital-a", "hospital-b"] and lineage["parent"] is None
    _approve_and_promote(reg, "v1")
    register(
        reg, "v4", publish(reg.parent / "run4" / "releases", "final", model=model_bytes(4.0)), KEY, time=T
    )
    assert open_registry(reg).entries["v4"].lineage["parent"] == "v1"  # the current release at the time


def test_approve_promote_rollback_quarantine_happy_paths(reg: Path, tmp_path: Path) -> None:
    _approve_and_promote(reg, "v1")
    _approve_and_promote(reg, "v2")
    state = open_registry(reg)
    assert state.current is not None and state.current.version == "v2"
    assert state.entries["v1"].status == "promoted"
    state = act(reg, "rollback", None, KEY, time=T, reason="bad at riverside")
    assert state.current is not None and state.current.version == "v1"
    assert state.entries["v2"].status == "rolled_back"
    state = act(reg, "quarantine", "v3", KEY, time=T, reason="poisoned round")
    assert state.entries["v3"].status == "quarantined"
    assert [a.action for a in state.history][-1] == "quarantine"


def test_rollback_restores_the_previous_release_byte_for_byte(reg: Path, tmp_path: Path) -> None:
    _approve_and_promote(reg, "v1")
    _approve_and_promote(reg, "v2")
    state = act(reg, "rollback", None, KEY, time=T)
    assert state.current is not None
    original = tmp_path / "run1" / "releases" / "final"
    current = state.current.folder
    assert sorted(p.name for p in current.iterdir()) == sorted(p.name for p in original.iterdir())
    for item in original.iterdir():
        assert (current / item.name).read_bytes() == item.read_bytes()
    other = tmp_path / "run2" / "releases" / "final" / "model.safetensors"
    assert (current / "model.safetensors").read_bytes() != other.read_bytes()  # and not v2's model


def test_promotion_without_a_required_approval_is_refused(reg: Path) -> None:
    with pytest.raises(ReleaseError, match="no approval and this registry requires one"):
        act(reg, "promote", "v1", KEY, time=T)
    assert open_registry(reg).current is None
    # power check: with the approval the same promotion succeeds
    act(reg, "approve", "v1", APPROVER, time=T)
    assert act(reg, "promote", "v1", KEY, time=T).current is not None


def test_with_the_promotion_check_off_an_unapproved_promote_gets_through(reg: Path, monkeypatch) -> None:
    """Power check of the attack itself: with the rule patched away, the unapproved promote passes."""
    monkeypatch.setattr(registry_module, "_check_promotable", lambda *args: None)
    state = act(reg, "promote", "v1", KEY, time=T)
    assert state.current is not None and state.current.version == "v1"


def test_an_action_signed_with_the_wrong_key_is_refused(reg: Path) -> None:
    act(reg, "approve", "v1", APPROVER, time=T)
    with pytest.raises(ReleaseError, match="not this registry's admin"):
        act(reg, "promote", "v1", OTHER_KEY, time=T)
    with pytest.raises(ReleaseError, match="not this registry's admin"):
        act(reg, "promote", "v1", APPROVER, time=T)  # an approver cannot promote
    with pytest.raises(ReleaseError, match="not an approver key"):
        act(reg, "approve", "v2", KEY, time=T)  # the admin cannot approve
    with pytest.raises(ReleaseError, match="not this registry's admin"):
        register(reg, "v9", reg / "v1" / "final", OTHER_KEY, time=T)
    assert open_registry(reg).current is None
    # power check: the right keys work
    act(reg, "approve", "v2", APPROVER, time=T)
    assert act(reg, "promote", "v1", KEY, time=T).current is not None


def test_a_forged_history_line_signed_by_an_unknown_key_is_refused(reg: Path) -> None:
    from fedward.release.history import append_action, read_history

    keys = open_registry(reg).keys()
    last = read_history(reg / HISTORY_FILE, keys)[-1]
    append_action(reg / HISTORY_FILE, previous=last, time=T, action="promote", version="v1", key=OTHER_KEY)
    with pytest.raises(ReleaseError, match="not a registry key"):
        open_registry(reg)


def test_an_approver_signed_promote_line_is_refused_on_replay(reg: Path) -> None:
    from fedward.release.history import append_action, read_history

    last = read_history(reg / HISTORY_FILE, open_registry(reg).keys())[-1]
    append_action(reg / HISTORY_FILE, previous=last, time=T, action="promote", version="v1", key=APPROVER)
    with pytest.raises(ReleaseError, match="not signed by the admin key"):
        open_registry(reg)


def test_a_quarantined_release_can_never_be_promoted(reg: Path) -> None:
    act(reg, "approve", "v1", APPROVER, time=T)
    act(reg, "quarantine", "v1", KEY, time=T, reason="tainted")
    with pytest.raises(ReleaseError, match="quarantined"):
        act(reg, "promote", "v1", KEY, time=T)
    # power check: an approved release that is not quarantined promotes
    act(reg, "approve", "v2", APPROVER, time=T)
    assert act(reg, "promote", "v2", KEY, time=T).current is not None


def test_quarantining_the_current_release_falls_back_to_the_previous(reg: Path) -> None:
    _approve_and_promote(reg, "v1")
    _approve_and_promote(reg, "v2")
    state = act(reg, "quarantine", "v2", KEY, time=T)
    assert state.current is not None and state.current.version == "v1"
    with pytest.raises(ReleaseError, match="no previous promoted release"):
        act(reg, "rollback", None, KEY, time=T)


def test_a_candidate_that_failed_a_gate_is_never_promoted(tmp_path: Path) -> None:
    root = init_registry(tmp_path / "R", KEY, [], require_approval=False)
    gate = {
        "name": "min_site_accuracy",
        "threshold": 0.9,
        "value": 0.5,
        "passed": False,
        "site": "hospital-b",
    }
    register(root, "bad", _release(tmp_path, "runb", 1.0), KEY, time=T, gates=[gate])
    with pytest.raises(ReleaseError, match="failed release gates"):
        act(root, "promote", "bad", KEY, time=T)
    # power check: the same release with the gate passed promotes
    register(root, "good", _release(tmp_path, "rung", 2.0), KEY, time=T, gates=[{**gate, "passed": True}])
    assert act(root, "promote", "good", KEY, time=T).current is not None


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "resign_other"])
def test_a_tampered_history_is_detected(reg: Path, tamper: str) -> None:
    _approve_and_promote(reg, "v1")
    path = reg / HISTORY_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    if tamper == "edit":  # v1's approval claims v2
        value = json.loads(lines[3])
        value["version"] = "v2"
        lines[3] = json.dumps(value, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    elif tamper == "delete":
        del lines[3]  # the approval disappears
    elif tamper == "reorder":
        lines[3], lines[4] = lines[4], lines[3]
    else:  # the line rewritten and re-signed by a key outside the registry
        from fedward.core.canonical import canonical_bytes

        value = json.loads(lines[3])
        value.pop("signature")
        value["key_id"] = "0" * 16
        value["signature"] = OTHER_KEY.sign(canonical_bytes(value)).hex()
        lines[3] = canonical_bytes(value) + b"\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(ReleaseError, match=r"signature|chain|canonical|not a registry key"):
        open_registry(reg)


def test_the_untampered_history_verifies(reg: Path) -> None:
    """Power check for the tamper tests: the same registry, untouched, verifies."""
    _approve_and_promote(reg, "v1")
    assert len(open_registry(reg, KEY.public).history) == 5


def test_a_swapped_model_in_the_registry_is_detected(reg: Path, tmp_path: Path) -> None:
    (reg / "v1" / "final" / "model.safetensors").write_bytes(model_bytes(9.0))
    with pytest.raises(ReleaseError, match="model_sha256"):
        open_registry(reg)


def test_a_registry_signed_by_another_admin_is_refused_when_pinned(reg: Path) -> None:
    with pytest.raises(ReleaseError, match="not the pinned key"):
        open_registry(reg, OTHER_KEY.public)
    assert open_registry(reg, KEY.public).key_pinned  # power check


def test_a_release_signed_by_another_coordinator_cannot_be_registered(reg: Path, tmp_path: Path) -> None:
    foreign = publish(tmp_path / "foreign" / "releases", "final", key=OTHER_KEY)
    with pytest.raises(ReleaseError):
        register(reg, "v9", foreign, KEY, time=T)
    assert "v9" not in open_registry(reg).entries and not (reg / "v9").exists()
