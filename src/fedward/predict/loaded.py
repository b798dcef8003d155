"""A release opened for inference: its signature verified first (fedward.release.verify_release), then
its inference.json parsed and, for documents, the preprocessing spec's hash recomputed and compared with
the one the release states. Every refusal is a `ReleaseError` naming the file (exit 2 in the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fedward.core.arrays import Arrays, arrays_from_bytes
from fedward.documents.pipeline import PipelineSpec
from fedward.errors import UserError
from fedward.release import INFERENCE_FILE, MODEL_FILE, ONNX_FILE, ReleaseError, ReleaseRecord, verify_release
from fedward.release.inference import InferenceSpec

__all__ = ["InferenceRelease", "load_release"]


@dataclass(frozen=True)
class InferenceRelease:
    """A verified release: its record, what inference needs, the parameters and the ONNX file's path."""

    path: Path
    record: ReleaseRecord
    spec: InferenceSpec
    arrays: Arrays
    pipeline: PipelineSpec | None  # documents only

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_FILE


def load_release(path: Path, public_key: bytes | None = None) -> InferenceRelease:
    """Verify release folder `path` (pinned to `public_key` when given), then read what inference needs."""
    record = verify_release(path, public_key)  # first: nothing of the release is used before this
    if record.inference_sha256 is None:
        raise ReleaseError(
            f"the release carries no {INFERENCE_FILE}: it was written before fedward releases carried "
            "what inference needs",
            where=path / INFERENCE_FILE,
            hint="rerun the federation with this version of fedward to get a usable release",
        )
    where = path / INFERENCE_FILE
    try:
        spec = InferenceSpec.from_bytes(where.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise ReleaseError(f"{INFERENCE_FILE} is malformed: {exc}", where=where) from None
    pipeline = _pipeline(where, spec) if spec.task == "documents" else None
    arrays = arrays_from_bytes((path / MODEL_FILE).read_bytes())
    return InferenceRelease(path, record, spec, arrays, pipeline)


def _pipeline(where: Path, spec: InferenceSpec) -> PipelineSpec:
    """The carried preprocessing spec, refused unless its recomputed hash is the one the release states."""
    if spec.preprocessing is None or spec.preprocessing_sha256 is None:
        raise ReleaseError("the documents release carries no preprocessing spec", where=where)
    try:
        pipeline = PipelineSpec.from_dict(dict(spec.preprocessing))
    except UserError as exc:
        raise ReleaseError(f"the preprocessing spec cannot be used: {exc}", where=where) from None
    actual = pipeline.sha256()
    if actual != spec.preprocessing_sha256:
        raise ReleaseError(
            f"preprocessing hash mismatch: the carried spec hashes to {actual}, the release states "
            f"{spec.preprocessing_sha256}",
            where=where,
            hint="the pages would not be preprocessed as the model was trained; do not use this release",
        )
    return pipeline
