"""Named parameter sets: how model weights and updates are held, combined and serialized.

A parameter set (`Arrays`) is an insertion-ordered mapping from tensor name to a float32 numpy array.
On the wire it is safetensors bytes (never pickle): the format is a JSON header plus raw little-endian
buffers, so reading it cannot execute code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

__all__ = [
    "Arrays",
    "FloatArray",
    "arrays_equal",
    "arrays_from_bytes",
    "arrays_to_bytes",
    "check_finite",
    "num_parameters",
    "sha256_arrays",
    "subtract",
    "zeros_like",
]

FloatArray = npt.NDArray[np.float32]
Arrays = dict[str, FloatArray]


def arrays_to_bytes(arrays: Mapping[str, npt.NDArray[np.generic]]) -> bytes:
    """Serialize to safetensors bytes; the tensor order in the header is the mapping's order."""
    return bytes(st_save({name: np.ascontiguousarray(a) for name, a in arrays.items()}))


def arrays_from_bytes(data: bytes, *, dtype: type[np.floating] = np.float32, copy: bool = True) -> Arrays:
    """Parse safetensors bytes into arrays of `dtype`.

    With `copy=False` float32 tensors come back as read-only views of the parsed buffers, which saves
    an allocation and a copy per message on the hot path (folding an update into a mean, loading a
    model). safetensors orders tensors in the file deterministically; we keep that order.
    """
    loaded = st_load(data)
    if copy:
        return {name: np.array(a, dtype=dtype, copy=True) for name, a in loaded.items()}
    return {name: np.asarray(a, dtype=dtype) for name, a in loaded.items()}


def sha256_arrays(arrays: Mapping[str, npt.NDArray[np.generic]]) -> str:
    """Hex SHA-256 of the safetensors encoding: the identity of a model in summaries and logs."""
    return hashlib.sha256(arrays_to_bytes(arrays)).hexdigest()


def zeros_like(arrays: Mapping[str, FloatArray]) -> Arrays:
    return {name: np.zeros_like(a) for name, a in arrays.items()}


def subtract(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> Arrays:
    """a - b, tensor by tensor; both must have the same names and shapes."""
    _check_same_layout(a, b)
    return {name: (a[name] - b[name]).astype(np.float32, copy=False) for name in a}


def arrays_equal(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def num_parameters(arrays: Iterable[FloatArray] | Mapping[str, FloatArray]) -> int:
    values = arrays.values() if isinstance(arrays, Mapping) else arrays
    return int(sum(v.size for v in values))


def check_finite(arrays: Mapping[str, FloatArray]) -> None:
    """Raise ValueError naming the first tensor with a NaN or infinity."""
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"tensor {name!r} has non-finite values")


def _check_same_layout(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> None:
    if a.keys() != b.keys():
        raise ValueError(f"parameter names differ: {sorted(set(a) ^ set(b))}")
    for name in a:
        if a[name].shape != b[name].shape:
            raise ValueError(f"tensor {name!r}: shape {a[name].shape} != {b[name].shape}")
