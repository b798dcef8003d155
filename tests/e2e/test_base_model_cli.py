"""`fedward simulate` with `[model] init` and `[model] train = "head"`: a file that does not fit the
configured model is a user error (exit 2, naming the file and the first tensor, expected against found,
nothing written); a file that fits starts the federation and both baselines, which train the same part
from the same initial model, and the summary names the file's hash.
Power check: the same federation with the fitting file runs."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from federations import run_cli, tabular_federation

import fedward.simulation.baselines as baselines
from fedward.core.arrays import arrays_to_bytes
from fedward.models import ModelSpec, build_model, model_arrays

FITS = ModelSpec("mlp", 30, 2, (64,), ())  # breast cancer: 30 features, 2 classes


def _federation(tmp: Path, spec: ModelSpec) -> tuple[Path, Path]:
    base = tmp / "fed" / "base.safetensors"
    cfg = tabular_federation(tmp / "fed", rounds=2, model="mlp")
    base.write_bytes(arrays_to_bytes(model_arrays(build_model(spec, seed=5))))
    text = cfg.read_text().replace(
        'name = "mlp"\n', 'name = "mlp"\ninit = "base.safetensors"\ntrain = "head"\n'
    )
    cfg.write_text(text)
    return cfg, base


def test_a_file_of_another_shape_is_a_user_error_naming_the_file_and_tensor(tmp_path, capsys):
    cfg, base = _federation(tmp_path, ModelSpec("mlp", 30, 3, (64,), ()))
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(base) in err and "tensor '2.weight': expected shape [2, 64], found [3, 64]" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("content", "why"), [(b"garbage!" * 4, "not a valid safetensors file"), (None, "cannot be read")]
)
def test_a_file_that_is_not_safetensors_or_not_there_is_a_user_error(tmp_path, capsys, content, why):
    cfg, base = _federation(tmp_path, FITS)
    if content is None:
        base.unlink()
    else:
        base.write_bytes(content)
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(base) in err and why in err
    assert not (tmp_path / "run").exists()


def test_a_fitting_file_starts_the_federation_and_the_baselines(tmp_path, monkeypatch):
    cfg, base = _federation(tmp_path, FITS)
    start = model_arrays(build_model(FITS, seed=5))
    trained = []

    def spy(model, x, y, settings):
        before = model_arrays(model)
        assert all(np.array_equal(before[k], start[k]) for k in start)  # from the same initial model
        loss = real(model, x, y, settings)
        after = model_arrays(model)
        trained.append({k for k in start if not np.array_equal(before[k], after[k])})
        return loss

    real = baselines.train
    monkeypatch.setattr(baselines, "train", spy)
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run")]) == 0
    assert trained == [{"2.weight", "2.bias"}] * 4  # centralized and 3 local-only: the head alone
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"]["init_model_sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert summary["model"]["train"] == "head"
    for section in ("federated", "centralized", "local_only"):
        assert summary["metrics"][section]["mean_site_accuracy"] > 0.5
