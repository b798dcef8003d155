"""Class probabilities from a verified release: PyTorch (the default, the model rebuilt from its
architecture and parameters, as the sites evaluate it) or ONNX Runtime on the release's `model.onnx`.
Both give the logits; the probabilities are their softmax in float64."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fedward.predict.loaded import InferenceRelease
from fedward.release.inference import ONNX_INPUT, ONNX_OUTPUT

__all__ = ["ENGINES", "logits", "score"]

ENGINES = ("torch", "onnx")
_BATCH = 512


def logits(
    release: InferenceRelease, x: npt.NDArray[np.float32], engine: str = "torch"
) -> npt.NDArray[np.float32]:
    """The model's logits [n, classes] for inputs `x` (already preprocessed), by `engine`."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if len(x) == 0:
        return np.zeros((0, len(release.spec.classes)), np.float32)
    if engine == "onnx":
        return _onnx_logits(release, x)
    return _torch_logits(release, x)


def score(
    release: InferenceRelease, x: npt.NDArray[np.float32], engine: str = "torch"
) -> npt.NDArray[np.float64]:
    """Softmax class probabilities, float64 [n, classes]."""
    z = logits(release, x, engine).astype(np.float64)
    z -= z.max(axis=1, keepdims=True) if len(z) else 0.0
    e = np.exp(z)
    probs: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return probs


def _torch_logits(release: InferenceRelease, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import torch

    from fedward.models import ModelSpec, build_model, load_arrays

    model = build_model(ModelSpec.from_config(release.spec.model), seed=0)
    load_arrays(model, release.arrays)
    model.train(False)
    out = []
    with torch.no_grad():
        for start in range(0, len(x), _BATCH):
            out.append(model(torch.from_numpy(np.ascontiguousarray(x[start : start + _BATCH]))).numpy())
    return np.concatenate(out).astype(np.float32, copy=False)


def _onnx_logits(release: InferenceRelease, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(
        str(release.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    out = [
        session.run([ONNX_OUTPUT], {ONNX_INPUT: np.ascontiguousarray(x[start : start + _BATCH])})[0]
        for start in range(0, len(x), _BATCH)
    ]
    return np.concatenate(out).astype(np.float32, copy=False)
