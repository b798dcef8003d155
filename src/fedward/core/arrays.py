"""Named parameter sets: how model weights and updates are held, combined and serialized.

A parameter set (`Arrays`) is an insertion-ordered mapping from tensor name to a float32 numpy array.
On the wire it is safetensors bytes (never pickle): the format is a JSON header plus raw little-endian
buffers, so reading it cannot execute code.

Written by hand here: `_float32_views`, a strict reader that returns read-only numpy views into the
message instead of copies. The safetensors library's numpy API copies every tensor on load, and on the
per-round hot path (a coordinator parsing ten 4 MB replies) those copies were a sixth of the framework's
time. The reader accepts only what the library writes for float32 tensors (checked against the library
in tests/unit/core/test_arrays.py) and raises ValueError on anything else. `tensors_from_bytes` is the same
reader admitting int8 and int32 tensors too: the compressed updates' wire format (core/compress.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

__all__ = [
    "Arrays",
    "FloatArray",
    "add",
    "arrays_from_bytes",
    "arrays_to_bytes",
    "check_finite",
    "flatten",
    "num_parameters",
    "sha256_arrays",
    "subtract",
    "tensors_from_bytes",
    "unflatten",
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
    if not copy and dtype is np.float32:
        return _float32_views(data)
    loaded = st_load(data)
    if copy:
        return {name: np.array(a, dtype=dtype, copy=True) for name, a in loaded.items()}
    return {name: np.asarray(a, dtype=dtype) for name, a in loaded.items()}


_MAX_HEADER = 100 << 20  # the library's own limit


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("safetensors header has duplicate keys")
    return dict(pairs)


# the safetensors dtype names the strict reader knows, with their numpy dtype (little-endian)
_DTYPES: dict[str, np.dtype[Any]] = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4"), "I8": np.dtype("i1")}


def tensors_from_bytes(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """Zero-copy, strict parse of safetensors bytes whose tensors are each F32, I32 or I8 (read-only
    views, native numpy dtypes); ValueError on anything else, as `arrays_from_bytes(copy=False)`."""
    return _views(data, ("F32", "I32", "I8"))


def _float32_views(data: bytes) -> Arrays:
    """Zero-copy parse of safetensors bytes holding only F32 tensors; strict, fails closed."""
    return _views(data, ("F32",))


def _views(data: bytes, dtypes: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    """Zero-copy parse of safetensors bytes holding only tensors of `dtypes`; strict, fails closed."""
    if len(data) < 8:
        raise ValueError("safetensors data shorter than its 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER or 8 + n > len(data):
        raise ValueError("safetensors header length out of range")
    header = json.loads(data[8 : 8 + n], object_pairs_hook=_no_duplicate_keys)
    if not isinstance(header, dict):
        raise ValueError("safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    base, body = 8 + n, len(data) - 8 - n
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"tensor {name!r}: malformed header entry")
        shape, offsets = info["shape"], info["data_offsets"]
        if info["dtype"] not in dtypes:
            raise ValueError(f"tensor {name!r}: dtype {info['dtype']!r}, expected {' or '.join(dtypes)}")
        size = _DTYPES[info["dtype"]].itemsize
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise ValueError(f"tensor {name!r}: malformed shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise ValueError(f"tensor {name!r}: malformed data_offsets")
        begin, end = offsets
        if not 0 <= begin <= end <= body or end - begin != size * math.prod(shape):
            raise ValueError(f"tensor {name!r}: data_offsets do not match its shape or the buffer")
        spans.append((begin, end, name))
    spans.sort()
    cursor = 0
    for begin, end, name in spans:  # tensors must tile the buffer exactly, as the format requires
        if begin != cursor:
            raise ValueError(f"tensor {name!r}: gap or overlap in the data buffer")
        cursor = end
    if cursor != body:
        raise ValueError("safetensors data buffer has trailing bytes")
    out: dict[str, npt.NDArray[Any]] = {}
    for name in sorted(header):
        begin, end = header[name]["data_offsets"]
        dtype = _DTYPES[header[name]["dtype"]]
        view = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=base + begin)
        out[name] = view.reshape(header[name]["shape"]).view(dtype.newbyteorder("="))
    return out


def sha256_arrays(arrays: Mapping[str, npt.NDArray[np.generic]]) -> str:
    """Hex SHA-256 of the safetensors encoding: the identity of a model in summaries and logs."""
    return hashlib.sha256(arrays_to_bytes(arrays)).hexdigest()


def zeros_like(arrays: Mapping[str, FloatArray]) -> Arrays:
    return {name: np.zeros_like(a) for name, a in arrays.items()}


def subtract(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> Arrays:
    """a - b, tensor by tensor; both must have the same names and shapes."""
    _check_same_layout(a, b)
    return {name: (a[name] - b[name]).astype(np.float32, copy=False) for name in a}


def flatten(arrays: Mapping[str, FloatArray]) -> npt.NDArray[np.float64]:
    """One float64 vector of every tensor, in sorted-name order (the order `unflatten` expects)."""
    parts = [np.asarray(arrays[k], dtype=np.float64).reshape(-1) for k in sorted(arrays)]
    return np.concatenate(parts) if parts else np.zeros(0)


def unflatten(vector: npt.NDArray[np.floating], like: Mapping[str, FloatArray]) -> Arrays:
    """Cut a `flatten`ed vector back into float32 tensors named and shaped like `like`."""
    if vector.size != num_parameters(like):
        raise ValueError(f"vector has {vector.size} values, the parameter set {num_parameters(like)}")
    out: Arrays = {}
    start = 0
    for k in sorted(like):
        n = like[k].size
        out[k] = vector[start : start + n].astype(np.float32).reshape(like[k].shape)
        start += n
    return out


def add(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> Arrays:
    """a + b, tensor by tensor; both must have the same names and shapes."""
    _check_same_layout(a, b)
    return {name: (a[name] + b[name]).astype(np.float32, copy=False) for name in a}


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
