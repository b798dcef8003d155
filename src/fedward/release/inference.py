"""What inference needs outside fedward, carried in a release as `inference.json` (canonical JSON).

- `task`: "tabular" or "documents";
- `classes`: the class names in the model's output order (index i of the logits is `classes[i]`);
- `model`: the architecture (`fedward.models.ModelSpec.to_config()`), enough to rebuild it in PyTorch;
- `onnx`: the file, input and output names of the ONNX export (`model.onnx`); its output is the logits,
  softmax gives the class probabilities;
- `tabular` (tables only): the feature columns in the order the model reads them, and the federation's
  standardization, `x' = (x - mean) / scale` per feature; under `[data] missing = "impute"` also
  `impute`, each raw feature's imputation value (an empty cell, or a column the CSV lacks, takes it),
  and the inputs named `<feature>__missing` are 1 where that feature was missing, else 0;
- `documents` (documents only): the page preprocessing spec (`fedward.documents.PipelineSpec.to_dict()`)
  and its SHA-256 (`preprocessing_sha256`, the hash the sites' update manifests name). A reader
  recomputes the hash from the spec and refuses the release when they differ.

The release record signs this file's SHA-256 (`inference_sha256`); `from_bytes` parses it strictly and
raises ValueError naming the field on anything else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fedward.core.canonical import canonical_bytes, parse_canonical
from fedward.tabular.impute import MISSING_SUFFIX

__all__ = [
    "INFERENCE_VERSION",
    "ONNX_INPUT",
    "ONNX_OUTPUT",
    "InferenceSpec",
    "input_shape",
]

INFERENCE_VERSION = 1
ONNX_INPUT = "input"
ONNX_OUTPUT = "logits"
TASKS = ("tabular", "documents")
_MAX_BYTES = 16 << 20
_TOP = {"version", "task", "classes", "model", "onnx", "tabular", "documents"}


@dataclass(frozen=True)
class InferenceSpec:
    """The parsed inference.json. For tables `features`, `mean` and `scale` have one entry per feature;
    for documents `preprocessing` is the pipeline spec dict and `preprocessing_sha256` its stated hash."""

    task: str
    classes: tuple[str, ...]
    model: Mapping[str, Any]
    features: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    impute: Mapping[str, float] | None = None  # tables under imputation: each raw feature's value
    preprocessing: Mapping[str, Any] | None = None
    preprocessing_sha256: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        tabular = None
        documents = None
        if self.task == "tabular":
            tabular = {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale)}
            if self.impute is not None:  # absent without imputation: older releases read the same
                tabular["impute"] = dict(self.impute)
        else:
            documents = {
                "preprocessing": None if self.preprocessing is None else dict(self.preprocessing),
                "preprocessing_sha256": self.preprocessing_sha256,
            }
        return {
            "version": INFERENCE_VERSION,
            "task": self.task,
            "classes": list(self.classes),
            "model": dict(self.model),
            "onnx": {"file": "model.onnx", "input": ONNX_INPUT, "output": ONNX_OUTPUT},
            "tabular": tabular,
            "documents": documents,
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict()) + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> InferenceSpec:
        value = parse_canonical(data.rstrip(b"\n"), max_bytes=_MAX_BYTES)
        if not isinstance(value, dict) or set(value) != _TOP:
            got = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ValueError(f"inference.json must hold exactly {sorted(_TOP)}, not {got}")
        if value["version"] != INFERENCE_VERSION:
            raise ValueError(f"inference.json version {value['version']!r} is not {INFERENCE_VERSION}")
        onnx = value["onnx"]
        if onnx != {"file": "model.onnx", "input": ONNX_INPUT, "output": ONNX_OUTPUT}:
            raise ValueError(f"'onnx' must name model.onnx, {ONNX_INPUT!r} and {ONNX_OUTPUT!r}")
        if not isinstance(value["classes"], list) or not isinstance(value["model"], dict):
            raise ValueError("'classes' must be a list and 'model' an object")
        kwargs: dict[str, Any] = {
            "task": value["task"],
            "classes": tuple(value["classes"]),
            "model": value["model"],
        }
        tabular, documents = value["tabular"], value["documents"]
        if value["task"] == "tabular":
            keys = {"features", "mean", "scale"}
            if not isinstance(tabular, dict) or set(tabular) not in (keys, keys | {"impute"}):
                raise ValueError("'tabular' must be {features, mean, scale[, impute]} for a tabular release")
            if "impute" in tabular:
                if not isinstance(tabular["impute"], dict):
                    raise ValueError("'tabular.impute' must be an object")
                kwargs["impute"] = tabular["impute"]
            if documents is not None:
                raise ValueError("'documents' must be null for a tabular release")
            for key in ("features", "mean", "scale"):
                if not isinstance(tabular[key], list):
                    raise ValueError(f"'tabular.{key}' must be a list")
                kwargs[key] = tuple(tabular[key])
        else:
            if tabular is not None:
                raise ValueError("'tabular' must be null for a documents release")
            if not isinstance(documents, dict) or set(documents) != {"preprocessing", "preprocessing_sha256"}:
                raise ValueError("'documents' must be {preprocessing, preprocessing_sha256}")
            kwargs["preprocessing"] = documents["preprocessing"]
            kwargs["preprocessing_sha256"] = documents["preprocessing_sha256"]
        return cls(**kwargs)


def input_shape(model: Mapping[str, Any], batch: int = 1) -> tuple[int, ...]:
    """The model's input shape for `batch` rows: [batch, features], or [batch, 1, side, side] for doc-cnn."""
    side = int(model["input_dim"])
    return (batch, 1, side, side) if model["model"] == "doc-cnn" else (batch, side)


