"""The trust commands end to end: `fedward ledger verify|show` and `fedward release verify` on a simulated
run, every kind of tampering after the run caught (with the key-pinning power check), the keys and roster
flow with a revocation taking effect mid-run, a site policy refusing the task, and a site refusing a
coordinator that shows it two histories (a fork)."""

import hashlib
import json
import shutil
import stat
from pathlib import Path

import pytest
from federations import run_cli, tabular_federation

from fedward.config import load_config
from fedward.coordinator.audit import Audit
from fedward.coordinator.setup import describe_federation
from fedward.core.arrays import arrays_to_bytes
from fedward.core.messages import ReplyStatus, Task, TaskKind
from fedward.crypto import SigningKey, key_id, load_public_key, public_key_pem
from fedward.ledger import LedgerWriter, MerkleAccumulator, leaf_hash, utc_clock
from fedward.ledger.checkpoint import Checkpoint, parse_signed_checkpoint, sign_checkpoint
from fedward.models import build_model, model_arrays
from fedward.run.data import load_sites
from fedward.run.plan import plan_for
from fedward.site import Site
from fedward.site.policy import SitePolicy
from fedward.site.trust import SiteTrust
from fedward.transport import InMemoryTransport
from fedward.trust import PackageVerifier, Roster, SiteEntry

SITES = ["site_00", "site_01", "site_02"]


def _simulate(cfg: Path, out: Path) -> dict:
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    return json.loads((out / "summary.json").read_text())


