"""Models: `logistic` (multinomial logistic regression), `mlp` (ReLU hidden layers) for tabular data, and
`doc-cnn`, a small convolutional network for greyscale page thumbnails that trains on a CPU.

No model has buffers or normalization statistics: every tensor is a trainable float32 parameter, so
averaging, clipping and masking apply to the whole state uniformly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedward.core.arrays import Arrays, FloatArray
from fedward.core.messages import JSONValue
from fedward.models.usercode import UserCode, build_user_model

__all__ = [
    "CODE_KEYS",
    "MODEL_NAMES",
    "USER_CODE",
    "ModelSpec",
    "build_model",
    "head_names",
    "load_arrays",
    "model_arrays",
]

MODEL_NAMES = ("logistic", "mlp", "doc-cnn")
USER_CODE = "code"  # the model name of `[model] code`: the user's own build_model(spec)
# a task config's keys for the user's model code (present only with `[model] code`): the file name,
# its source text, the declared SHA-256 of that text (the training-code hash) and the input kind
CODE_KEYS = ("model_code_file", "model_code", "model_code_sha256", "model_code_inputs")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and sizes. `input_dim` is the feature count (tabular) or the image side (doc-cnn)."""

    name: str
    input_dim: int
    num_classes: int
    hidden: tuple[int, ...] = (64,)
    channels: tuple[int, ...] = (16, 32, 64)
    code: UserCode | None = None  # `[model] code`, with name "code"; None for the built-in models

    def __post_init__(self) -> None:
        if (self.name == USER_CODE) != (self.code is not None):
            raise ValueError(f"model {self.name!r}: user code goes with the name {USER_CODE!r}, and only")

    def to_config(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {
            "model": self.name,
            "input_dim": self.input_dim,
            "num_classes": self.num_classes,
            "hidden": list(self.hidden),
            "channels": list(self.channels),
        }
        if self.code is not None:
            c = self.code
            out |= dict(zip(CODE_KEYS, (c.filename, c.source, c.sha256, c.inputs), strict=True))
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> ModelSpec:
        hidden, channels = config["hidden"], config["channels"]
        if not isinstance(hidden, list) or not isinstance(channels, list):
            raise ValueError("model config: 'hidden' and 'channels' must be lists of integers")
        return cls(
            str(config["model"]),
            _int(config["input_dim"]),
            _int(config["num_classes"]),
            tuple(_int(h) for h in hidden),
            tuple(_int(c) for c in channels),
            _code(config),
        )


def _code(config: Mapping[str, JSONValue]) -> UserCode | None:
    """The user's model code from a task config, unverified (`build_user_model` checks its hash)."""
    if not any(key in config for key in CODE_KEYS):
        return None
    values = [config.get(key) for key in CODE_KEYS]
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"model config: {', '.join(CODE_KEYS)} must all be strings")
    filename, source, sha256, inputs = (str(v) for v in values)
    if inputs not in ("features", "image"):
        raise ValueError(f"model config: 'model_code_inputs' must be features or image, not {inputs!r}")
    return UserCode(filename, source, sha256, "features" if inputs == "features" else "image")


def _int(value: JSONValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


class DocCNN(nn.Module):
    """Conv-ReLU-MaxPool blocks, then a small classifier head on the flattened layout map.

    The flattened map keeps coarse spatial layout (where the letterhead, tables and signature sit), which is
    what separates document classes at thumbnail resolution.
    """

    def __init__(self, image_size: int, num_classes: int, channels: tuple[int, ...], hidden: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, side = 1, image_size
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, side = c_out, side // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out


def build_model(spec: ModelSpec, *, seed: int) -> nn.Module:
    """Build the architecture with its initial weights drawn from `seed` (global RNG state untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.code is not None:
            return build_user_model(spec.code, spec.input_dim, spec.num_classes)
        if spec.name == "logistic":
            return nn.Linear(spec.input_dim, spec.num_classes)
        if spec.name == "mlp":
            layers: list[nn.Module] = []
            width = spec.input_dim
            for h in spec.hidden:
                layers += [nn.Linear(width, h), nn.ReLU()]
                width = h
            return nn.Sequential(*layers, nn.Linear(width, spec.num_classes))
        if spec.name == "doc-cnn":
            side = spec.input_dim // 2 ** len(spec.channels)
            if side < 1:
                raise ValueError(
                    f"doc-cnn: image size {spec.input_dim} too small for {len(spec.channels)} blocks"
                )
            return DocCNN(
                spec.input_dim, spec.num_classes, spec.channels, spec.hidden[0] if spec.hidden else 128
            )
    raise ValueError(f"unknown model {spec.name!r}; choose one of {', '.join(MODEL_NAMES)}")


def head_names(model: nn.Module) -> frozenset[str]:
    """The parameter names of the model's final classification layer: its last `nn.Linear` (the whole
    model for `logistic`). `[model] train = "head"` trains these and freezes every other tensor."""
    last = ""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if not last and not isinstance(model, nn.Linear):
        raise ValueError("the model has no final linear layer to train alone")
    return frozenset(name for name, _ in model.named_parameters() if name.rpartition(".")[0] == last)


def model_arrays(model: nn.Module, *, copy: bool = True) -> Arrays:
    """The model's parameters as named float32 numpy arrays: copies, or (copy=False) views that share
    memory with the parameters and change when the model trains."""
    out: Arrays = {}
    for name, p in model.named_parameters():
        view: FloatArray = p.detach().cpu().numpy()
        out[name] = view.astype(np.float32, copy=True) if copy else view
    return out


def load_arrays(model: nn.Module, arrays: Mapping[str, FloatArray]) -> None:
    """Copy `arrays` into the model's parameters in place; names and shapes must match exactly."""
    params = dict(model.named_parameters())
    if params.keys() != arrays.keys():
        raise ValueError(f"parameter names differ from the model: {sorted(set(params) ^ set(arrays))}")
    for name, p in params.items():
        a = arrays[name]
        if tuple(a.shape) != tuple(p.shape):
            raise ValueError(f"tensor {name!r}: shape {a.shape} != model {tuple(p.shape)}")
        if p.device.type != "cpu" or p.dtype != torch.float32:
            raise ValueError(f"tensor {name!r}: fedward models are float32 on the CPU")
        p.detach().numpy()[...] = a  # writes into the parameter's storage: no temporary tensor
