"""`[release]` gates end to end through `fedward simulate`: a gate the task cannot meet leaves no promoted
release, says which gate failed on the command line, in summary.json and in the ledger, and the run still
verifies (`fedward ledger verify`, `fedward run verify`); a met gate promotes as before; a regression gate
against the first run's release, its key pinned, passes, and a baseline that does not verify stops the
run with exit 2 before anything is written."""

import json
from pathlib import Path

import pytest
from federations import run_cli, tabular_federation


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("gates")
    cfg = tabular_federation(
        tmp / "fed", rounds=2, extra="[release]\nmin_site_accuracy = 0.999\nmin_sites = 3\n"
    )
    return tmp / "run", cfg.as_posix()


def test_an_unmeetable_gate_refuses_the_release_and_the_run_still_verifies(refused, capsys):
    run, cfg = refused
    assert run_cli(["simulate", cfg, "--out", str(run), "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert "release REFUSED" in out and "gate min_site_accuracy:" in out
    assert not (run / "releases" / "final").exists()
    summary = json.loads((run / "summary.json").read_text())
    release = summary["release"]
    assert release["status"] == "refused" and release["path"] is None
    assert [(g["name"], g["passed"]) for g in release["gates"]] == [
        ("min_site_accuracy", False),
        ("min_sites", True),
    ]
    entries = [json.loads(line) for line in (run / "ledger" / "entries.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in entries]
    assert "release_signed" not in kinds and kinds[-2:] == ["release_refused", "run_finished"]
    assert entries[-2]["gates"] == release["gates"]
    assert "Release gates" in (run / "report.html").read_text()
    assert run_cli(["ledger", "verify", str(run)]) == 0
    assert "refused by its [release] gates (min_site_accuracy)" in capsys.readouterr().out
    assert run_cli(["run", "verify", str(run)]) == 0
    assert run_cli(["ledger", "show", str(run)]) == 0
    assert "REFUSED" in capsys.readouterr().out
    assert run_cli(["release", "verify", str(run / "releases" / "final")]) == 2
    assert "ledger show" in capsys.readouterr().err


def test_met_gates_promote_and_a_pinned_baseline_gates_regression(tmp_path, capsys):
    first = tmp_path / "first"
    gates = "[release]\nmin_site_accuracy = 0.5\nmin_sites = 3\n"
    cfg = tabular_federation(tmp_path / "fed", rounds=2, extra=gates)
    assert run_cli(["simulate", str(cfg), "--out", str(first), "--no-baselines"]) == 0
    assert "release promoted: all 2 [release] gates passed" in capsys.readouterr().out
    summary = json.loads((first / "summary.json").read_text())
    assert summary["release"]["status"] == "promoted" and (first / "releases" / "final").is_dir()
    assert run_cli(["run", "verify", str(first)]) == 0

    baseline = f'max_regression = 0.0\nbaseline = "{first / "releases" / "final"}"\n'
    pinned = f'baseline_key = "{first / "keys" / "coordinator.pub"}"\n'
    cfg2 = tabular_federation(tmp_path / "fed2", rounds=2, extra=gates + baseline + pinned)
    second = tmp_path / "second"
    assert run_cli(["simulate", str(cfg2), "--out", str(second), "--no-baselines"]) == 0
    gate = json.loads((second / "summary.json").read_text())["release"]["gates"][-1]
    assert gate["name"] == "max_regression" and gate["passed"] and gate["value"] == pytest.approx(0.0)

    # without the pinned key the baseline is checked with this run's (fresh) coordinator key: refused
    cfg3 = tabular_federation(tmp_path / "fed3", rounds=2, extra=gates + baseline)
    capsys.readouterr()
    assert run_cli(["simulate", str(cfg3), "--out", str(tmp_path / "third"), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert "[release] 'baseline'" in err and "does not verify" in err
    assert not (tmp_path / "third").exists()