def _rounds(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _entries(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "ledger" / "entries.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    """One 3-round audited run, shared read-only; tamper tests work on copies."""
    tmp = tmp_path_factory.mktemp("trust")
    _simulate(tabular_federation(tmp / "fed", rounds=3), tmp / "run")
    return tmp / "run"


@pytest.fixture
def run(clean_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(clean_run, copy)
    return copy


# --- 1. an untampered run verifies


def test_an_untampered_run_verifies_and_reads(clean_run, capsys):
    assert run_cli(["ledger", "verify", str(clean_run)]) == 0
    out = capsys.readouterr().out
    assert "ledger verified:" in out and "3 rounds" in out and ", finished;" in out
    assert "proves integrity, not identity; pin with --key" in out

    pinned = clean_run / "keys" / "coordinator.pub"
    assert run_cli(["ledger", "verify", str(clean_run), "--key", str(pinned)]) == 0
    assert "key pinned" in capsys.readouterr().out

    final = clean_run / "releases" / "final"
    assert run_cli(["release", "verify", str(final)]) == 0
    out = capsys.readouterr().out
    record = json.loads((final / "release.json").read_text())
    assert "release final verified: round 3" in out and record["model_sha256"] in out
    assert f"{3 * len(SITES)} accepted update packages" in out
    assert "proves integrity, not the coordinator's identity" in out
    assert run_cli(["release", "verify", str(final), "--key", str(pinned)]) == 0
    assert "signed by the pinned coordinator key" in capsys.readouterr().out

    assert run_cli(["ledger", "show", str(clean_run)]) == 0
    out = capsys.readouterr().out
    for rnd in (1, 2, 3):
        assert f"round {rnd} opened with 3 sites" in out
    assert out.count("accepted (manifest") == 9 and "run finished after 3 rounds" in out


def test_a_run_directory_given_to_release_verify_points_at_the_release(clean_run, capsys):
    assert run_cli(["release", "verify", str(clean_run)]) == 2
    assert "releases/final" in capsys.readouterr().err


# --- 2. tampering after the run is caught


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _flip_model_byte(run: Path) -> None:
    path = run / "releases" / "final" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_release_record(run: Path) -> None:
    path = run / "releases" / "final" / "release.json"
    data = path.read_bytes()
    assert b'"round":3' in data
    path.write_bytes(data.replace(b'"round":3', b'"round":2'))  # still canonical JSON


def _edit_manifest_hash(run: Path) -> None:
    path = run / "ledger" / "entries.jsonl"
    lines = _lines(path)
    entry = json.loads(lines[5])
    assert entry["kind"] == "update_accepted"
    entry["manifest_hash"] = hashlib.sha256(b"another update").hexdigest()
    lines[5] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(lines))


def _delete_entry(run: Path) -> None:
    path = run / "ledger" / "entries.jsonl"
    lines = _lines(path)
    del lines[5]
    path.write_bytes(b"".join(lines))


def _swap_entries(run: Path) -> None:
    path = run / "ledger" / "entries.jsonl"
    lines = _lines(path)
    lines[5], lines[6] = lines[6], lines[5]
    path.write_bytes(b"".join(lines))


def _truncate_log(run: Path) -> None:
    path = run / "ledger" / "entries.jsonl"
    path.write_bytes(b"".join(_lines(path)[:10]))


def _edit_checkpoint_root(run: Path) -> None:
    path = run / "ledger" / "checkpoints.jsonl"
    lines = _lines(path)
    doc = json.loads(lines[2])
    doc["checkpoint"]["root_hash"] = hashlib.sha256(b"another history").hexdigest()
    lines[2] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(lines))


def _resign_checkpoint_keeping_key_id(run: Path) -> None:
    """A forger without the coordinator's key signs with another, and claims the coordinator's key id."""
    path = run / "ledger" / "checkpoints.jsonl"
    lines = _lines(path)
    signed = parse_signed_checkpoint(lines[2].rstrip(b"\n"))
    forged = sign_checkpoint(signed.checkpoint, SigningKey.generate())
    doc = {**forged.to_dict(), "key_id": signed.key_id}
    lines[2] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(lines))


TAMPERS = {
    "model byte flipped": (_flip_model_byte, "release", "model_sha256 mismatch"),
    "release.json value changed": (_edit_release_record, "release", "signature does not verify"),
    "entry value changed": (_edit_manifest_hash, "ledger", "entries.jsonl:6: an entry among lines 6..9"),
    "entry deleted": (_delete_entry, "ledger", "entries.jsonl:6: entry has seq 6 where 5 belongs"),
    "entries swapped": (_swap_entries, "ledger", "entries.jsonl:6: entry has seq 6 where 5 belongs"),
    "log truncated": (_truncate_log, "ledger", "the log was truncated"),
    "checkpoint root edited": (_edit_checkpoint_root, "ledger", "checkpoints.jsonl:3: bad checkpoint"),
    "checkpoint re-signed": (_resign_checkpoint_keeping_key_id, "ledger", "signature does not verify"),
}


def _verify(run: Path, what: str, *extra: str) -> int:
    target = run if what == "ledger" else run / "releases" / "final"
    return run_cli([what, "verify", str(target), *extra])


@pytest.mark.parametrize("name", TAMPERS)
def test_tampering_after_the_run_is_caught(run, name, capsys):
    tamper, what, message = TAMPERS[name]
    assert _verify(run, what) == 0  # power check: this very copy verified before the tampering
    capsys.readouterr()
    tamper(run)
    assert _verify(run, what) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "verified" not in captured.out


def _resign_ledger(run: Path, key: SigningKey) -> None:
    """A consistent forgery: edit an entry, recompute every root, sign with `key`, replace the run's key."""
    _edit_manifest_hash(run)
    leaves = [leaf_hash(line.rstrip(b"\n")) for line in _lines(run / "ledger" / "entries.jsonl")]
    out = []
    for line in _lines(run / "ledger" / "checkpoints.jsonl"):
        old = parse_signed_checkpoint(line.rstrip(b"\n")).checkpoint
        tree = MerkleAccumulator()
        for leaf in leaves[: old.tree_size]:
            tree.append(leaf)
        checkpoint = Checkpoint(old.ledger, old.tree_size, tree.root().hex(), old.time)
        out.append(sign_checkpoint(checkpoint, key).line + b"\n")
    (run / "ledger" / "checkpoints.jsonl").write_bytes(b"".join(out))
    (run / "keys" / "coordinator.pub").write_bytes(public_key_pem(key.public))


def test_a_re_signed_ledger_passes_only_without_a_pinned_key(run, tmp_path, capsys):
    pinned = tmp_path / "coordinator.pub"  # obtained out of band, before the forgery
    shutil.copy(run / "keys" / "coordinator.pub", pinned)
    _resign_ledger(run, SigningKey.generate())
    assert _verify(run, "ledger") == 2  # the run's release, signed by the real key, gives it away
    assert "release was signed by key" in capsys.readouterr().err
    (run / "summary.json").unlink()  # a bare ledger, no release to compare with
    shutil.rmtree(run / "releases")
    assert _verify(run, "ledger") == 0  # the forgery is self-consistent: integrity is not identity
    assert "pin with --key" in capsys.readouterr().out
    assert _verify(run, "ledger", "--key", str(pinned)) == 2
    assert "checkpoints.jsonl:1: bad checkpoint: checkpoint names key" in capsys.readouterr().err


def test_a_re_signed_release_passes_only_without_a_pinned_key(run, tmp_path, capsys):
    pinned = tmp_path / "coordinator.pub"
    shutil.copy(run / "keys" / "coordinator.pub", pinned)
    final, forger = run / "releases" / "final", SigningKey.generate()
    _flip_model_byte(run)
    record = json.loads((final / "release.json").read_text())
    record["model_sha256"] = hashlib.sha256((final / "model.safetensors").read_bytes()).hexdigest()
    record["coordinator_key_id"] = key_id(forger.public)
    body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    (final / "release.json").write_bytes(body)
    (final / "release.sig").write_text(forger.sign(body).hex())
    (final / "coordinator.pub").write_bytes(public_key_pem(forger.public))
    assert _verify(run, "release") == 0
    assert "key not pinned" in capsys.readouterr().out
    assert _verify(run, "release", "--key", str(pinned)) == 2
    assert "not by the pinned key" in capsys.readouterr().err


def test_an_emptied_ledger_does_not_verify(run, capsys):
    for name in ("entries.jsonl", "checkpoints.jsonl"):
        (run / "ledger" / name).write_bytes(b"")
    assert _verify(run, "ledger") == 2
    assert "no signed checkpoint" in capsys.readouterr().err


# --- 2b. history cut back: the ledger against its run directory, a witnessed checkpoint, the manifest


def _checkpoint_sizes(run: Path) -> list[int]:
    lines = _lines(run / "ledger" / "checkpoints.jsonl")
    return [parse_signed_checkpoint(line.rstrip(b"\n")).checkpoint.tree_size for line in lines]


def _cut_back(run: Path, size: int) -> None:
    """Cut the tail off BOTH ledger files consistently: the first `size` entries, and the checkpoints of
    at most `size` entries. Every remaining line and signature is genuine."""
    entries = run / "ledger" / "entries.jsonl"
    entries.write_bytes(b"".join(_lines(entries)[:size]))
    path = run / "ledger" / "checkpoints.jsonl"
    kept = [line for line, n in zip(_lines(path), _checkpoint_sizes(run), strict=True) if n <= size]
    path.write_bytes(b"".join(kept))


def _release_checkpoint_size(run: Path) -> int:
    record = json.loads((run / "releases" / "final" / "release.json").read_text())
    return int(record["ledger_checkpoint"]["tree_size"])


def _no_trail_checks(monkeypatch) -> None:
    """The defence off: the ledger alone, as before releases and the run directory were consulted."""
    import fedward.release.trail as trail

    for name in ("_check_release_checkpoint", "_check_finished", "_check_release_entry"):
        monkeypatch.setattr(trail, name, lambda *args: None)


CUTS = {
    # drop release_signed, run_finished and the last checkpoint: the release's checkpoint is still held
    "to the release's checkpoint": (_release_checkpoint_size, "the ledger is not finished"),
    # drop the whole last round: the release names a checkpoint the ledger no longer holds
    "below the release's checkpoint": (lambda run: _checkpoint_sizes(run)[-4], "the ledger was cut back"),
}


@pytest.mark.parametrize("name", CUTS)
def test_a_ledger_cut_back_consistently_fails(run, name, monkeypatch, capsys):
    size_of, message = CUTS[name]
    size = size_of(run)
    assert size < _checkpoint_sizes(run)[-1]
    _cut_back(run, size)
    with monkeypatch.context() as off:  # power check: the ledger alone verifies, "NOT finished"
        _no_trail_checks(off)
        assert _verify(run, "ledger") == 0
        assert "NOT finished" in capsys.readouterr().out
    assert _verify(run, "ledger") == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert run_cli(["run", "verify", str(run)]) == 2  # the manifest's ledger hashes differ too
    assert "ledger/checkpoints.jsonl: changed since the run was signed" in capsys.readouterr().err


def test_a_release_naming_a_checkpoint_the_ledger_lacks_fails(run, capsys):
    size = _checkpoint_sizes(run)[-4]
    _cut_back(run, size)
    assert _verify(run, "ledger") == 2
    err = capsys.readouterr().err
    assert "releases/final/release.json: release final names the ledger checkpoint of" in err
    assert f"signed entries end at {size}" in err


def _witnessed(run: Path, folder: Path) -> Path:
    """What a site keeps: the last checkpoint it was shown (round 3's, before the release)."""
    line = _lines(run / "ledger" / "checkpoints.jsonl")[-2]
    path = folder / "witnessed.json"
    path.write_bytes(line)
    return path


def test_a_witnessed_checkpoint_catches_a_cut_the_run_directory_cannot(run, tmp_path, capsys):
    witnessed = _witnessed(run, tmp_path)
    assert _verify(run, "ledger", "--checkpoint", str(witnessed)) == 0  # the intact ledger extends it
    assert "the ledger extends the witnessed checkpoint of" in capsys.readouterr().out
    # a bare ledger (no summary.json, no release): only the witnessed checkpoint shows what was lost
    (run / "summary.json").unlink()
    shutil.rmtree(run / "releases")
    _cut_back(run, _checkpoint_sizes(run)[-4])
    assert _verify(run, "ledger") == 0  # power check: without it, the cut looks like a crash
    assert "NOT finished" in capsys.readouterr().out
    assert _verify(run, "ledger", "--checkpoint", str(witnessed)) == 2
    assert "witnessed.json: the ledger was cut back" in capsys.readouterr().err


def test_a_forged_witnessed_checkpoint_is_refused(run, tmp_path, capsys):
    witnessed = _witnessed(run, tmp_path)
    signed = parse_signed_checkpoint(witnessed.read_bytes().rstrip(b"\n"))
    forged = {**sign_checkpoint(signed.checkpoint, SigningKey.generate()).to_dict(), "key_id": signed.key_id}
    witnessed.write_bytes(json.dumps(forged, sort_keys=True, separators=(",", ":")).encode())
    assert _verify(run, "ledger", "--checkpoint", str(witnessed)) == 2
    assert "witnessed checkpoint: checkpoint signature does not verify" in capsys.readouterr().err
    witnessed.write_bytes(b"not json")
    assert _verify(run, "ledger", "--checkpoint", str(witnessed)) == 2
    assert "witnessed.json: not a signed checkpoint" in capsys.readouterr().err
    assert _verify(run, "ledger", "--checkpoint", str(tmp_path / "missing.json")) == 2
    assert "missing.json: witnessed checkpoint file not found" in capsys.readouterr().err


def test_an_untampered_run_directory_verifies_as_a_whole(clean_run, capsys):
    assert run_cli(["run", "verify", str(clean_run)]) == 0
    out = capsys.readouterr().out
    assert "run-manifest.json verified:" in out and "run verified:" in out and ", finished;" in out
    manifest = json.loads((clean_run / "run-manifest.json").read_text())["manifest"]["files"]
    for name in ("summary.json", "metrics.jsonl", "model/global.safetensors", "report.html",
                 "releases/final/release.json", "releases/final/model.safetensors"):  # fmt: skip
        assert manifest[name]["sha256"] == hashlib.sha256((clean_run / name).read_bytes()).hexdigest()
    pinned = clean_run / "keys" / "coordinator.pub"
    assert run_cli(["run", "verify", str(clean_run), "--key", str(pinned)]) == 0


def _append_byte(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b" ")


def _edit_summary(run: Path) -> Path:
    path = run / "summary.json"
    summary = json.loads(path.read_text())
    summary["rounds_completed"] = 99
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def _edit_metrics(run: Path) -> Path:
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # the last round's metrics dropped
    return path


def _flip_global_model(run: Path) -> Path:
    path = run / "model" / "global.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def _delete_metrics(run: Path) -> Path:
    path = run / "metrics.jsonl"
    path.unlink()
    return path


def _add_model(run: Path) -> Path:
    path = run / "model" / "better.safetensors"
    shutil.copy(run / "model" / "global.safetensors", path)
    return path


RUN_TAMPERS = {
    "summary.json edited": (_edit_summary, "changed since the run was signed"),
    "metrics.jsonl cut": (_edit_metrics, "changed since the run was signed"),
    "model byte flipped": (_flip_global_model, "changed since the run was signed"),
    "metrics.jsonl deleted": (_delete_metrics, "a file the signed manifest lists is missing"),
    "model file added": (_add_model, "not in the signed manifest"),
}


@pytest.mark.parametrize("name", RUN_TAMPERS)
def test_a_tampered_run_directory_fails_naming_the_file(run, name, monkeypatch, capsys):
    tamper, message = RUN_TAMPERS[name]
    path = tamper(run)
    assert _verify(run, "ledger") == 0  # the ledger and releases say nothing about these files
    capsys.readouterr()
    with monkeypatch.context() as off:  # power check: without the manifest check the run passes
        import fedward.cli.rundir as rundir

        off.setattr(rundir, "verify_manifest", lambda root, key: type("M", (), {"files": {}, "key_id": "-"}))
        assert run_cli(["run", "verify", str(run)]) == 0
    capsys.readouterr()
    assert run_cli(["run", "verify", str(run)]) == 2
    captured = capsys.readouterr()
    assert f"{path}: {message}" in captured.err and "run verified" not in captured.out


def _forge_manifest(run: Path, key: SigningKey, claim_key_id: str | None) -> None:
    """Re-hash the tampered files and sign with `key`, claiming `claim_key_id` (or the forger's own)."""
    from fedward.release import write_manifest

    (run / "run-manifest.json").unlink()
    write_manifest(run, key)
    if claim_key_id is not None:
        doc = json.loads((run / "run-manifest.json").read_text())
        doc["key_id"] = claim_key_id
        (run / "run-manifest.json").write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))


