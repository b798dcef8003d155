"""`fedward predict` on the releases of tiny simulated runs (a table and a documents federation): the
same classes as the run's own evaluation of the released model, ONNX Runtime agreeing with PyTorch, the
review flag, and the refusals (exit 2 naming the file) with their power checks: the same command on the
untampered release succeeds, and with the defence switched off the tampered release gets through."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from federations import run_cli, tabular_federation

from fedward.config import load_config
from fedward.core.arrays import arrays_from_bytes
from fedward.crypto import SigningKey
from fedward.documents.dataset import load_document_folder
from fedward.documents.pipeline import Pipeline
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.predict import load_release
from fedward.predict import loaded as loaded_module
from fedward.predict.scoring import logits
from fedward.release import INFERENCE_FILE, MODEL_FILE, RECORD_FILE, ReleaseRecord, write_release
from fedward.release.inference import InferenceSpec
from fedward.run.data import load_sites, pipeline_spec
from fedward.site.trainer import predict, predict_scores
from fedward.tabular import combine_stats, feature_sums

pytestmark = pytest.mark.slow


def _simulate(cfg: Path, out: Path) -> Path:
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    return out


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("table")
    cfg = tabular_federation(tmp / "fed", rounds=2, model="mlp")
    return cfg, _simulate(cfg, tmp / "run")


@pytest.fixture(scope="module")
def docs_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("docs")
    argv = ["synth", "docs", "--out", str(tmp / "d"), "--sites", "2", "--pages", "40", "--seed", "5"]
    assert run_cli(argv) == 0
    cfg = tmp / "d" / "federation.toml"
    cfg.write_text(cfg.read_text().replace("rounds = 20", "rounds = 1"))
    return cfg, _simulate(cfg, tmp / "run")


def _predict(release: Path, input: Path, out: Path, *extra: str) -> int:
    argv = ["predict", "--release", str(release), "--input", str(input), "--out", str(out), *extra]
    return run_cli(argv)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _released_model(run: Path) -> torch.nn.Module:
    final = run / "releases" / "final"
    spec = InferenceSpec.from_bytes((final / INFERENCE_FILE).read_bytes())
    model = build_model(ModelSpec.from_config(spec.model), seed=0)
    load_arrays(model, arrays_from_bytes((final / MODEL_FILE).read_bytes()))
    return model


def _summary_accuracy(run: Path, site: str) -> float:
    summary = json.loads((run / "summary.json").read_text())
    return float(summary["metrics"]["federated"]["sites"][site]["accuracy"])


def test_table_predictions_are_the_runs_own_evaluation(table_run, tmp_path):
    cfg_path, run = table_run
    cfg = load_config(cfg_path)
    sites = load_sites(cfg)
    stats = combine_stats(feature_sums(s.data.train_x) for s in sites)  # the set-up's standardization
    classes = json.loads((run / "summary.json").read_text())["classes"]
    model = _released_model(run)
    key = run / "keys" / "coordinator.pub"
    for site, paths in zip(sites, cfg.sites, strict=True):
        out = tmp_path / site.name / "predictions.csv"
        assert _predict(run / "releases" / "final", paths.test, out, "--key", str(key)) == 0
        rows = _rows(out)
        x = (site.data.test_x - stats.mean) / stats.scale
        own = predict(model, torch.from_numpy(x.astype(np.float32)))
        assert [r["class"] for r in rows] == [classes[i] for i in own]
        correct = sum(r["class"] == y for r, y in zip(rows, site.data.test_y, strict=True))
        assert correct / len(rows) == pytest.approx(_summary_accuracy(run, site.name), abs=1e-12)
        onnx = tmp_path / site.name / "onnx.csv"
        assert _predict(run / "releases" / "final", paths.test, onnx, "--engine", "onnx") == 0
        assert [r["class"] for r in _rows(onnx)] == [r["class"] for r in rows]
        for a, b in zip(_rows(onnx), rows, strict=True):
            assert float(a["confidence"]) == pytest.approx(float(b["confidence"]), abs=1e-4)


def test_review_flag_and_queue_follow_the_threshold(table_run, tmp_path):
    cfg_path, run = table_run
    test_csv = load_config(cfg_path).sites[0].test
    out = tmp_path / "p.csv"
    assert _predict(run / "releases" / "final", test_csv, out, "--threshold", "0.999") == 0
    rows = _rows(out)
    assert list(rows[0]) == ["row", "class", "confidence", "review", "reason"]
    under = [r for r in rows if float(r["confidence"]) < 0.999]
    assert under and len(under) < len(rows)  # the threshold splits this set: the check has power
    assert all(r["review"] == ("true" if r in under else "false") for r in rows)
    assert _rows(tmp_path / "review_queue.csv") == under
    assert _predict(run / "releases" / "final", test_csv, out) == 0  # default 0.5: two classes, no review
    assert all(r["review"] == "false" for r in _rows(out)) and _rows(tmp_path / "review_queue.csv") == []


def test_a_missing_feature_column_is_named(table_run, tmp_path, capsys):
    cfg_path, run = table_run
    test_csv = load_config(cfg_path).sites[0].test
    with test_csv.open(newline="") as fh:
        table = list(csv.reader(fh))
    dropped = table[0][3]
    bad = tmp_path / "no-column.csv"
    with bad.open("w", newline="") as fh:
        csv.writer(fh).writerows([row[:3] + row[4:] for row in table])
    capsys.readouterr()
    assert _predict(run / "releases" / "final", bad, tmp_path / "p.csv") == 2
    err = capsys.readouterr().err
    assert str(bad) in err and repr(dropped) in err and "Traceback" not in err
    assert not (tmp_path / "p.csv").exists()


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # a weight's last byte: the file still parses, the model is changed
    path.write_bytes(bytes(data))


def test_a_tampered_release_is_refused(table_run, tmp_path, capsys, monkeypatch):
    cfg_path, run = table_run
    test_csv = load_config(cfg_path).sites[0].test
    release = tmp_path / "final"
    shutil.copytree(run / "releases" / "final", release)
    assert _predict(release, test_csv, tmp_path / "ok.csv") == 0  # power check: untampered, it runs
    _flip_last_byte(release / MODEL_FILE)
    capsys.readouterr()
    assert _predict(release, test_csv, tmp_path / "p.csv") == 2
    err = capsys.readouterr().err
    assert str(release / MODEL_FILE) in err and "model_sha256 mismatch" in err
    assert not (tmp_path / "p.csv").exists()

    # power check: with the verification switched off, the tampered model is used
    def unverified(path: Path, key: bytes | None = None) -> ReleaseRecord:
        return ReleaseRecord.from_bytes((path / RECORD_FILE).read_bytes())

    monkeypatch.setattr(loaded_module, "verify_release", unverified)
    assert _predict(release, test_csv, tmp_path / "p.csv") == 0


def test_a_release_pinned_to_another_key_is_refused(table_run, tmp_path, capsys):
    cfg_path, run = table_run
    other = tmp_path / "other.pub"
    other.write_bytes(run.joinpath("keys", "admin.pub").read_bytes())
    test_csv = load_config(cfg_path).sites[0].test
    capsys.readouterr()
    assert _predict(run / "releases" / "final", test_csv, tmp_path / "p.csv", "--key", str(other)) == 2
    assert "not by the pinned key" in capsys.readouterr().err


def test_document_predictions_are_the_runs_own_evaluation(docs_run, tmp_path):
    cfg_path, run = docs_run
    cfg = load_config(cfg_path)
    classes = json.loads((run / "summary.json").read_text())["classes"]
    model = _released_model(run)
    release = load_release(run / "releases" / "final", None)
    for site in cfg.sites:
        out = tmp_path / site.name / "predictions.csv"
        assert _predict(run / "releases" / "final", site.test, out) == 0
        by_file = {r["file"]: r for r in _rows(out)}
        own = load_document_folder(site.test, Pipeline(pipeline_spec(cfg)))
        expected = [classes[i] for i in predict(model, torch.from_numpy(own.images))]
        assert [by_file[f]["class"] for f in own.files] == expected
        top = predict_scores(model, torch.from_numpy(own.images)).max(axis=1)
        np.testing.assert_allclose([float(by_file[f]["confidence"]) for f in own.files], top, atol=1e-6)
        correct = sum(by_file[f]["class"] == y for f, y in zip(own.files, own.labels, strict=True))
        assert correct / len(own.files) == pytest.approx(_summary_accuracy(run, site.name), abs=1e-12)
        # ONNX Runtime on the release's model.onnx, on these real pages, within 1e-4 of PyTorch
        np.testing.assert_allclose(
            logits(release, own.images, "onnx"), logits(release, own.images, "torch"), rtol=0, atol=1e-4
        )
    one = next(iter(sorted((cfg.sites[0].test / "pages").iterdir())))
    assert _predict(run / "releases" / "final", one, tmp_path / "one.csv") == 0
    assert [r["file"] for r in _rows(tmp_path / "one.csv")] == [one.name]


def _resigned(run: Path, tmp_path: Path, change_hash: bool) -> tuple[Path, SigningKey]:
    """The run's documents release, written again under a new key with its inference.json's stated
    preprocessing hash changed (or not): what a coordinator with a wrong or forged spec would sign."""
    final = run / "releases" / "final"
    spec = InferenceSpec.from_bytes((final / INFERENCE_FILE).read_bytes())
    assert spec.preprocessing_sha256 is not None
    sha = spec.preprocessing_sha256
    wrong = InferenceSpec(
        task=spec.task,
        classes=spec.classes,
        model=spec.model,
        preprocessing=spec.preprocessing,
        preprocessing_sha256=("0" if sha[0] != "0" else "1") + sha[1:] if change_hash else sha,
    )
    key = SigningKey.from_seed(bytes(range(32)))
    record = ReleaseRecord.from_bytes((final / RECORD_FILE).read_bytes())
    path = write_release(
        tmp_path / ("bad" if change_hash else "good"),
        "final",
        (final / MODEL_FILE).read_bytes(),
        run_id=record.run_id,
        round=record.round,
        parent=None,
        accepted_packages=record.accepted_packages,
        site_metrics=record.site_metrics,
        privacy=record.privacy,
        ledger_checkpoint=record.ledger_checkpoint,
        key=key,
        inference=(wrong.to_bytes(), (final / "model.onnx").read_bytes()),
    )
    return path, key


def test_a_preprocessing_hash_mismatch_is_refused(docs_run, tmp_path, capsys, monkeypatch):
    cfg_path, run = docs_run
    page = next(iter(sorted((load_config(cfg_path).sites[0].test / "pages").iterdir())))
    good, _ = _resigned(run, tmp_path, change_hash=False)
    assert _predict(good, page, tmp_path / "ok.csv") == 0  # power check: the matching hash is accepted
    bad, _ = _resigned(run, tmp_path, change_hash=True)
    capsys.readouterr()
    assert _predict(bad, page, tmp_path / "p.csv") == 2
    err = capsys.readouterr().err
    assert str(bad / INFERENCE_FILE) in err and "preprocessing hash mismatch" in err
    assert not (tmp_path / "p.csv").exists()
    # power check: without the hash comparison the mismatched release is used
    monkeypatch.setattr(loaded_module, "_pipeline", lambda where, spec: loaded_module.PipelineSpec())
    assert _predict(bad, page, tmp_path / "p.csv") == 0
