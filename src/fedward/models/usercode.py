"""The user's own model code: `[model] code = "my_model.py"`, a module with `build_model(spec)` that
returns a `torch.nn.Module` (`spec.n_features` for tables or `spec.image_size` for page images, and
`spec.n_classes`).

The file is read once at the coordinator and travels as source text inside every task's config, with
its SHA-256 (the training-code hash in manifests, the ledger, the release and the summary). Whoever
builds the model from it (the coordinator, the baselines, a site) goes through `build_user_model`, which
checks the source against the declared hash before anything runs, then executes the verified text in a
fresh module namespace (importlib; nothing is written to disk, nothing is fetched, no pickle). A site
first checks the hash against its policy's `training_code` list (`fedward.site.trust`): running this
code is running a program with the site process's rights (docs/threat-model.md).

What `build_model` returns is checked before use: an `nn.Module` of float32 CPU parameters, no buffers
(their statistics would not be federated), whose output on a batch of two is `[2, n_classes]`. A
failure is the user's (`ConfigError`, exit 2), naming the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from fedward.errors import ConfigError

__all__ = [
    "MAX_CODE_BYTES",
    "CodeMismatch",
    "UserCode",
    "UserModelSpec",
    "build_user_model",
    "code_sha256",
    "read_user_code",
]

MAX_CODE_BYTES = 256 * 1024  # the source rides in every task's JSON (at most 4 MiB with its proofs)
Inputs = Literal["features", "image"]
_HINT = "[model] 'code' must be a Python file defining build_model(spec) -> torch.nn.Module"


class CodeMismatch(ValueError):
    """The shipped source is not the code its declared hash names (changed in transit or in the task)."""


def code_sha256(source: str) -> str:
    """The training-code hash: SHA-256 of the source's UTF-8 bytes, hex."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UserCode:
    """The model file as it travels: its name (for messages), its source text, the declared SHA-256 of
    that text, and what the model takes (`features`: a tabular row; `image`: a 1-channel square page)."""

    filename: str
    source: str = field(repr=False)
    sha256: str
    inputs: Inputs


@dataclass(frozen=True)
class UserModelSpec:
    """What the user's `build_model(spec)` is given."""

    n_classes: int
    n_features: int | None = None  # tabular: the number of (standardized) feature columns
    image_size: int | None = None  # documents: the side of the square greyscale page, in pixels


def read_user_code(path: Path, inputs: Inputs) -> UserCode:
    """Read the model file (ConfigError naming it if it is missing, not UTF-8, too large or not valid
    Python). Only compiled here, never run: it runs when a model is built."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[model] 'code' cannot be read: {exc.strerror or exc}", where=path) from None
    if len(data) > MAX_CODE_BYTES:
        raise ConfigError(
            f"[model] 'code' is {len(data)} bytes, more than the {MAX_CODE_BYTES} a task can carry",
            where=path,
            hint="keep the model file small; it is shipped to the sites inside every task",
        )
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("[model] 'code' is not UTF-8 text", where=path, hint=_HINT) from None
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ConfigError(
            f"[model] 'code' is not valid Python: {exc.msg} (line {exc.lineno})", where=path, hint=_HINT
        ) from None
    return UserCode(path.name, source, code_sha256(source), inputs)


def build_user_model(code: UserCode, input_dim: int, num_classes: int) -> nn.Module:
    """Verify `code.source` against `code.sha256` (CodeMismatch before anything runs), execute it in a
    fresh module and check what its `build_model` returns (ConfigError naming the file)."""
    actual = code_sha256(code.source)
    if actual != code.sha256:
        raise CodeMismatch(
            f"the model code {code.filename!r} does not match its declared hash: declared "
            f"{code.sha256}, received source hashes to {actual}; nothing was run"
        )
    spec = (
        UserModelSpec(num_classes, n_features=input_dim)
        if code.inputs == "features"
        else UserModelSpec(num_classes, image_size=input_dim)
    )
    build = _load(code).__dict__.get("build_model")
    if not callable(build):
        raise ConfigError("[model] 'code' defines no build_model(spec) function", where=code.filename)
    return _checked(build(spec), code, spec)


def _load(code: UserCode) -> object:
    """The verified source executed in a new module object (not put in sys.modules)."""
    name = f"fedward_user_model_{code.sha256[:16]}"
    module_spec = importlib.util.spec_from_loader(name, loader=None, origin=code.filename)
    if module_spec is None:  # pragma: no cover - spec_from_loader returns None only for a bad loader
        raise ConfigError("[model] 'code' cannot be loaded", where=code.filename)
    module = importlib.util.module_from_spec(module_spec)
    module.__file__ = code.filename
    compiled = compile(code.source, code.filename, "exec", dont_inherit=True)
    exec(compiled, module.__dict__)  # the hash was verified (allow-listed at sites)
    return module


def _checked(model: object, code: UserCode, spec: UserModelSpec) -> nn.Module:
    where = code.filename
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"build_model(spec) returned {type(model).__name__}, not a torch.nn.Module",
            where=where,
            hint=_HINT,
        )
    for name, p in model.named_parameters():
        if p.dtype != torch.float32 or p.device.type != "cpu":
            raise ConfigError(
                f"parameter {name!r} is {p.dtype} on {p.device}; want float32 on the CPU", where=where
            )
    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        raise ConfigError(
            f"the model has buffers ({buffers[0]!r}); fedward federates parameters only",
            where=where,
            hint="leave out layers with running statistics such as BatchNorm (use GroupNorm or LayerNorm)",
        )
    if spec.n_features is not None:
        batch = torch.zeros(2, spec.n_features)
    else:
        side = spec.image_size or 0
        batch = torch.zeros(2, 1, side, side)
    was_training = model.training
    model.train(False)  # inference mode for the shape check
    try:
        with torch.no_grad():
            out = model(batch)
    except Exception as exc:
        raise ConfigError(
            f"the model fails on a batch of shape {list(batch.shape)}: {type(exc).__name__}: {exc}",
            where=where,
        ) from None
    finally:
        model.train(was_training)
    shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != [2, spec.n_classes]:
        raise ConfigError(
            f"the model's output for a batch of shape {list(batch.shape)} is {shape}, "
            f"expected [2, {spec.n_classes}] (one score per class)",
            where=where,
        )
    return model
