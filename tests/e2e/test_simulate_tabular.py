"""`fedward simulate` end to end on small tabular data: the run directory contract, determinism, and
every bad input failing with exit code 2, a message naming the file and key, and nothing written."""

import json
from pathlib import Path

import numpy as np
import pytest
from federations import run_cli, tabular_federation
from safetensors.numpy import load_file

_federation = tabular_federation
_run = run_cli


def test_run_directory_contract(tmp_path):
    cfg = _federation(tmp_path)
    out = tmp_path / "run"
    assert _run(["simulate", str(cfg), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds_completed"] == 3
    for section in ("federated", "centralized", "local_only"):
        sites = summary["metrics"][section]["sites"]
        assert set(sites) == {"site_00", "site_01", "site_02"}
        assert all(0 <= s["accuracy"] <= 1 and "macro_f1" in s for s in sites.values())
        assert 0 <= summary["metrics"][section]["pooled"]["accuracy"] <= 1
    assert summary["metrics"]["federated"]["pooled"]["accuracy"] > 0.85
    assert len(summary["metrics"]["cross_site"]["accuracy"]) == 3
    for key in ("seconds_total", "seconds_per_round", "train_seconds"):
        assert summary["timing"][key] > 0
    model = load_file(str(out / "model" / "global.safetensors"))
    assert set(model) == {"weight", "bias"} and model["weight"].shape == (2, 30)
    import hashlib

    assert (
        summary["model"]["sha256"]
        == hashlib.sha256((out / "model/global.safetensors").read_bytes()).hexdigest()
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [1, 2, 3]
    assert set(rows[-1]["sites"]) == {"site_00", "site_01", "site_02"}
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "site_01" in html


def test_same_seed_same_model_bytes(tmp_path):
    cfg = _federation(tmp_path, model="mlp")
    for name in ("a", "b"):
        assert _run(["simulate", str(cfg), "--out", str(tmp_path / name), "--no-baselines"]) == 0
    a = (tmp_path / "a/model/global.safetensors").read_bytes()
    assert a == (tmp_path / "b/model/global.safetensors").read_bytes()
    summary = json.loads((tmp_path / "a/summary.json").read_text())
    assert "centralized" not in summary["metrics"]


def test_every_strategy_runs(tmp_path):
    for name in ("fedprox", "fedadam", "fedyogi", "fedadagrad"):
        cfg = _federation(tmp_path / name if (tmp_path / name).mkdir() is None else tmp_path)
        text = cfg.read_text().replace('name = "fedavg"', f'name = "{name}"\nserver_lr = 0.1')
        cfg.write_text(text)
        out = tmp_path / name / "run"
        assert _run(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["strategy"]["name"] == name
        assert np.isfinite(summary["metrics"]["federated"]["pooled"]["accuracy"])


def _break(cfg: Path, how: str) -> str:
    """Apply one kind of bad input; return the text the error message must contain."""
    if how == "unknown_key":
        cfg.write_text(cfg.read_text().replace("lr = 0.05", "lr = 0.05\nlearning_rate = 1"))
        return "learning_rate"
    if how == "missing_file":
        (cfg.parent / "site_01_test.csv").unlink()
        return "site_01_test.csv"
    if how == "wrong_label":
        cfg.write_text(cfg.read_text().replace('label = "target"', 'label = "diagnosis"'))
        return "diagnosis"
    if how == "non_numeric":
        p = cfg.parent / "site_02_train.csv"
        lines = p.read_text().splitlines()
        lines[3] = "high," + lines[3].split(",", 1)[1]
        p.write_text("\n".join(lines) + "\n")
        return "not numeric"
    if how == "empty_site":
        p = cfg.parent / "site_00_train.csv"
        p.write_text(p.read_text().splitlines()[0] + "\n")
        return "site_00_train.csv"
    if how == "few_test_rows":
        p = cfg.parent / "site_01_test.csv"
        p.write_text("\n".join(p.read_text().splitlines()[:2]) + "\n")
        return "fewer than the 2 classes"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["unknown_key", "missing_file", "wrong_label", "non_numeric", "empty_site", "few_test_rows"]
)
def test_bad_input_exits_2_names_the_problem_and_writes_nothing(tmp_path, capsys, how):
    cfg = _federation(tmp_path)
    needle = _break(cfg, how)
    out = tmp_path / "run"
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _run(["simulate", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_existing_run_directory_is_not_overwritten_without_force(tmp_path, capsys):
    cfg = _federation(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert _run(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 2
    assert (out / "keep.txt").read_text() == "precious"
    assert _run(["simulate", str(cfg), "--out", str(out), "--no-baselines", "--force"]) == 0
    assert not (out / "keep.txt").exists() and (out / "summary.json").exists()
