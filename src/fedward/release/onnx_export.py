"""The ONNX export of a released model (`model.onnx`), from its architecture and parameters.

TorchScript-based `torch.onnx.export` (`dynamo=False`): the built-in models are plain feed-forward
networks, which it exports without the `onnxscript` dependency of the dynamo exporter. The batch axis is
dynamic; the output is the logits (`fedward.release.inference.ONNX_OUTPUT`). Imports torch: kept out of
`fedward.release`'s package namespace so `fedward release verify` starts fast.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping

import torch

from fedward.core.arrays import FloatArray
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.release.inference import ONNX_INPUT, ONNX_OUTPUT, input_shape

__all__ = ["ONNX_OPSET", "export_onnx"]

ONNX_OPSET = 17


def export_onnx(spec: ModelSpec, arrays: Mapping[str, FloatArray]) -> bytes:
    """The model `spec` with parameters `arrays`, as ONNX bytes (inputs float32, dynamic batch)."""
    model = build_model(spec, seed=0)
    load_arrays(model, arrays)
    model.train(False)
    example = torch.zeros(input_shape(spec.to_config()), dtype=torch.float32)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (example,),
            out,  # type: ignore[arg-type]  # a file-like object is accepted (and documented)
            dynamo=False,
            input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}},
            opset_version=ONNX_OPSET,
        )
    return out.getvalue()
