"""The run's initial model from a `[model] init` file: read with the strict safetensors reader, identified
by the SHA-256 of the file's bytes, and refused (ConfigError naming the file and the first mismatching
tensor, expected against found) unless its names and shapes are exactly the configured architecture's.
Power checks: the same checks accept the file saved from that architecture."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from fedward.core.arrays import arrays_to_bytes
from fedward.errors import ConfigError
from fedward.models import ModelSpec, build_model, head_names, initial_arrays, model_arrays, read_init_model

MLP = ModelSpec("mlp", 4, 3, (8,), ())
CNN = ModelSpec("doc-cnn", 16, 3, (8,), (4, 4))


def _write(path: Path, arrays: dict) -> Path:
    path.write_bytes(arrays_to_bytes(arrays))
    return path


def test_a_file_saved_from_the_architecture_is_the_initial_model(tmp_path):
    saved = model_arrays(build_model(MLP, seed=42))
    path = _write(tmp_path / "base.safetensors", dict(reversed(saved.items())))
    init = read_init_model(path)
    assert init.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and init.path == path
    start = initial_arrays(MLP, 0, init)
    assert list(start) == list(saved)  # the model's order, whatever the file's
    assert all(np.array_equal(start[k], saved[k]) and start[k].flags.writeable for k in saved)


def test_without_a_file_the_model_is_built_from_the_seed():
    built = initial_arrays(MLP, 5, None)
    again = model_arrays(build_model(MLP, seed=5))
    assert all(np.array_equal(built[k], again[k]) for k in again)


def _mismatch(tmp_path: Path, arrays: dict, spec: ModelSpec = MLP) -> str:
    path = _write(tmp_path / "base.safetensors", arrays)
    with pytest.raises(ConfigError) as info:
        initial_arrays(spec, 0, read_init_model(path))
    assert info.value.where == str(path)
    return info.value.render()


def test_a_wrong_shape_is_refused_naming_the_tensor_expected_and_found(tmp_path):
    arrays = model_arrays(build_model(ModelSpec("mlp", 4, 5, (8,), ()), seed=0))  # 5 classes, not 3
    message = _mismatch(tmp_path, arrays)
    assert "tensor '2.weight': expected shape [3, 8], found [5, 8]" in message
    assert "base.safetensors" in message


def test_a_missing_tensor_is_refused_naming_it(tmp_path):
    arrays = model_arrays(build_model(MLP, seed=0))
    del arrays["0.bias"]
    assert "tensor '0.bias': expected shape [8], found no such tensor" in _mismatch(tmp_path, arrays)


def test_an_extra_or_renamed_tensor_is_refused_naming_it(tmp_path):
    arrays = model_arrays(build_model(MLP, seed=0))
    assert "'extra.weight': expected no such tensor, found shape [2]" in _mismatch(
        tmp_path, {**arrays, "extra.weight": np.zeros(2, np.float32)}
    )
    renamed = {("layer." + k if k == "2.bias" else k): v for k, v in arrays.items()}
    assert "tensor '2.bias': expected shape [3], found no such tensor" in _mismatch(tmp_path, renamed)


def test_another_architecture_is_refused(tmp_path):
    arrays = model_arrays(build_model(MLP, seed=0))
    assert "tensor 'features.0.weight'" in _mismatch(tmp_path, arrays, CNN)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter than its 8-byte header"),
        (b"\x80\x04\x95" + bytes(40) + b"}\x94.", "header length out of range"),  # a pickle: never read
        ((10).to_bytes(8, "little") + b"not json!!", "not a valid safetensors file"),
        (st_save({"w": np.zeros(2, np.float64)}), "dtype 'F64', expected F32"),
        (st_save({"w": np.zeros(2, np.float32)}) + b"trailing", "trailing bytes"),
    ],
)
def test_a_file_that_is_not_float32_safetensors_is_refused(tmp_path, data, why):
    path = tmp_path / "base.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="not a valid safetensors file") as info:
        read_init_model(path)
    assert info.value.where == str(path) and why in str(info.value)


def test_a_missing_or_empty_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read") as info:
        read_init_model(tmp_path / "nowhere.safetensors")
    assert info.value.where == str(tmp_path / "nowhere.safetensors")
    empty = tmp_path / "empty.safetensors"
    header = json.dumps({}).encode()
    empty.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(ConfigError, match="holds no tensors"):
        read_init_model(empty)


@pytest.mark.parametrize(
    ("spec", "head"),
    [
        (MLP, {"2.weight", "2.bias"}),
        (CNN, {"head.3.weight", "head.3.bias"}),
        (ModelSpec("logistic", 4, 3, (), ()), {"weight", "bias"}),
    ],
)
def test_the_head_is_the_final_linear_layer(spec, head):
    assert head_names(build_model(spec, seed=0)) == head