def test_a_forged_run_manifest_fails(run, tmp_path, capsys):
    pinned = tmp_path / "coordinator.pub"
    shutil.copy(run / "keys" / "coordinator.pub", pinned)
    original_id = json.loads((run / "run-manifest.json").read_text())["key_id"]
    _edit_summary(run)
    _forge_manifest(run, SigningKey.generate(), original_id)  # the coordinator's key id, another key
    assert run_cli(["run", "verify", str(run)]) == 2
    assert "run-manifest.json: the manifest's signature does not verify" in capsys.readouterr().err
    forger = SigningKey.generate()
    _forge_manifest(run, forger, None)
    assert run_cli(["run", "verify", str(run)]) == 2
    assert "the manifest names key" in capsys.readouterr().err
    # the forger also swaps the run's own key: the manifest passes, the ledger's signatures do not
    (run / "keys" / "coordinator.pub").write_bytes(public_key_pem(forger.public))
    _forge_manifest(run, forger, None)
    assert run_cli(["run", "verify", str(run)]) == 2
    assert "checkpoints.jsonl:1: bad checkpoint: checkpoint names key" in capsys.readouterr().err
    assert run_cli(["run", "verify", str(run), "--key", str(pinned)]) == 2  # and a pinned key refuses it
    assert "run-manifest.json: the manifest names key" in capsys.readouterr().err


