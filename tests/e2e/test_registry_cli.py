"""`fedward release init | register | list | approve | promote | rollback | quarantine | verify` on a
registry: the happy path, refusals with exit 2 naming the file, and a tampered history caught by verify
and list (each refusal with its power check)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from federations import run_cli

from fedward.crypto import SigningKey
from fedward.ledger import LedgerWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "release"))
from release_harness import KEY, OTHER_KEY, model_bytes, publish

APPROVER = SigningKey.from_seed(bytes(range(3, 35)))
GATE = {"name": "min_site_accuracy", "threshold": 0.6, "value": 0.7, "passed": True, "site": "hospital-b"}


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, key in (("coord", KEY), ("approver", APPROVER), ("other", OTHER_KEY)):
        key.write(tmp_path / f"{name}.key", tmp_path / f"{name}.pub")
        out[name] = tmp_path / f"{name}.key"
        out[f"{name}.pub"] = tmp_path / f"{name}.pub"
    return out


def _run(tmp_path: Path, name: str, scale: float, gate: dict | None = None) -> Path:
    """A run directory with a signed ledger whose release_signed entry carries the gate results."""
    run = tmp_path / name
    release = publish(run / "releases", "final", model=model_bytes(scale), run_id=name)
    with LedgerWriter(run, KEY, name, lambda: "2026-01-01T00:00:00Z") as ledger:
        ledger.append("run_started", run_id=name, federation="f", config_hash="cd" * 32, code_hash="x")
        extra = {} if gate is None else {"gates": [gate]}
        ledger.append("release_signed", version="final", round=1, model_hash="ab" * 32, **extra)
        ledger.checkpoint()
    return release


def test_the_registry_cli_end_to_end(tmp_path: Path, keys: dict[str, Path], capsys) -> None:
    reg = tmp_path / "REGISTRY"
    k, a = str(keys["coord"]), str(keys["approver"])
    assert run_cli(["release", "init", str(reg), "--key", k, "--approver", str(keys["approver.pub"]),
                    "--require-approval"]) == 0  # fmt: skip
    for version, scale in (("v1", 1.0), ("v2", 2.0)):
        release = _run(tmp_path, f"run-{version}", scale, GATE)
        parent = [] if version == "v1" else ["--parent", "v1"]
        assert (
            run_cli(
                ["release", "register", str(reg), str(release), "--version", version, "--key", k, *parent]
            )
            == 0
        )
    capsys.readouterr()

    # promotion without the required approval: exit 2, naming the version; power check: approve, then it works
    assert run_cli(["release", "promote", str(reg), "v1", "--key", k]) == 2
    assert "no approval" in capsys.readouterr().err
    # the wrong key: exit 2 naming registry.json; power check below with the right key
    assert run_cli(["release", "approve", str(reg), "v1", "--key", str(keys["other"])]) == 2
    err = capsys.readouterr().err
    assert "not an approver key" in err and "registry.json" in err
    for version in ("v1", "v2"):
        assert run_cli(["release", "approve", str(reg), version, "--key", a, "--reason", "evidence ok"]) == 0
        assert run_cli(["release", "promote", str(reg), version, "--key", k]) == 0
    assert run_cli(["release", "rollback", str(reg), "--key", k, "--reason", "regressed"]) == 0
    assert run_cli(["release", "quarantine", str(reg), "v2", "--key", k, "--reason", "tainted"]) == 0
    assert run_cli(["release", "promote", str(reg), "v2", "--key", k]) == 2
    assert "quarantined" in capsys.readouterr().err

    assert run_cli(["release", "list", str(reg), "--key", str(keys["coord.pub"])]) == 0
    out = capsys.readouterr().out
    assert "* v1: promoted" in out and "v2: quarantined; parent v1" in out and "gates passed" in out
    assert "current: v1" in out
    assert (reg / "v1" / "final" / "model.safetensors").read_bytes() == (
        tmp_path / "run-v1" / "releases" / "final" / "model.safetensors"
    ).read_bytes()

    # power check of the tamper detection: verify passes untouched, then fails on a tampered history
    assert run_cli(["release", "verify", str(reg), "--key", str(keys["coord.pub"])]) == 0
    history = reg / "history.jsonl"
    history.write_bytes(history.read_bytes().replace(b'"rollback"', b'"promote"', 1))
    capsys.readouterr()
    for command in ("verify", "list"):
        assert run_cli(["release", command, str(reg)]) == 2
        assert "history.jsonl" in capsys.readouterr().err


def test_a_failed_gate_from_the_run_ledger_blocks_promotion(
    tmp_path: Path, keys: dict[str, Path], capsys
) -> None:
    reg = tmp_path / "R"
    k = str(keys["coord"])
    assert run_cli(["release", "init", str(reg), "--key", k]) == 0
    bad = _run(tmp_path, "bad", 1.0, {**GATE, "value": 0.5, "passed": False})
    good = _run(tmp_path, "good", 2.0, GATE)
    assert run_cli(["release", "register", str(reg), str(bad), "--version", "bad", "--key", k]) == 0
    assert run_cli(["release", "register", str(reg), str(good), "--version", "good", "--key", k]) == 0
    capsys.readouterr()
    assert run_cli(["release", "promote", str(reg), "bad", "--key", k]) == 2
    assert "failed release gates ['min_site_accuracy']" in capsys.readouterr().err
    assert run_cli(["release", "promote", str(reg), "good", "--key", k]) == 0  # power check


def test_registering_with_a_key_that_is_not_the_admin_is_refused(
    tmp_path: Path, keys: dict[str, Path], capsys
):
    reg = tmp_path / "R"
    assert run_cli(["release", "init", str(reg), "--key", str(keys["coord"])]) == 0
    release = _run(tmp_path, "r", 1.0)
    assert run_cli(["release", "register", str(reg), str(release), "--version", "v1", "--key",
                    str(keys["other"])]) == 2  # fmt: skip
    assert "not this registry's admin" in capsys.readouterr().err
    assert run_cli(["release", "register", str(reg), str(release), "--version", "v1", "--key",
                    str(keys["coord"])]) == 0  # fmt: skip
