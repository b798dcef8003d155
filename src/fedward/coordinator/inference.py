"""The files a release carries for inference outside fedward: inference.json and model.onnx
(fedward.release.inference, fedward.release.onnx_export), from what the federation's set-up agreed on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedward.coordinator.setup import FederationSetup
from fedward.core.arrays import Arrays, arrays_from_bytes
from fedward.release.inference import InferenceSpec
from fedward.release.onnx_export import export_onnx
from fedward.tabular import impute_values

__all__ = ["inference_files", "inference_spec"]


def inference_spec(setup: FederationSetup, preprocessing: Mapping[str, Any] | None) -> InferenceSpec:
    """Class names, architecture, and the tables' feature order and standardization (from the set-up
    context), or the documents' preprocessing spec and its hash."""
    model = setup.spec.to_config()
    if setup.features:
        stats = arrays_from_bytes(setup.context)
        return InferenceSpec(
            task="tabular",
            classes=tuple(setup.classes),
            model=model,
            features=tuple(setup.features),
            mean=tuple(float(v) for v in stats["feature_mean"]),
            scale=tuple(float(v) for v in stats["feature_scale"]),
            impute={f: v for f, v, _ in impute_values(stats)} or None,
        )
    sha = None
    if preprocessing is not None:
        from fedward.documents.pipeline import PipelineSpec

        sha = PipelineSpec.from_dict(dict(preprocessing)).sha256()
    return InferenceSpec(
        task="documents",
        classes=tuple(setup.classes),
        model=model,
        preprocessing=preprocessing,
        preprocessing_sha256=sha,
    )


def inference_files(
    setup: FederationSetup, preprocessing: Mapping[str, Any] | None, params: Arrays
) -> tuple[bytes, bytes]:
    """The bytes of inference.json and model.onnx for the global model `params`."""
    return inference_spec(setup, preprocessing).to_bytes(), export_onnx(setup.spec, params)
