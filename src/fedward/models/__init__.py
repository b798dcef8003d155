"""The model zoo behind one small interface: a `ModelSpec` names an architecture and its sizes,
`build_model` makes it, and parameters cross into and out of torch as named float32 arrays."""

from fedward.models.zoo import MODEL_NAMES, ModelSpec, build_model, load_arrays, model_arrays

__all__ = ["MODEL_NAMES", "ModelSpec", "build_model", "load_arrays", "model_arrays"]
