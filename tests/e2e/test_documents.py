"""The document use case end to end through the CLI: synthesize hospitals, preprocess, federate, report."""

import json

from fedward.cli.app import main


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_demo_writes_data_and_a_complete_run(tmp_path, capsys):
    out = tmp_path / "demo"
    # 24 pages a hospital is near the least that gives each test split a page of every class (8)
    assert (
        _run(["demo", "--out", str(out), "--sites", "3", "--pages", "24", "--rounds", "2", "--workers", "1"])
        == 0
    )
    printed = capsys.readouterr()
    assert "report.html" in printed.out + printed.err
    cfg = out / "data" / "federation.toml"
    assert cfg.is_file()
    hospitals = sorted(p.name for p in (out / "data").iterdir() if p.is_dir())
    assert len(hospitals) == 3
    for h in hospitals:
        assert (out / "data" / h / "train" / "labels.csv").read_text().startswith("file,label")
    summary = json.loads((out / "run" / "summary.json").read_text())
    assert summary["task"] == "documents" and summary["rounds_completed"] == 2
    assert set(summary["metrics"]["federated"]["sites"]) == set(hospitals)
    assert set(summary["metrics"]["local_only"]["sites"]) == set(hospitals)
    assert len(summary["classes"]) >= 8
    assert (out / "run" / "model" / "global.safetensors").stat().st_size > 10_000
    assert "data:image/png;base64," in (out / "run" / "report.html").read_text()

    # a second demo into the same folder needs --force, and --force replaces it
    # (the replacement is smaller, 2 hospitals and 1 round: the test is that it replaces, not its size)
    again = ["demo", "--out", str(out), "--sites", "2", "--pages", "24", "--rounds", "1", "--workers", "1"]
    assert _run(again) == 2
    assert _run([*again, "--force"]) == 0
    replaced = json.loads((out / "run" / "summary.json").read_text())
    assert replaced["rounds_completed"] == 1 and len(replaced["sites"]) == 2
    assert len([p for p in (out / "data").iterdir() if p.is_dir()]) == 2  # the third hospital's data went


def test_synth_docs_is_deterministic_and_simulate_runs_on_it(tmp_path):
    for name in ("a", "b"):
        argv = [
            "synth",
            "docs",
            "--out",
            str(tmp_path / name),
            "--sites",
            "2",
            "--pages",
            "40",
            "--seed",
            "5",
        ]
        assert _run(argv) == 0
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert a == b
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in a)
    cfg = tmp_path / "a" / "federation.toml"
    cfg.write_text(cfg.read_text().replace("rounds = 20", "rounds = 1"))
    assert _run(["simulate", str(cfg), "--out", str(tmp_path / "run"), "--no-baselines"]) == 0


def test_a_page_missing_from_a_site_is_a_clear_error(tmp_path, capsys):
    assert _run(["synth", "docs", "--out", str(tmp_path / "d"), "--sites", "2", "--pages", "40"]) == 0
    site = next(p for p in (tmp_path / "d").iterdir() if p.is_dir())
    victim = sorted((site / "train" / "pages").iterdir())[0]
    victim.unlink()
    assert _run(["simulate", str(tmp_path / "d" / "federation.toml"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert victim.name in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
