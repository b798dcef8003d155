"""What a release carries for inference: inference.json and model.onnx, covered by the signed record, and
an ONNX export whose outputs match PyTorch's (onnxruntime) for every built-in model.

Each tampering test has its power check: with the inference-file check switched off, the same change is
accepted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from release_harness import KEY, model_bytes, publish, resign

from fedward.core.arrays import arrays_from_bytes
from fedward.documents.pipeline import PipelineSpec
from fedward.models import MODEL_NAMES, ModelSpec, build_model, model_arrays
from fedward.release import INFERENCE_FILE, ONNX_FILE, RECORD_FILE, ReleaseError, verify_release
from fedward.release import verify as verify_module
from fedward.release.inference import ONNX_INPUT, ONNX_OUTPUT, InferenceSpec, input_shape
from fedward.release.onnx_export import export_onnx
from fedward.release.record import ReleaseRecord
from fedward.tabular.datasets import load_dataset

LOGISTIC = ModelSpec("logistic", 4, 3)


def _spec() -> InferenceSpec:
    return InferenceSpec(
        task="tabular",
        classes=("a", "b", "c"),
        model=LOGISTIC.to_config(),
        features=("w", "x", "y", "z"),
        mean=(0.5, 1.0, -2.0, 0.0),
        scale=(1.0, 2.0, 0.25, 3.0),
    )


def _inference_release(tmp_path: Path) -> Path:
    model = model_bytes()
    files = (_spec().to_bytes(), export_onnx(LOGISTIC, arrays_from_bytes(model)))
    return publish(tmp_path / "releases", model=model, inference=files)


def test_the_inference_files_are_signed_with_the_release(tmp_path):
    folder = _inference_release(tmp_path)
    record = verify_release(folder, KEY.public)
    assert record.inference_sha256 == hashlib.sha256((folder / INFERENCE_FILE).read_bytes()).hexdigest()
    assert record.onnx_sha256 == hashlib.sha256((folder / ONNX_FILE).read_bytes()).hexdigest()
    assert InferenceSpec.from_bytes((folder / INFERENCE_FILE).read_bytes()) == _spec()


@pytest.mark.parametrize("name", [INFERENCE_FILE, ONNX_FILE])
def test_a_changed_inference_file_is_refused(tmp_path, monkeypatch, name):
    folder = _inference_release(tmp_path)
    path = folder / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ReleaseError, match="mismatch") as info:
        verify_release(folder, KEY.public)
    assert info.value.where == str(path)
    monkeypatch.setattr(verify_module, "_check_inference_files", lambda *args: None)
    verify_release(folder, KEY.public)  # power check: without the check the change gets through


def test_an_unsigned_inference_file_added_to_a_release_is_refused(tmp_path, monkeypatch):
    folder = publish(tmp_path / "releases")
    verify_release(folder, KEY.public)  # a release without inference files verifies as before
    (folder / INFERENCE_FILE).write_bytes(_spec().to_bytes())
    with pytest.raises(ReleaseError, match="not covered by the signature"):
        verify_release(folder, KEY.public)
    monkeypatch.setattr(verify_module, "_check_inference_files", lambda *args: None)
    verify_release(folder, KEY.public)  # power check


def test_a_record_with_one_inference_hash_only_is_malformed(tmp_path):
    folder = _inference_release(tmp_path)
    resign(folder, KEY, lambda record: record.pop("onnx_sha256"))
    with pytest.raises(ReleaseError, match="come together") as info:
        verify_release(folder, KEY.public)
    assert info.value.where == str(folder / RECORD_FILE)


def test_an_inference_hash_is_left_out_never_null():
    with pytest.raises(ValueError, match="never null"):
        ReleaseRecord.from_bytes(
            b'{"accepted_packages":[],"coordinator_key_id":"' + b"ab" * 8 + b'","inference_sha256":null,'
            b'"ledger_checkpoint":null,"model_sha256":"' + b"cd" * 32 + b'","parent":null,"privacy":{},'
            b'"round":1,"run_id":"r","site_metrics":{},"version":"final"}'
        )


def test_the_inference_spec_is_parsed_strictly():
    good = _spec().to_bytes()
    assert InferenceSpec.from_bytes(good) == _spec()
    with pytest.raises(ValueError, match="one per feature"):
        InferenceSpec.from_bytes(good.replace(b'"mean":[0.5,', b'"mean":['))
    with pytest.raises(ValueError, match="> 0"):
        InferenceSpec.from_bytes(good.replace(b'"scale":[1.0,', b'"scale":[0.0,'))
    with pytest.raises(ValueError, match="num_classes"):
        InferenceSpec(task="tabular", classes=("a", "b"), model=LOGISTIC.to_config(), features=("w",))
    pipeline = PipelineSpec()
    docs = InferenceSpec(
        task="documents",
        classes=("a", "b", "c"),
        model=ModelSpec("doc-cnn", 64, 3).to_config(),
        preprocessing=pipeline.to_dict(),
        preprocessing_sha256=pipeline.sha256(),
    )
    assert InferenceSpec.from_bytes(docs.to_bytes()) == docs


def _real_inputs(name: str) -> tuple[ModelSpec, np.ndarray]:
    """Real rows of the breast-cancer set, standardized, for the tabular models; page-like ink maps (a
    dark frame and text lines on paper) for doc-cnn."""
    if name == "doc-cnn":
        pages = np.zeros((6, 1, 32, 32), np.float32)
        for i, page in enumerate(pages):
            page[0, 2 + i : 30, 3] = 1.0
            page[0, 4 : 6 + i, 5:28] = 0.8
            page[0, 12 + i, 6:24] = 0.6
        return ModelSpec(name, 32, 5, (32,), (8, 16)), pages
    x, _y, features = load_dataset("breast-cancer")
    rows = np.asarray(x[:64], np.float32)
    rows = (rows - rows.mean(axis=0)) / (rows.std(axis=0) + 1e-6)
    return ModelSpec(name, len(features), 2, (16,)), rows.astype(np.float32)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_onnx_outputs_match_pytorch_for_every_builtin_model(name):
    spec, x = _real_inputs(name)
    assert x.shape[1:] == input_shape(spec.to_config())[1:]
    model = build_model(spec, seed=3)
    onnx_bytes = export_onnx(spec, model_arrays(model))
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run([ONNX_OUTPUT], {ONNX_INPUT: x})[0]
    model.train(False)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (len(x), spec.num_classes)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert np.ptp(want) > 1e-3  # the inputs are not all alike: the comparison means something