# --- 3. keys and roster: admission and revocation take effect in a run


def _make_keys(folder: Path) -> None:
    for name in ["admin", "coordinator", *SITES]:
        assert run_cli(["keys", "new", name, "--dir", str(folder)]) == 0


def test_keys_and_roster_commands_refuse_what_would_lose_data(tmp_path, capsys):
    keys = tmp_path / "keys"
    _make_keys(keys)
    for path in keys.glob("*.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    admin = (keys / "admin.key").read_bytes()
    assert run_cli(["keys", "new", "admin", "--dir", str(keys)]) == 2
    assert (keys / "admin.key").read_bytes() == admin and "refusing to overwrite" in capsys.readouterr().err
    assert run_cli(["keys", "new", "../escape", "--dir", str(tmp_path / "new" / "deeper")]) == 2
    assert not (tmp_path / "new").exists()  # nothing half made

    assert run_cli(["roster", "create", "--dir", str(keys), *SITES]) == 0
    roster = (keys / "roster.json").read_bytes()
    assert run_cli(["roster", "create", "--dir", str(keys), "site_00"]) == 2
    assert run_cli(["roster", "create", "--dir", str(keys), "--force", "site_07"]) == 2  # no site_07.pub
    assert "site_07.pub: public key of site 'site_07' not found" in capsys.readouterr().err
    assert run_cli(["roster", "revoke", "site_07", "--dir", str(keys), "--from-round", "2"]) == 2
    assert "not in the roster" in capsys.readouterr().err
    assert (keys / "roster.json").read_bytes() == roster

    assert run_cli(["roster", "show", "--dir", str(keys)]) == 0  # power check for the tampering below
    assert "version 1" in capsys.readouterr().out
    (keys / "roster.json").write_bytes(roster.replace(b'"version":1', b'"version":9'))
    assert run_cli(["roster", "show", "--dir", str(keys)]) == 2
    assert "signature does not verify" in capsys.readouterr().err


def test_a_revoked_site_is_refused_from_its_round_on(tmp_path, capsys):
    keys = tmp_path / "keys"
    _make_keys(keys)
    assert run_cli(["roster", "create", "--dir", str(keys), *SITES]) == 0
    cfg = tabular_federation(tmp_path / "fed", rounds=3, extra=f'[trust]\nkeys = "{keys}"\n')

    _simulate(cfg, tmp_path / "before")
    admitted = {e["site"]: e["key_id"] for e in _entries(tmp_path / "before") if e["kind"] == "site_admitted"}
    assert admitted == {s: key_id(load_public_key(keys / f"{s}.pub")) for s in SITES}
    assert not any(e["kind"] == "update_rejected" for e in _entries(tmp_path / "before"))

    assert run_cli(["roster", "revoke", "site_01", "--dir", str(keys), "--from-round", "2"]) == 0
    assert run_cli(["roster", "show", "--dir", str(keys)]) == 0
    assert "revoked from round 2" in capsys.readouterr().out
    summary = _simulate(cfg, tmp_path / "after")
    assert summary["rounds_completed"] == 3

    rounds = _rounds(tmp_path / "after")
    assert rounds[0]["replies"]["site_01"]["status"] == "ok"
    for record in rounds[1:]:  # from its round on it is not selected: no task, no wait for it
        assert "site_01" not in record["replies"] and record["not_admitted"] == ["site_01"]
        assert {record["replies"][s]["status"] for s in ("site_00", "site_02")} == {"ok"}
        assert record["aggregated"]
    # its own test metrics stop counting from that round too (round 1 still has them)
    assert "site_01" in rounds[0]["sites"]
    assert all(set(record["sites"]) == {"site_00", "site_02"} for record in rounds[1:])
    release = json.loads((tmp_path / "after" / "releases" / "final" / "release.json").read_text())
    assert set(release["site_metrics"]) == {"site_00", "site_02"}
    entries = _entries(tmp_path / "after")
    assert not any(e["kind"] == "update_rejected" for e in entries)  # it was never asked again
    opened = [e for e in entries if e["kind"] == "round_opened"]
    assert [e.get("not_admitted", []) for e in opened] == [[], ["site_01"], ["site_01"]]
    accepted = {(e["round"], e["site"]) for e in entries if e["kind"] == "update_accepted"}
    assert (1, "site_01") in accepted and len(accepted) == 3 + 2 + 2
    assert {"site": "site_01", "reason": "from round 2"}.items() <= next(
        e for e in entries if e["kind"] == "site_revoked"
    ).items()
    # the run's keys are the ones the administrator made: pin them
    pinned = keys / "coordinator.pub"
    assert run_cli(["ledger", "verify", str(tmp_path / "after"), "--key", str(pinned)]) == 0
    final = tmp_path / "after" / "releases" / "final"
    assert run_cli(["release", "verify", str(final), "--key", str(pinned)]) == 0
    assert "7 accepted update packages" in capsys.readouterr().out


# --- 4. a site's own policy refuses the task


STRICT = """[policy]
allowed_code = ["*"]
require_secure_aggregation = {secure}
require_dp = "none"
min_samples = 1
max_rounds = 1000
"""


def _with_policy(cfg: Path, site: str, require_secure: bool) -> Path:
    (cfg.parent / "strict.toml").write_text(STRICT.format(secure=str(require_secure).lower()))
    text = cfg.read_text()
    anchor = f'name = "{site}"\n'
    assert anchor in text
    cfg.write_text(text.replace(anchor, anchor + 'policy = "strict.toml"\n'))
    return cfg


def test_a_site_policy_refuses_a_task_without_secure_aggregation(tmp_path):
    cfg = _with_policy(tabular_federation(tmp_path / "fed", rounds=2), "site_01", require_secure=True)
    summary = _simulate(cfg, tmp_path / "run")
    assert summary["rounds_completed"] == 2
    for record in _rounds(tmp_path / "run"):
        reply = record["replies"]["site_01"]
        assert reply["status"] == "failed" and "require_secure_aggregation" in reply["error"]
        assert {record["replies"][s]["status"] for s in ("site_00", "site_02")} == {"ok"}
    aggregates = [e for e in _entries(tmp_path / "run") if e["kind"] == "aggregate_computed"]
    assert [e["contributors"] for e in aggregates] == [["site_00", "site_02"]] * 2
    refusals = [e for e in _entries(tmp_path / "run") if e["kind"] == "update_rejected"]
    assert [(e["round"], e["site"]) for e in refusals] == [(1, "site_01"), (2, "site_01")]
    assert all("require_secure_aggregation" in e["reason"] for e in refusals)  # the refusal is on record


def test_keys_that_do_not_match_the_roster_are_a_config_error(tmp_path, capsys):
    keys = tmp_path / "keys"
    _make_keys(keys)
    assert run_cli(["roster", "create", "--dir", str(keys), *SITES]) == 0
    (keys / "site_01.key").unlink()
    (keys / "site_01.pub").unlink()
    assert run_cli(["keys", "new", "site_01", "--dir", str(keys)]) == 0  # a new key the roster never saw
    cfg = tabular_federation(tmp_path / "fed", rounds=1, extra=f'[trust]\nkeys = "{keys}"\n')
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run"), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert "site_01.key: the private key of site 'site_01' is not the key the roster admits" in err
    assert not (tmp_path / "run").exists()


def test_the_same_policy_file_without_the_rule_accepts_the_task(tmp_path):
    """Power check: the refusal above comes from that rule, not from reading a policy file at all."""
    cfg = _with_policy(tabular_federation(tmp_path / "fed", rounds=1), "site_01", require_secure=False)
    _simulate(cfg, tmp_path / "run")
    assert _rounds(tmp_path / "run")[0]["replies"]["site_01"]["status"] == "ok"


# --- 5. a coordinator that shows a site two histories (a fork) is refused


def _audit(folder: Path, coordinator: SigningKey, roster: Roster, run_id: str, config_hash: str) -> Audit:
    ledger = LedgerWriter(folder, coordinator, run_id, utc_clock)
    verifier = PackageVerifier(roster, roster.federation, run_id)
    audit = Audit(ledger, coordinator, verifier, folder / "releases", utc_clock)
    audit.run_started(run_id, roster.federation, config_hash, "0" * 64)
    return audit


def test_a_site_refuses_a_checkpoint_that_forks_what_it_saw(tmp_path):
    cfg = load_config(tabular_federation(tmp_path / "fed", rounds=1))
    loaded = load_sites(cfg)[0]
    name, run_id = loaded.name, "fork-run"
    coordinator, site_key = SigningKey.generate(), SigningKey.generate()
    transport = InMemoryTransport([Site(name, loaded.data)])
    setup = describe_federation(transport, plan_for(cfg, run_id, None))
    transport.close()
    model = arrays_to_bytes(model_arrays(build_model(setup.spec, seed=0)))

    def roster(*sites: str) -> Roster:
        entries = {s: SiteEntry(site_key.public) for s in sites}
        return Roster(cfg.federation.name, 1, "2025-01-01T00:00:00Z", coordinator.public, entries)

    def task(evidence: dict) -> Task:
        config = {**setup.task_config, **evidence}
        return Task(run_id, 1, name, TaskKind.EVALUATE, model, config, setup.context)

    def site() -> Site:
        trust = SiteTrust(name, site_key, coordinator.public, SitePolicy.simulation_default(),
                          cfg.federation.name, loaded.fingerprint, None, utc_clock)  # fmt: skip
        return Site(name, loaded.data, trust)

    # two ledgers, same run and coordinator key: B admitted one more site than A says it did
    history_a = _audit(tmp_path / "a", coordinator, roster(name), run_id, "a" * 64)
    history_b = _audit(tmp_path / "b", coordinator, roster(name, "site_99"), run_id, "a" * 64)
    history_a.open_round(1, [name], model)
    history_b.open_round(1, [name], model)
    witnessed = site()
    seen = history_a.ledger.size
    assert witnessed.handle(task(history_a.evidence(name))).status is ReplyStatus.OK

    history_b.shown[name] = {seen}  # B offers a consistency proof from the checkpoint the site saw in A
    forked = task(history_b.evidence(name))
    reply = witnessed.handle(forked)
    assert reply.status is ReplyStatus.FAILED
    assert "ForkError" in reply.error and "two histories" in reply.error

    # power checks: a site with no memory accepts B, and A's own continuation is accepted
    assert site().handle(forked).status is ReplyStatus.OK
    history_a.close_round(1, {}, model, [name])
    assert witnessed.handle(task(history_a.evidence(name))).status is ReplyStatus.OK
    history_a.ledger.close()
    history_b.ledger.close()


def _with_code_policy(cfg: Path, code: str) -> Path:
    policy = STRICT.format(secure="false").replace('allowed_code = ["*"]', f'allowed_code = ["{code}"]')
    (cfg.parent / "code.toml").write_text(policy)
    text = cfg.read_text()
    anchor = 'name = "site_02"\n'
    cfg.write_text(text.replace(anchor, anchor + 'policy = "code.toml"\n'))
    return cfg


@pytest.mark.parametrize("pinned", [True, False])
def test_a_policy_pinned_to_the_ledgers_code_hash_accepts_that_training_code(tmp_path, pinned):
    """The code hash the ledger records is the one sites check: an operator can allow-list it from a run.
    Power check: a policy pinned to another hash refuses the same task."""
    first = tmp_path / "first"
    _simulate(tabular_federation(tmp_path / "a", rounds=1), first)
    code = next(e["code_hash"] for e in _entries(first) if e["kind"] == "run_started")
    cfg = _with_code_policy(tabular_federation(tmp_path / "b", rounds=1), code if pinned else "0" * 64)
    _simulate(cfg, tmp_path / "second")
    reply = _rounds(tmp_path / "second")[0]["replies"]["site_02"]
    if pinned:
        assert reply["status"] == "ok"
    else:
        assert reply["status"] == "failed" and "allowed_code" in reply["error"]