def _validate(spec: InferenceSpec) -> None:
    if spec.task not in TASKS:
        raise ValueError(f"'task' must be one of {TASKS}, not {spec.task!r}")
    _strings(spec.classes, "classes")
    if len(spec.classes) < 2 or len(set(spec.classes)) != len(spec.classes):
        raise ValueError("'classes' must name at least 2 distinct classes")
    if spec.model.get("num_classes") != len(spec.classes):
        raise ValueError(f"'model.num_classes' must be {len(spec.classes)}, the number of classes")
    if spec.task == "tabular":
        _strings(spec.features, "tabular.features")
        n = len(spec.features)
        if n == 0 or len(set(spec.features)) != n or spec.model.get("input_dim") != n:
            raise ValueError("'tabular.features' must be distinct names, one per model input")
        _numbers(spec.mean, n, "tabular.mean", positive=False)
        _numbers(spec.scale, n, "tabular.scale", positive=True)
        if spec.impute is not None:
            _check_impute(spec.features, spec.impute)
    else:
        if spec.features or spec.mean or spec.scale:
            raise ValueError("a documents release has no features or standardization")
        if spec.preprocessing is not None and not isinstance(spec.preprocessing, Mapping):
            raise ValueError("'documents.preprocessing' must be an object")
        sha = spec.preprocessing_sha256
        if (sha is None) != (spec.preprocessing is None):
            raise ValueError("'documents.preprocessing' and its sha256 come together")
        if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
            raise ValueError("'documents.preprocessing_sha256' must be 64 lowercase hex digits")


def _check_impute(features: Sequence[str], impute: Mapping[str, Any]) -> None:
    """Every imputed name is a feature, every feature is imputed or an imputed feature's indicator."""
    raw = [f for f in features if not (f.endswith(MISSING_SUFFIX) and f[: -len(MISSING_SUFFIX)] in impute)]
    if sorted(impute) != sorted(raw):
        raise ValueError("'tabular.impute' must give one value per feature that is not an indicator")
    _numbers(list(impute.values()), len(raw), "tabular.impute", positive=False)


def _strings(values: Sequence[Any], name: str) -> None:
    if not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"'{name}' must be non-empty strings")


def _numbers(values: Sequence[Any], n: int, name: str, *, positive: bool) -> None:
    if len(values) != n:
        raise ValueError(f"'{name}' must have {n} entries, one per feature")
    for v in values:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (positive and v <= 0):
            raise ValueError(f"'{name}' entries must be finite numbers{' > 0' if positive else ''}: {v!r}")
