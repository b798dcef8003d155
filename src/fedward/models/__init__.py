"""The model zoo behind one small interface: a `ModelSpec` names an architecture and its sizes,
`build_model` makes it (a built-in, or the user's own code: `usercode`), `initial_arrays` gives a
run's first global model (from the seed or an `init` file), and parameters cross into and out of torch
as named float32 arrays."""

from fedward.models.initial import InitModel, initial_arrays, read_init_model
from fedward.models.usercode import CodeMismatch, UserCode, UserModelSpec, code_sha256, read_user_code
from fedward.models.zoo import (
    MODEL_NAMES,
    USER_CODE,
    ModelSpec,
    build_model,
    head_names,
    load_arrays,
    model_arrays,
)

__all__ = [
    "MODEL_NAMES",
    "USER_CODE",
    "CodeMismatch",
    "InitModel",
    "ModelSpec",
    "UserCode",
    "UserModelSpec",
    "build_model",
    "code_sha256",
    "head_names",
    "initial_arrays",
    "load_arrays",
    "model_arrays",
    "read_init_model",
    "read_user_code",
]
