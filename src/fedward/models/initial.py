"""The run's initial global model: built from the config seed, or loaded from `[model] init`, a
safetensors file (a base model trained elsewhere, or an earlier release), so that federation starts
from what is already known ("transfer learning from a strong base model before federation begins").

The file is read once, with the project's strict safetensors reader (`fedward.core.arrays`: F32 only,
no pickle, no code), and identified by the SHA-256 of its bytes, which goes into the ledger, every
manifest, the release and the summary. Its tensors must match the configured architecture exactly,
name for name and shape for shape: a mismatch is the user's (`ConfigError`, exit 2), naming the file
and the first tensor that differs, never a silent partial load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fedward.core.arrays import Arrays, arrays_from_bytes
from fedward.errors import ConfigError
from fedward.models.zoo import ModelSpec, build_model, model_arrays

__all__ = ["InitModel", "initial_arrays", "read_init_model"]

_HINT = "[model] 'init' must be a safetensors file of float32 tensors saved from this architecture"


@dataclass(frozen=True)
class InitModel:
    """The bytes of an `init` file, parsed: where it came from, its SHA-256, its tensors (unchecked
    against any architecture until `initial_arrays`)."""

    path: Path
    sha256: str
    arrays: Arrays = field(repr=False, compare=False)


def read_init_model(path: Path) -> InitModel:
    """Read and parse an init file; a missing, unreadable or malformed file raises `ConfigError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[model] 'init' cannot be read: {exc.strerror or exc}", where=path) from None
    try:
        views = arrays_from_bytes(data, copy=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"[model] 'init' is not a valid safetensors file: {exc}", where=path, hint=_HINT
        ) from None
    if not views:
        raise ConfigError("[model] 'init' holds no tensors", where=path, hint=_HINT)
    arrays = {name: np.array(a, dtype=np.float32, copy=True) for name, a in views.items()}
    return InitModel(path, hashlib.sha256(data).hexdigest(), arrays)


def initial_arrays(spec: ModelSpec, seed: int, init: InitModel | None) -> Arrays:
    """The initial global model: `spec` built from `seed`, or `init`'s tensors in the model's order
    after checking every name and shape against `spec` (ConfigError naming the file and tensor)."""
    built = model_arrays(build_model(spec, seed=seed))
    if init is None:
        return built
    mismatch = _first_mismatch(built, init.arrays)
    if mismatch is not None:
        model = f"the configured {spec.name} ({spec.num_classes} classes)"
        raise ConfigError(f"[model] 'init' does not fit {model}: {mismatch}", where=init.path, hint=_HINT)
    return {name: init.arrays[name].copy() for name in built}


def _first_mismatch(expected: Arrays, found: Arrays) -> str | None:
    """The first tensor whose name or shape differs, as 'expected ..., found ...'; None if all match."""
    for name, want in expected.items():
        if name not in found:
            return f"tensor {name!r}: expected shape {list(want.shape)}, found no such tensor"
        if found[name].shape != want.shape:
            return f"tensor {name!r}: expected shape {list(want.shape)}, found {list(found[name].shape)}"
    extra = sorted(set(found) - set(expected))
    if extra:
        return f"tensor {extra[0]!r}: expected no such tensor, found shape {list(found[extra[0]].shape)}"
    return None
